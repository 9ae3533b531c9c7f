"""Notifications of concurrent requests committed together: fewer transactions than messages, each
answered after the commit that holds it, a bad member refused alone, a MSGID taken exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from platform_hub.kit.settings import Settings
from platform_hub.protocol.numbers import atena_number
from platform_hub.web.app import create_app
from tests.helpers import (
    HubClient,
    count_rows,
    fault_code,
    header_field,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
)
from tests.units import TestUnit

PERSONS = 10
_TAKES = "tests.takes_messages"


class Commits:
    """Counts the committed transactions that inserted messages (listening on every engine from
    before the hub makes its own: a listener added to a busy engine races its statements)."""

    def __init__(self) -> None:
        self.count = 0

    @contextmanager
    def listening(self) -> Iterator[Commits]:
        event.listen(Engine, "before_cursor_execute", self._before_execute)
        event.listen(Engine, "commit", self._commit)
        try:
            yield self
        finally:
            event.remove(Engine, "before_cursor_execute", self._before_execute)
            event.remove(Engine, "commit", self._commit)

    def _before_execute(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            conn.info[_TAKES] = True

    def _commit(self, conn: Connection) -> None:
        if conn.info.pop(_TAKES, False):
            self.count += 1


class Hub:
    def __init__(self, url: str, client: HubClient, commits: Commits, units: dict[str, TestUnit]) -> None:
        self.url, self.client, self.commits, self.units = url, client, commits, units
        codes = ("001", "002", "011")
        self.people = [{u: atena_number(1000 * n + int(u)) for u in codes} for n in range(PERSONS)]
        for numbers in self.people:
            client.enroll(numbers)
        self.headers = {**client.unit_headers(client.register("001")), "Content-Type": "text/xml"}

    def send_at_once(self, bodies: list[bytes]) -> list[httpx.Response]:
        async def send() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=len(bodies))
            async with httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits) as http:
                return await asyncio.gather(
                    *(http.post("/linkage/messages", content=body, headers=self.headers) for body in bodies)
                )

        return asyncio.run(send())


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    """The hub with 002 and 011 subscribed, one client allowed as many messages at once as the tests send."""
    chosen = settings.model_copy(update={"client_concurrency": 64, "group_commit_wait_ms": 20.0})
    units = {code: TestUnit() for code in ("002", "011")}
    with ExitStack() as stack:  # the units stop last: the hub may still be delivering to them
        unit_urls = {code: stack.enter_context(serve_in_thread(unit.app())) for code, unit in units.items()}
        commits = stack.enter_context(Commits().listening())
        url = stack.enter_context(serve_in_thread(create_app(chosen)))
        client = HubClient(stack.enter_context(httpx.Client(base_url=url, timeout=30)))
        for code, unit_url in unit_urls.items():
            client.register(code, unit_url)
        yield Hub(url, client, commits, units)


def msgids(unit: TestUnit) -> list[str]:
    return [str(unit.header(i, "MSGID")) for i in range(len(unit.received))]


def test_concurrent_notifications_are_committed_in_fewer_transactions(hub: Hub, database_url: str) -> None:
    bodies = [ido_notification(hub.people[n % PERSONS]["001"], msgid=f"g-{n}") for n in range(50)]
    responses = hub.send_at_once(bodies)
    assert [r.status_code for r in responses] == [200] * 50, [r.text[:200] for r in responses]
    assert count_rows(database_url, "messages") == 50
    assert hub.commits.count < 25  # one per message without the group commit
    for unit in hub.units.values():
        wait_until(lambda unit=unit: len(unit.received) == 50, timeout=60)
        assert sorted(msgids(unit)) == sorted(f"g-{n}" for n in range(50))


def test_a_bad_member_gets_its_own_error_and_the_others_go_through(hub: Hub, database_url: str) -> None:
    good = [ido_notification(hub.people[n % PERSONS]["001"], msgid=f"ok-{n}") for n in range(40)]
    unknown = [ido_notification(atena_number(900_000 + n), msgid=f"unknown-{n}") for n in range(3)]
    # The same MSGID with two bodies: the one taken first is accepted, the other is E4002.
    rival = [
        ido_notification(hub.people[0]["001"], msgid="rival"),
        ido_notification(hub.people[1]["001"], msgid="rival"),
    ]
    sent = {
        **{f"ok-{n}": good[n] for n in range(20)},
        **{f"unknown-{n}": body for n, body in enumerate(unknown)},
        "rival-a": rival[0],
        **{f"ok-{n}": good[n] for n in range(20, 40)},
        "rival-b": rival[1],
    }
    by_msgid = dict(zip(sent, hub.send_at_once(list(sent.values())), strict=True))
    for n in range(40):
        assert by_msgid[f"ok-{n}"].status_code == 200, by_msgid[f"ok-{n}"].text[:300]
    for n in range(3):
        assert fault_code(by_msgid[f"unknown-{n}"]) == "E3002"
    assert sorted([by_msgid["rival-a"].status_code, by_msgid["rival-b"].status_code]) == [200, 409]
    assert {fault_code(by_msgid["rival-a"]), fault_code(by_msgid["rival-b"])} == {None, "E4002"}
    # Nothing of a refused message stored; every accepted one delivered to both subscribers.
    assert count_rows(database_url, "messages") == 41
    assert not rows(database_url, "SELECT id FROM messages WHERE msgid LIKE 'unknown-%'")
    accepted = {*(f"ok-{n}" for n in range(40)), "rival"}
    for unit in hub.units.values():
        wait_until(lambda unit=unit: len(unit.received) >= 41, timeout=60)
        assert sorted(msgids(unit)) == sorted(accepted)
    assert hub.commits.count < 41


def test_a_msgid_sent_twice_in_one_group_is_taken_once(hub: Hub, database_url: str) -> None:
    twice = ido_notification(hub.people[0]["001"], msgid="twice")
    others = [ido_notification(hub.people[1 + n % 9]["001"], msgid=f"o-{n}") for n in range(20)]
    responses = hub.send_at_once([*others[:10], twice, *others[10:], twice, twice])
    assert [r.status_code for r in responses] == [200] * 23
    first, *again = responses[10], responses[21], responses[22]
    assert all(r.content == first.content for r in again)  # the first acknowledgement, replayed
    assert header_field(first.content, "RelatesToMSGID") == "twice"
    assert len(rows(database_url, "SELECT id FROM messages WHERE msgid = 'twice'")) == 1
    assert count_rows(database_url, "messages") == 21
    assert len(rows(database_url, "SELECT d.id FROM deliveries d JOIN messages m ON m.id = d.message_id"
                                  " WHERE m.msgid = 'twice'")) == 2  # fmt: skip
    for unit in hub.units.values():
        wait_until(lambda unit=unit: len(unit.received) >= 21, timeout=60)
        assert msgids(unit).count("twice") == 1
    assert hub.commits.count < 21
