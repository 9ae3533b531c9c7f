"""Per-client rate limits: a unit over its limit gets 429 with Retry-After; the others go on."""

from __future__ import annotations

import httpx
import pytest

from platform_hub.kit.settings import Settings
from platform_hub.web.app import create_app
from tests.helpers import (
    YAMADA,
    HubClient,
    count_rows,
    fault_code,
    ido_notification,
    serve_in_thread,
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


# The Redis client keeps its connection for the life of the process; the test's servers stop first.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
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
        for n in range(3):
            answer = httpx.post(f"{third}/linkage/messages", content=zei_query(msgid=f"u{n}"), headers=jidou)
            assert answer.status_code == 200
