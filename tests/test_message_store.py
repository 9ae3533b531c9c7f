"""The message store (``linkage.message_store``) on the database the suite runs on: asyncpg's on
PostgreSQL, SQLAlchemy's elsewhere. A MSGID is claimed once; a query's answer and its record entries
are stored together or not at all; a delivery is finished only under its lease, and recorded if it
happened."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from platform_hub.audit.service import TransferFacts
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import create_engine, create_sessionmaker
from platform_hub.kit.settings import Settings
from platform_hub.linkage.message_store import MessageStore, PostgresStore, SessionStore, open_store
from platform_hub.models import (
    Delivery,
    DeliveryStatus,
    Message,
    MessageStatus,
    TransferOutcome,
    TransferPattern,
)
from platform_hub.protocol.errors import AddresseeUnknown
from platform_hub.protocol.specs import Pattern
from tests.helpers import YAMADA, HubClient, rows

KEY = b"k" * 32


def with_store(settings: Settings, check: Callable[[MessageStore], Awaitable[None]]) -> None:
    async def run() -> None:
        engine = create_engine(settings.async_database_url)
        store = await open_store(settings.async_database_url, create_sessionmaker(engine))
        try:
            await check(store)
        finally:
            await store.close()
            await engine.dispose()

    asyncio.run(run())


def message(msgid: str) -> Message:
    now = utcnow()
    return Message(
        id=uuid.uuid4(),
        reception_number=uuid.uuid4().hex[:26].upper(),
        source_unit="011",
        msgid=msgid,
        interface_id="IF_ZEI_0001",
        pattern=Pattern.QUERY,
        mode="0",
        destination_unit="002",
        purpose_code="JDT-001",
        body_digest="0" * 64,
        request_xml=b"<request/>",
        status=MessageStatus.FORWARDING,
        binding="soap",
        received_at=now,
    )


def facts(of: Message, **changes: Any) -> TransferFacts:
    base = TransferFacts(
        reception_number=of.reception_number,
        msgid=of.msgid,
        interface_id=of.interface_id,
        pattern=TransferPattern.QUERY,
        requesting_unit="011",
        requesting_organ="市長",
        requesting_department=None,
        requesting_user=None,
        providing_unit="002",
        providing_organ="市長",
        purpose_code="JDT-001",
        information_category="地方税関係情報",
        item_names=["総所得金額"],
        requested_at=of.received_at,
        provided_at=utcnow(),
        outcome=TransferOutcome.PROVIDED,
        body_digest=of.body_digest,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def units(hub: HubClient) -> HubClient:
    hub.register("002")
    hub.register("011")
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    return hub


def test_the_store_is_asyncpg_on_postgresql_and_sqlalchemy_elsewhere(settings: Settings) -> None:
    on_postgresql = settings.async_database_url.startswith("postgresql")

    async def check(store: MessageStore) -> None:
        assert isinstance(store, PostgresStore if on_postgresql else SessionStore)

    with_store(settings, check)


def test_a_msgid_is_claimed_once_and_a_number_translated(units: HubClient, settings: Settings) -> None:
    async def check(store: MessageStore) -> None:
        assert await store.claim(message("m-1")) is True
        assert await store.claim(message("m-1")) is False  # another send holds it
        assert await store.claim(message("m-2")) is True
        integrated, number = await store.lookup("011", YAMADA["011"], "002")
        assert number == YAMADA["002"] and integrated
        assert await store.lookup("011", YAMADA["011"], None) == (integrated, None)
        with pytest.raises(AddresseeUnknown):
            await store.lookup("011", "999999999999999", "002")

    with_store(settings, check)
    assert len(rows(settings.database_url, "SELECT id FROM messages WHERE msgid = 'm-1'")) == 1


def test_an_answer_and_its_entries_are_stored_together_or_not_at_all(
    units: HubClient, settings: Settings
) -> None:
    asked, failed = message("m-answered"), message("m-unrecorded")

    async def check(store: MessageStore) -> None:
        for claimed in (asked, failed):
            assert await store.claim(claimed)
        subjects = ["000000000000001", "000000000000002"]  # a household: an entry each
        await store.finish_query(
            asked.id, MessageStatus.ANSWERED, b"<answer/>", utcnow(), facts(asked), subjects, record_key=KEY
        )
        unrecordable = facts(failed, requesting_unit=None)  # an entry the database refuses
        with pytest.raises((sa.exc.DBAPIError, asyncpg.PostgresError)):
            await store.finish_query(
                failed.id, MessageStatus.ANSWERED, b"<a/>", utcnow(), unrecordable, [None], record_key=KEY
            )

    with_store(settings, check)
    statuses = dict(rows(settings.database_url, "SELECT msgid, status FROM messages"))
    assert statuses == {"m-answered": "answered", "m-unrecorded": "forwarding"}
    entries = rows(settings.database_url, "SELECT msgid, subject_integrated_number FROM transfer_records")
    assert sorted(entries) == [("m-answered", "000000000000001"), ("m-answered", "000000000000002")]


def test_a_delivery_is_finished_under_its_lease_and_recorded_if_it_happened(
    units: HubClient, settings: Settings
) -> None:
    sent = message("m-notified")
    delivered = facts(sent, outcome=TransferOutcome.DELIVERED, pattern=TransferPattern.NOTIFICATION)
    refused = facts(sent, outcome=TransferOutcome.REFUSED, pattern=TransferPattern.NOTIFICATION)

    async def check(store: MessageStore) -> None:
        assert await store.claim(sent)
        leased = add_delivery(settings, sent, attempts=1)
        finish = functools.partial(store.finish_delivery, leased, 1, record_key=KEY)
        assert await finish(DeliveryStatus.DELIVERED, None, delivered, ["s-1"], record_if_lost=True)
        # The lease is spent: a refusal of it is not recorded, a delivery that happened is.
        assert not await finish(DeliveryStatus.REFUSED, "no", refused, ["s-2"], record_if_lost=False)
        assert not await finish(DeliveryStatus.DELIVERED, None, delivered, ["s-3"], record_if_lost=True)

    with_store(settings, check)
    entries = rows(settings.database_url, "SELECT subject_integrated_number, outcome FROM transfer_records")
    assert sorted(entries) == [("s-1", "delivered"), ("s-3", "delivered")]
    assert rows(settings.database_url, "SELECT status FROM deliveries") == [("delivered",)]


def add_delivery(settings: Settings, of: Message, *, attempts: int) -> int:
    engine = sa.create_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            table = Delivery.__table__
            row = {
                "message_id": of.id,
                "subscriber_unit": "002",
                "ordering_key": None,
                "status": DeliveryStatus.PENDING,
                "attempts": attempts,
                "next_attempt_at": utcnow(),
                "created_at": utcnow(),
            }
            return int(connection.execute(sa.insert(table).values(row).returning(table.c.id)).scalar_one())
    finally:
        engine.dispose()
