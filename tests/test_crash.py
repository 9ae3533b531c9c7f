"""Hub processes under a stream of 住民異動: killed with -9 mid-stream and restarted, or two of them
sharing the work on one database. Every notification that got a 2xx reaches both subscribers exactly
once (after MSGID dedup when a crash forced a redelivery), in order per person, each delivery with
exactly one transfer record entry."""

from __future__ import annotations

import threading
import time

import httpx

from platform_hub.kit.settings import Settings
from platform_hub.protocol.numbers import atena_number
from tests.helpers import (
    HubClient,
    free_port,
    hub_process,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
)
from tests.units import TestUnit

PERSONS, CHANGES = 200, 50  # 10,000 notifications, each person's 50 changes interleaved with the others'
SENDERS = 8  # each sends its own persons' changes, in order
KILL_AFTER = 2_000


def test_kill_9_mid_stream_loses_nothing_accepted(settings: Settings, database_url: str) -> None:
    subscribers = {"002": TestUnit(), "011": TestUnit()}
    people = [
        {code: atena_number(1000 * n + int(code)) for code in ("001", "002", "011")} for n in range(PERSONS)
    ]
    stream = [(f"p{p}-c{c}", people[p]["001"]) for c in range(CHANGES) for p in range(PERSONS)]
    accepted: list[str] = []
    port = free_port()
    with (
        serve_in_thread(subscribers["002"].app()) as url_002,
        serve_in_thread(subscribers["011"].app()) as url_011,
    ):
        with hub_process(settings, port) as first, httpx.Client(base_url=first.url, timeout=30) as http:
            hub = HubClient(http)
            hub.register("002", url_002)
            hub.register("011", url_011)
            juki = hub.register("001")
            for numbers in people:
                hub.enroll(numbers)
            senders = [
                threading.Thread(target=send_all, args=(first.url, juki, stream[k::SENDERS], accepted))
                for k in range(SENDERS)  # PERSONS is a multiple of SENDERS: one person, one sender
            ]
            for sender in senders:
                sender.start()
            wait_until(lambda: len(accepted) >= KILL_AFTER, timeout=300)
            first.process.kill()  # SIGKILL: no shutdown, whatever was in flight is cut off
            first.process.wait()
        with hub_process(settings, port):  # the same database, the same port
            for sender in senders:
                sender.join(timeout=600)
            assert len(accepted) == len(stream)
            for unit in subscribers.values():
                wait_until(lambda unit=unit: set(msgids(unit)) == set(accepted), timeout=900, interval=1)
    for unit in subscribers.values():
        first_seen = list(dict.fromkeys(msgids(unit)))  # what the SDK's dedup on MSGID lets through
        for p in range(PERSONS):
            assert [m for m in first_seen if m.startswith(f"p{p}-")] == [f"p{p}-c{c}" for c in range(CHANGES)]
    delivered = rows(
        database_url,
        "SELECT m.reception_number, d.subscriber_unit FROM deliveries d"
        " JOIN messages m ON m.id = d.message_id WHERE d.status = 'delivered'",
    )
    entries = rows(
        database_url,
        "SELECT reception_number, requesting_unit FROM transfer_records WHERE outcome = 'delivered'",
    )
    assert len(delivered) == 2 * len(stream)
    assert sorted((e.reception_number, e.requesting_unit) for e in entries) == sorted(
        (d.reception_number, d.subscriber_unit) for d in delivered
    )  # one entry per delivery, none without one


def send_all(
    url: str, credentials: dict[str, str], stream: list[tuple[str, str]], accepted: list[str]
) -> None:
    """One sender, in order; a message whose answer was lost in the crash is sent again (same MSGID)."""
    headers: dict[str, str] = {}
    with httpx.Client(base_url=url, timeout=10) as http:
        for msgid, atena in stream:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    headers = headers or {
                        **HubClient(http).unit_headers(credentials),
                        "Content-Type": "text/xml",
                    }
                    message = ido_notification(atena, msgid=msgid)
                    response = http.post("/linkage/messages", content=message, headers=headers)
                except httpx.TransportError:
                    time.sleep(0.1)  # the hub is down or restarting
                    continue
                if response.status_code == 401:  # the token expired in a long stream: a sender renews it
                    headers = {}
                    continue
                if response.status_code == 429:  # over the unit's rate (8 senders at once): back off
                    time.sleep(float(response.headers.get("retry-after", "0.1")))
                    continue
                assert response.status_code == 200, response.text[:300]
                accepted.append(msgid)
                break


def msgids(unit: TestUnit) -> list[str]:
    return [str(unit.header(i, "MSGID")) for i in range(len(unit.received))]


def test_two_hub_processes_share_the_deliveries_without_doubles(settings: Settings) -> None:
    subscribers = {"002": TestUnit(), "011": TestUnit()}
    people = [{code: atena_number(1000 * n + int(code)) for code in ("001", "002", "011")} for n in range(5)]
    stream = [(f"p{p}-c{c}", people[p]["001"]) for c in range(10) for p in range(5)]
    with (
        serve_in_thread(subscribers["002"].app()) as url_002,
        serve_in_thread(subscribers["011"].app()) as url_011,
        hub_process(settings) as first,
        hub_process(settings) as second,
        httpx.Client(base_url=first.url, timeout=30) as http,
    ):
        hub = HubClient(http)
        hub.register("002", url_002)
        hub.register("011", url_011)
        headers = {**hub.unit_headers(hub.register("001")), "Content-Type": "text/xml"}
        for numbers in people:
            hub.enroll(numbers)
        for n, (msgid, atena) in enumerate(stream):  # alternately to each hub
            url = first.url if n % 2 else second.url
            response = httpx.post(
                f"{url}/linkage/messages", content=ido_notification(atena, msgid=msgid), headers=headers
            )
            assert response.status_code == 200, response.text[:300]
        for unit in subscribers.values():
            wait_until(lambda unit=unit: len(unit.received) >= len(stream), timeout=60)
        auditor = hub.staff("auditor")
        wait_until(lambda: verified(http, auditor)["entries"] == 2 * len(stream), timeout=30)
        assert verified(http, auditor)["ok"] is True
    for unit in subscribers.values():
        assert sorted(msgids(unit)) == sorted(m for m, _ in stream)  # each exactly once
        for p in range(5):
            assert [m for m in msgids(unit) if m.startswith(f"p{p}-")] == [f"p{p}-c{c}" for c in range(10)]


def verified(http: httpx.Client, auditor: dict[str, str]) -> dict[str, object]:
    result: dict[str, object] = http.get("/audit/verify", headers=auditor).json()
    return result
