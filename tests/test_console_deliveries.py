"""The console's 配送 page over HTTP: an operator sees what waits for each subscriber and since when,
the dead letters with their last error (as text), retries one and replays a delivered notification
— each a CSRF-guarded form, the replay only with a reason — and each is in the operations record
under the command line's action with the reason; other roles may not open it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from platform_hub.kit.clock import utcnow
from platform_hub.kit.settings import Settings
from platform_hub.models import Delivery, Message, Unit
from tests.console import form_token, operations, signed_in
from tests.helpers import HubClient, count_rows, rows

HOSTILE_ERROR = "<script>alert(1)</script> HTTP 503 from unit 002"


def seed_queue(database_url: str) -> dict[str, int]:
    """Units 001 and 002 (002 disabled, so that nothing the test queues is delivered meanwhile) and
    notifications from 001 to 002: one delivered, one dead letter, two pending accepted two hours
    ago and one — the deliveries' ids."""
    engine = sa.create_engine(database_url)
    ids: dict[str, int] = {}
    now = utcnow()
    with Session(engine) as session, session.begin():
        for code, enabled in (("001", True), ("002", False)):
            session.add(
                Unit(
                    code=code,
                    name=f"unit {code}",
                    organ="市長",
                    base_url="http://127.0.0.1:9",
                    purposes=[],
                    enabled=enabled,
                )
            )
        session.flush()
        seeds = [
            ("delivered", now - dt.timedelta(hours=3)),
            ("dead", now - dt.timedelta(hours=3)),
            ("pending-old", now - dt.timedelta(hours=2)),
            ("pending", now - dt.timedelta(hours=1)),
        ]
        for n, (name, at) in enumerate(seeds, start=1):
            message = Message(
                reception_number=f"20261201093000{n:06d}ABCDEF",
                source_unit="001",
                msgid=f"msg-{n}",
                interface_id="IF_JUK_0001",
                pattern="notification",
                mode="0",
                purpose_code="JUK-001",
                body_digest="0" * 64,
                request_xml=b"<lk:x/>",
                status="accepted",
                received_at=at,
            )
            session.add(message)
            session.flush()
            status = name.split("-")[0]
            delivery = Delivery(
                message_id=message.id,
                subscriber_unit="002",
                status=status,
                attempts=5 if status == "dead" else 1,
                next_attempt_at=at,
                created_at=at,
                delivered_at=at if status == "delivered" else None,
                last_error=HOSTILE_ERROR if status == "dead" else None,
            )
            session.add(delivery)
            session.flush()
            ids[name] = delivery.id
    engine.dispose()
    return ids


@pytest.fixture
def queue(hub: HubClient, database_url: str) -> dict[str, int]:
    return seed_queue(database_url)


