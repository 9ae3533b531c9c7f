"""Per-client rate limits: a unit over its limit gets 429 with Retry-After; the others go on."""

from __future__ import annotations

import gc
import itertools
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from platform_hub.kit.settings import Settings
from platform_hub.protocol.numbers import atena_number
from platform_hub.web.app import create_app
from tests.helpers import (
    YAMADA,
    HubClient,
    count_rows,
    fault_code,
    hub_process,
    ido_notification,
    serve_in_thread,
    wait_until,
    zei_query,
)
from tests.units import TestUnit, zei_answer


def test_a_unit_over_its_limit_is_told_when_to_come_back(settings: Settings, database_url: str) -> None:
    limited = settings.model_copy(update={"unit_rate_limit": "3/minute"})
    unit = TestUnit(answer=zei_answer)
    with (
        serve_in_thread(unit.app()) as zeimu_url,
        serve_in_thread(create_app(settings)) as setup_url,  # the integrator's calls count too
        serve_in_thread(create_app(limited)) as url,
        httpx.Client(base_url=setup_url, timeout=30) as setup_http,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        setup, hub = HubClient(setup_http), HubClient(http)
        setup.register("002", zeimu_url)
        jidou = setup.unit_headers(setup.register("011"))
        juki = setup.unit_headers(setup.register("001"))
        setup.enroll({"011": YAMADA["011"], "002": YAMADA["002"], "001": YAMADA["001"]})
        for n in range(3):
            assert hub.send(zei_query(msgid=f"q{n}"), jidou).status_code == 200
        over = hub.send(zei_query(msgid="q3"), jidou)
        assert over.status_code == 429 and fault_code(over) == "E2003"
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        # Another unit is not starved by the first one's burst.
        assert hub.send(ido_notification(msgid="ido-1"), juki).status_code == 200
    assert [unit.header(n, "MSGID") for n in range(3)] == ["q0", "q1", "q2"]  # not the refused one
    assert count_rows(database_url, "messages") == 4  # nothing of the refused one was kept


def test_replicas_share_one_limit_through_redis_and_let_messages_through_without_it(
    settings: Settings,
) -> None:
    """Two hubs counting in one Redis: a unit's quota is one, whichever replica it reaches. A hub
    whose Redis is away lets messages through rather than refuse the city's work."""
    shared = settings.model_copy(
        update={"unit_rate_limit": "2/minute", "rate_limit_storage": "redis://127.0.0.1:6379"}
    )
    unreachable = settings.model_copy(
        update={"unit_rate_limit": "1/minute", "rate_limit_storage": "redis://127.0.0.1:1"}
    )
    unit = TestUnit(answer=zei_answer)
    with (
        serve_in_thread(unit.app()) as unit_url,
        serve_in_thread(create_app(settings)) as setup,  # the integrator's calls count too
        serve_in_thread(create_app(shared)) as first,
        serve_in_thread(create_app(shared)) as second,
        serve_in_thread(create_app(unreachable)) as third,
        httpx.Client(base_url=setup, timeout=30) as http,
    ):
        hub = HubClient(http)
        hub.register("002", unit_url)
        jidou = {**hub.unit_headers(hub.register("011")), "Content-Type": "text/xml"}
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        codes = [
            httpx.post(f"{url}/linkage/messages", content=zei_query(msgid=f"r{n}"), headers=jidou).status_code
            for n, url in enumerate((first, second, second))
        ]
        assert codes == [200, 200, 429]
        for n in range(3):  # the first finds Redis away (its client's own retries: seconds under load)
            answer = httpx.post(
                f"{third}/linkage/messages", content=zei_query(msgid=f"u{n}"), headers=jidou, timeout=30
            )
            assert answer.status_code == 200
    # A hub that stops closes its connections to Redis: one left open is a ResourceWarning when its
    # loop is collected (before, in whichever test ran next).
    gc.collect()


FLOODERS = 48  # connections of the flooding unit, each sending as fast as the hub answers


def test_a_flooding_unit_does_not_slow_the_others_queries(settings: Settings) -> None:
    """001 sends 住民異動 on many connections at once, within its rate limit; 011's queries still answer
    about as fast as on an idle hub (before, each waited behind every message of the flood), and 001
    is never answered a 5xx. The hub is a process of its own: the flood's threads are not its load."""
    provider = TestUnit(answer=zei_answer)
    with (
        serve_in_thread(provider.app()) as zeimu_url,
        hub_process(settings) as running,
        httpx.Client(base_url=running.url, timeout=30) as http,
    ):
        hub = HubClient(http)
        hub.register("002", zeimu_url, subscribes=[])  # the flood is intake only: nothing to deliver
        jidou = {**hub.unit_headers(hub.register("011", subscribes=[])), "Content-Type": "text/xml"}
        juki = {**hub.unit_headers(hub.register("001")), "Content-Type": "text/xml"}
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        people = [atena_number(60_000 + n) for n in range(FLOODERS)]  # one each: no waiting on a row lock
        for n, atena in enumerate(people):
            hub.enroll({"001": atena}, birth_date=f"19{50 + n}-01-01")

        def query_seconds(label: str) -> float:
            """How long 011 waits for an answer (the median of ten)."""
            took = []
            for n in range(10):
                started = time.perf_counter()
                message = zei_query(msgid=f"{label}-{n}")
                answer = http.post("/linkage/messages", content=message, headers=jidou)
                assert answer.status_code == 200, answer.text[:300]
                took.append(time.perf_counter() - started)
            return statistics.median(took)

        alone = query_seconds("alone")
        stop, answers = threading.Event(), list[str]()

        def flood(atena: str) -> None:
            deadline = time.monotonic() + 60
            with httpx.Client(base_url=running.url, timeout=30) as own:
                for n in itertools.count():
                    if stop.is_set() or time.monotonic() > deadline:
                        return
                    message = ido_notification(atena, msgid=f"{atena}-{n}")
                    response = own.post("/linkage/messages", content=message, headers=juki)
                    code = fault_code(response) if response.status_code == 429 else None
                    answers.append(f"{response.status_code} {code}" if code else str(response.status_code))

        flooders = [threading.Thread(target=flood, args=(atena,)) for atena in people]
        for flooder in flooders:
            flooder.start()
        try:
            time.sleep(1)  # the flood under way
            flooded = query_seconds("flooded")
        finally:
            stop.set()
            for flooder in flooders:
                flooder.join(timeout=60)
    print(
        f"011 alone {alone * 1000:.0f} ms, beside the flood {flooded * 1000:.0f} ms; 001 {Counter(answers)}"
    )
    assert set(answers) <= {"200", "429 E2003"}
    assert answers.count("200") > 100  # a flood indeed
    assert flooded < 4 * alone + 0.3  # before: 0.6 to 1 s, 20 to 50 times as long as alone


def test_a_unit_over_its_messages_under_way_is_told_to_come_back(
    settings: Settings, database_url: str
) -> None:
    """011 may have two messages under way at the hub: a third, while its provider is slow to answer
    the first two, is refused E2003 after a short wait; 001 goes on as if nothing happened."""
    bounded = settings.model_copy(
        update={"client_concurrency": 2, "client_wait_seconds": 0.3, "query_timeout_seconds": 10.0}
    )
    slow = TestUnit(answer=zei_answer, delay=4)
    with (
        serve_in_thread(slow.app()) as zeimu_url,
        serve_in_thread(create_app(bounded)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        hub = HubClient(http)
        hub.register("002", zeimu_url, subscribes=[])
        jidou = hub.unit_headers(hub.register("011"))
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"], "001": YAMADA["001"]})
        with ThreadPoolExecutor(2) as pool:
            under_way = [pool.submit(hub.send, zei_query(msgid=f"slow-{n}"), jidou) for n in range(2)]
            wait_until(lambda: len(slow.received) == 2)
            over = hub.send(zei_query(msgid="one-too-many"), jidou)
            assert not any(answer.done() for answer in under_way)  # refused while those are under way
            assert over.status_code == 429 and fault_code(over) == "E2003"
            assert over.headers["Retry-After"] == "1"
            assert hub.send(ido_notification(msgid="ido-1"), juki).status_code == 200  # another client
            assert [answer.result().status_code for answer in under_way] == [200, 200]
        assert hub.send(zei_query(msgid="later"), jidou).status_code == 200  # its slots are back
    assert count_rows(database_url, "messages") == 4  # nothing of the refused one was kept
