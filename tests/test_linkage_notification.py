"""通知 and 一括: accepted durably, fanned out to every subscriber, recorded per delivery."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.settings import Settings
from platform_hub.protocol.numbers import atena_number
from platform_hub.web.app import create_app
from tests.helpers import (
    YAMADA,
    HubClient,
    count_rows,
    fault_code,
    free_port,
    header_field,
    ido_notification,
    rows,
    serve_in_thread,
    soap_message,
    wait_until,
)
from tests.tcp_proxy import proxy
from tests.units import TestUnit


def delivered(database_url: str) -> int:
    return len(rows(database_url, "SELECT id FROM deliveries WHERE status = 'delivered'"))


def first_dead(database_url: str) -> bool:
    return rows(database_url, "SELECT status FROM deliveries ORDER BY id")[0].status == "dead"


def test_notification_reaches_every_subscriber_once(
    hub: HubClient, subscribers: dict[str, TestUnit], database_url: str
) -> None:
    juki = hub.unit_headers(hub.register("001"))
    response = hub.send(ido_notification(msgid="ido-1"), juki)
    assert response.status_code == 200, response.text
    assert header_field(response.content, "MSGTypeID") == "IF_JUK_0001_S01"
    assert header_field(response.content, "RelatesToMSGID") == "ido-1"
    reception_number = header_field(response.content, "ReceptionNumber")
    wait_until(lambda: delivered(database_url) == 3)
    for code, unit in subscribers.items():
        # Delivery is at least once: a redelivery after a timeout carries the same MSGID.
        assert len({unit.header(i, "MSGID") for i in range(len(unit.received))}) == 1
        assert unit.header(0, "ReceptionNumber") == reception_number
        assert unit.header(0, "DestinationSystemID") == code
    records = rows(
        database_url,
        "SELECT requesting_unit, requesting_organ, providing_unit, outcome, "
        "information_category FROM transfer_records ORDER BY requesting_unit",
    )
    assert [tuple(r) for r in records] == [
        ("002", "市長", "001", "delivered", "住民票関係情報"),
        ("011", "市長", "001", "delivered", "住民票関係情報"),
        ("051", "教育委員会", "001", "delivered", "住民票関係情報"),
    ]


def test_resent_notification_is_not_delivered_twice(
    hub: HubClient, subscribers: dict[str, TestUnit], database_url: str
) -> None:
    juki = hub.unit_headers(hub.register("001"))
    first = hub.send(ido_notification(msgid="ido-1"), juki)
    again = hub.send(ido_notification(msgid="ido-1"), juki)
    assert again.content == first.content
    wait_until(lambda: delivered(database_url) == 3)
    assert count_rows(database_url, "deliveries") == 3
    conflict = hub.send(ido_notification(msgid="ido-1", atena="000000000000027"), juki)
    assert fault_code(conflict) == "E4002"


def test_subscriber_that_fails_gets_retried_in_order(hub: HubClient, database_url: str) -> None:
    flaky = TestUnit(status_code=503)
    with serve_in_thread(flaky.app()) as url:
        hub.register("002", url)
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
        for n in range(3):
            assert hub.send(ido_notification(msgid=f"ido-{n}"), juki).status_code == 200
        wait_until(lambda: len(flaky.received) >= 2)  # the head of the queue is being retried
        assert {m.findtext(".//{urn:platform-hub:linkage:1}MSGID") for m in flaky.received} == {"ido-0"}
        assert count_rows(database_url, "transfer_records") == 0  # nothing recorded as delivered
        flaky.status_code = 200
        wait_until(lambda: delivered(database_url) == 3)
    order = [m.findtext(".//{urn:platform-hub:linkage:1}MSGID") for m in flaky.received]
    assert order[-3:] == ["ido-0", "ido-1", "ido-2"]
    assert count_rows(database_url, "transfer_records") == 3


def test_subscriber_down_past_the_limit_goes_dead(hub: HubClient, database_url: str) -> None:
    hub.register("002", "http://127.0.0.1:9")
    juki = hub.unit_headers(hub.register("001"))
    hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
    hub.send(ido_notification(), juki)
    wait_until(lambda: first_dead(database_url), timeout=20)
    (dead,) = rows(database_url, "SELECT attempts, last_error FROM deliveries")
    assert dead.attempts == 5
    assert "could not be reached" in dead.last_error
    # The transfer that never happened is recorded as failed: a dead letter leaves no gap in the record.
    (entry,) = rows(database_url, "SELECT outcome, refusal_reason, item_names FROM transfer_records")
    assert entry.outcome == "failed" and entry.refusal_reason.startswith("dead letter after 5 attempts")


def test_disabled_subscriber_waits(hub: HubClient, database_url: str) -> None:
    unit = TestUnit()
    with serve_in_thread(unit.app()) as url:
        hub.register("002", url)
        hub.http.post("/adapters/002/disable", headers=hub.admin())
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
        hub.send(ido_notification(), juki)
        hub.send(ido_notification(), juki)
        with pytest.raises(AssertionError):
            wait_until(lambda: bool(unit.received), timeout=0.5)
        hub.http.post("/adapters/002/enable", headers=hub.admin())
        wait_until(lambda: delivered(database_url) == 2)


def test_test_notifications_reach_only_test_units(hub: HubClient, database_url: str) -> None:
    production, test = TestUnit(), TestUnit()
    with serve_in_thread(production.app()) as production_url, serve_in_thread(test.app()) as test_url:
        hub.register("002", production_url)
        hub.register("011", test_url, mode="test")
        juki = hub.unit_headers(hub.register("001", mode="test"))
        hub.enroll(YAMADA)
        hub.send(ido_notification(mode="1"), juki)
        wait_until(lambda: delivered(database_url) == 1)
    assert len(test.received) == 1 and not production.received


def test_batch_is_acknowledged_with_counts_and_delivered(hub: HubClient, database_url: str) -> None:
    jidou = TestUnit()
    records = "".join(
        f"<lk:Shotoku><lk:RecordNo>{n}</lk:RecordNo><lk:AtenaNo>{atena_number(2000 + n)}</lk:AtenaNo>"
        "<lk:KazeiKubunCode>1</lk:KazeiKubunCode><lk:SoshotokuKingaku>3000000</lk:SoshotokuKingaku>"
        "<lk:ShotokuwariGaku>150000</lk:ShotokuwariGaku><lk:FuyoNinzu>1</lk:FuyoNinzu></lk:Shotoku>"
        for n in range(1, 4)
    )
    payload = (
        "<lk:KazeiNendo>2026</lk:KazeiNendo><lk:ShoriKubun>1</lk:ShoriKubun>"
        f"<lk:SakuseiDate>2026-06-01</lk:SakuseiDate>{records}"
    )
    with serve_in_thread(jidou.app()) as url:
        hub.register("011", url)
        zeimu = hub.unit_headers(hub.register("002"))
        for n in range(1, 4):
            hub.enroll({"002": atena_number(2000 + n), "011": atena_number(1100 + n)}, name=f"納税者{n}")
        response = hub.send(soap_message("IF_ZEI_0101", "002", payload, destination="011"), zeimu)
        assert response.status_code == 200, response.text
        assert b"<lk:UketsukeKensu>3</lk:UketsukeKensu>" in response.content
        wait_until(lambda: delivered(database_url) == 1)
    # One record entry per person in the batch, each delivered in 011's own numbering.
    assert count_rows(database_url, "transfer_records") == 3
    numbers = [e.text for e in jidou.received[0].iter("{urn:platform-hub:linkage:1}AtenaNo")]
    assert numbers == [atena_number(1100 + n) for n in range(1, 4)]


def test_notification_needs_the_provider_scope(hub: HubClient) -> None:
    hub.register("002")
    jidou = hub.unit_headers(hub.register("011"))
    forged = ido_notification().replace(b"<lk:SourceSystemID>001", b"<lk:SourceSystemID>011")
    assert fault_code(hub.send(forged, jidou)) == "E2002"


def test_an_operator_retries_dead_letters_and_replays_delivered_ones(
    hub: HubClient, database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens there yet: the subscriber is down past the limit
    hub.register("002", f"http://127.0.0.1:{port}")
    juki = hub.unit_headers(hub.register("001"))
    hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
    hub.send(ido_notification(msgid="lost-1"), juki)
    wait_until(lambda: first_dead(database_url), timeout=20)
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(settings.key_file))  # the operations record's MAC
    monkeypatch.setenv("COLUMNS", "200")  # the table whole
    runner = CliRunner()
    listed = runner.invoke(app, ["deliveries", "list", "--status", "dead"])
    assert listed.exit_code == 0 and "IF_JUK_0001" in listed.output and "dead" in listed.output
    assert runner.invoke(app, ["deliveries", "retry"]).exit_code == 2  # nothing named, nothing done
    unit = TestUnit()
    with serve_in_thread(unit.app(), port=port):  # back up
        retried = runner.invoke(app, ["deliveries", "retry", "--unit", "002"])
        assert retried.exit_code == 0 and "1 dead deliveries back in the queue" in retried.output
        again = runner.invoke(app, ["deliveries", "retry", "--unit", "002"])  # already back in the queue
        assert "0 dead deliveries back in the queue" in again.output
        wait_until(lambda: delivered(database_url) == 1)
        replayed = runner.invoke(app, ["deliveries", "replay", "--unit", "002"])
        assert "1 deliveries queued again" in replayed.output
        wait_until(lambda: delivered(database_url) == 2)
    assert [unit.header(i, "MSGID") for i in range(2)] == ["lost-1", "lost-1"]
    # each delivery is a transfer, recorded; so is the dead letter before them
    outcomes = [r.outcome for r in rows(database_url, "SELECT outcome FROM transfer_records ORDER BY id")]
    assert outcomes == ["failed", "delivered", "delivered"]
    operations = rows(
        database_url, "SELECT action, client_id FROM operations WHERE action LIKE 'deliveries.%'"
    )
    assert [r.action for r in operations] == ["deliveries.retry", "deliveries.retry", "deliveries.replay"]


@dataclass
class RefusingOne(TestUnit):
    """A subscriber that cannot take anything about one person (its 宛名番号 ``refused``) for now."""

    refused: str = ""

    async def handle(self, request: Request) -> Response:
        if self.refused and f"<lk:AtenaNo>{self.refused}</lk:AtenaNo>".encode() in await request.body():
            return Response("busy with this person", status_code=503)
        return await super().handle(request)


def test_a_failing_delivery_holds_back_only_that_persons_notifications(
    hub: HubClient, database_url: str
) -> None:
    unit = RefusingOne(refused=YAMADA["002"])
    other = {"001": atena_number(7001), "002": atena_number(7002)}
    with serve_in_thread(unit.app()) as url:
        hub.register("002", url)
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
        hub.enroll(other, birth_date="1990-01-01")
        sequence = [("y1", YAMADA["001"]), ("o1", other["001"]), ("y2", YAMADA["001"]), ("o2", other["001"])]
        for msgid, atena in sequence:
            assert hub.send(ido_notification(atena, msgid=msgid), juki).status_code == 200
        wait_until(lambda: [unit.header(i, "MSGID") for i in range(len(unit.received))] == ["o1", "o2"])
        unit.refused = ""  # 山田's deliveries get through now, still in their order
        wait_until(lambda: len(unit.received) == 4)
    assert [unit.header(i, "MSGID") for i in range(4)] == ["o1", "o2", "y1", "y2"]


def test_a_delivery_failing_past_its_age_limit_goes_dead(settings: Settings, database_url: str) -> None:
    patient = settings.model_copy(update={"delivery_max_attempts": 1000, "delivery_max_age_seconds": 1.0})
    with serve_in_thread(create_app(patient)) as url, httpx.Client(base_url=url, timeout=30) as http:
        hub = HubClient(http)
        hub.register("002")  # nothing listens at its address
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
        hub.send(ido_notification(), juki)
        wait_until(lambda: first_dead(database_url), timeout=20)
    (dead,) = rows(database_url, "SELECT attempts FROM deliveries")
    assert 1 < dead.attempts < 1000  # given up for its age, not its attempts


def test_a_hung_subscriber_holds_back_only_its_own_deliveries(settings: Settings, database_url: str) -> None:
    """011 takes the connections and never answers (a hung process) while 002 is well: 002 gets every
    notification at once, 011 holds no more than its bound of them; released, 011 gets them all, in
    order per person."""
    patient = settings.model_copy(
        update={"delivery_timeout_seconds": 15.0, "delivery_concurrency_per_unit": 3}
    )
    healthy, hung = TestUnit(), TestUnit()
    people = [
        {code: atena_number(80_000 + 100 * n + int(code)) for code in ("001", "002", "011")} for n in range(6)
    ]
    stream = [(f"p{p}-c{c}", people[p]["001"]) for c in range(2) for p in range(len(people))]
    with (
        serve_in_thread(healthy.app()) as healthy_url,
        serve_in_thread(hung.app()) as hung_url,
        proxy(("127.0.0.1", int(hung_url.rsplit(":", 1)[1]))) as hang,
        serve_in_thread(create_app(patient)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        hub = HubClient(http)
        hub.register("002", healthy_url)
        hub.register("011", f"http://127.0.0.1:{hang.port}")
        juki = hub.unit_headers(hub.register("001"))
        for n, numbers in enumerate(people):
            hub.enroll(numbers, birth_date=f"19{60 + n}-01-01")
        hang.hold()
        for msgid, atena in stream:
            assert hub.send(ido_notification(atena, msgid=msgid), juki).status_code == 200
        # Well inside 011's delivery timeout: before, each round of deliveries waited for 011's.
        wait_until(lambda: len(healthy.received) == len(stream), timeout=6)
        assert hang.held == 3  # one per person at the head of 011's queue, up to its bound
        hang.release()
        wait_until(lambda: len(hung.received) == len(stream), timeout=30)
        wait_until(lambda: delivered(database_url) == 2 * len(stream))
    for unit in (healthy, hung):
        received = [unit.header(i, "MSGID") for i in range(len(unit.received))]
        assert sorted(received) == sorted(msgid for msgid, _ in stream)  # each once
        for p in range(len(people)):
            assert [m for m in received if m and m.startswith(f"p{p}-")] == [f"p{p}-c0", f"p{p}-c1"]


def test_a_hub_stopping_mid_delivery_leaves_it_to_the_next_one(settings: Settings, database_url: str) -> None:
    """Stopped while its deliveries hang, the hub stops at once (they are cancelled, not waited for);
    the next hub makes them when their lease runs out, each delivered and recorded once."""
    five_seconds = settings.model_copy(update={"delivery_timeout_seconds": 5.0})  # a lease of 15 s
    unit = TestUnit()
    with (
        serve_in_thread(unit.app()) as unit_url,
        proxy(("127.0.0.1", int(unit_url.rsplit(":", 1)[1]))) as hang,
    ):
        with serve_in_thread(create_app(five_seconds)) as url, httpx.Client(base_url=url, timeout=30) as http:
            hub = HubClient(http)
            hub.register("002", f"http://127.0.0.1:{hang.port}")
            juki = hub.unit_headers(hub.register("001"))
            hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
            hang.hold()
            assert hub.send(ido_notification(msgid="ido-1"), juki).status_code == 200
            wait_until(lambda: hang.held == 1)
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 3  # sooner than the delivery's own timeout
        assert count_rows(database_url, "transfer_records") == 0
        hang.release()
        with serve_in_thread(create_app(five_seconds)):
            wait_until(lambda: delivered(database_url) == 1, timeout=30)
    assert [unit.header(i, "MSGID") for i in range(len(unit.received))][-1] == "ido-1"
    assert count_rows(database_url, "transfer_records") == 1