@pytest.fixture
def operator(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[httpx.Client]:
    signed_in(browser_client, settings, monkeypatch, "operator", "unyo")
    yield browser_client


def test_an_operator_sees_the_queue_and_the_dead_letters(
    operator: httpx.Client, queue: dict[str, int], database_url: str
) -> None:
    answer = operator.get("/console/deliveries")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "配送待ち 2件（最も古いもの 2時間" in html
    assert "配送不能 1件" in html
    assert f'id="delivery-{queue["dead"]}"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; HTTP 503 from unit 002" in html
    assert "<script>alert" not in html
    assert f'action="/console/deliveries/{queue["dead"]}/retry"' in html
    assert f'action="/console/deliveries/{queue["delivered"]}/replay"' in html
    assert "配送" in operator.get("/console").text
    assert operations(database_url, "deliveries.list") == [
        ("console:unyo", "operator", "ok", "1 dead letters")
    ]


def test_a_dead_letter_retried_leaves_the_list(
    operator: httpx.Client, queue: dict[str, int], database_url: str
) -> None:
    dead = queue["dead"]
    token = form_token(operator.get("/console/deliveries").text)
    assert operator.post(f"/console/deliveries/{dead}/retry", data={"reason": "x"}).status_code == 403
    assert count_rows(database_url, "deliveries") == 4
    retried = operator.post(
        f"/console/deliveries/{dead}/retry", data={"csrf": token, "reason": "002が復旧した"}
    )
    assert retried.status_code == 303 and retried.headers["location"] == "/console/deliveries?done=retry"
    after = operator.get(retried.headers["location"])
    assert "配送不能の通知を配送待ちに戻しました" in after.text
    assert f'id="delivery-{dead}"' not in after.text and "配送不能 0件" in after.text
    assert "配送待ち 3件" in after.text
    (queued,) = rows(database_url, f"SELECT status, attempts FROM deliveries WHERE id > {queue['pending']}")
    assert (queued.status, queued.attempts) == ("pending", 0)
    again = operator.post(f"/console/deliveries/{dead}/retry", data={"csrf": token})
    assert again.status_code == 409 and "もう一度配送できません" in again.text
    assert count_rows(database_url, "deliveries") == 5
    no_token = "フォームの確認用トークンがありません。ページを開き直してください"
    assert operations(database_url, "deliveries.retry") == [
        ("console:unyo", "operator", "refused", no_token),
        ("console:unyo", "operator", "ok", "1 queued again: 002が復旧した"),
        ("console:unyo", "operator", "refused", f"E1004: delivery {dead} was queued again already"),
    ]
    (parameters,) = rows(
        database_url, "SELECT parameters FROM operations WHERE action = 'deliveries.retry' AND outcome = 'ok'"
    )
    assert parameters.parameters == f'{{"ids": "{dead}", "reason": "002が復旧した"}}'


def test_a_replay_needs_a_reason_and_a_delivered_notification(
    operator: httpx.Client, queue: dict[str, int], database_url: str
) -> None:
    token = form_token(operator.get("/console/deliveries").text)
    delivered = queue["delivered"]
    bare = operator.post(f"/console/deliveries/{delivered}/replay", data={"csrf": token, "reason": "  "})
    assert bare.status_code == 400 and "理由を入れてください" in bare.text
    assert count_rows(database_url, "deliveries") == 4
    dead = operator.post(f"/console/deliveries/{queue['dead']}/replay", data={"csrf": token, "reason": "r"})
    assert dead.status_code == 409 and "is dead, not delivered" in dead.text
    replayed = operator.post(
        f"/console/deliveries/{delivered}/replay", data={"csrf": token, "reason": "002が受信データを失った"}
    )
    assert replayed.status_code == 303
    assert "配送済みの通知をもう一度配送待ちにしました" in operator.get(replayed.headers["location"]).text
    assert count_rows(database_url, "deliveries") == 5
    assert [entry[2:] for entry in operations(database_url, "deliveries.replay")] == [
        ("refused", f"delivery {delivered}: no reason given"),
        ("refused", f"E1003: delivery {queue['dead']} is dead, not delivered"),
        ("ok", "1 queued again: 002が受信データを失った"),
    ]


@pytest.mark.parametrize("role", ["auditor", "mynumber_office"])
def test_other_roles_may_not_open_it(
    hub: HubClient,
    browser_client: httpx.Client,
    queue: dict[str, int],
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
) -> None:
    signed_in(browser_client, settings, monkeypatch, role, "kansa")
    assert 'href="/console/deliveries"' not in browser_client.get("/console").text
    refused = browser_client.get("/console/deliveries")
    assert refused.status_code == 403 and "配送を開く権限がありません" in refused.text
    token = form_token(browser_client.get("/console").text)
    posted = browser_client.post(f"/console/deliveries/{queue['dead']}/retry", data={"csrf": token})
    assert posted.status_code == 403 and count_rows(database_url, "deliveries") == 4
    assert [entry[2] for entry in operations(database_url, "access.refuse")] == ["refused", "refused"]
