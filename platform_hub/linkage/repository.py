"""All queries of the linkage domain: messages (idempotency) and the delivery queue."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from platform_hub.kit.clock import utcnow
from platform_hub.models import Delivery, DeliveryStatus, Message, MessageStatus, Unit
from platform_hub.protocol.specs import Pattern


async def find_message(session: AsyncSession, source_unit: str, msgid: str) -> Message | None:
    query = select(Message).where(Message.source_unit == source_unit, Message.msgid == msgid)
    return (await session.scalars(query)).one_or_none()


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> Message | None:
    return await session.get(Message, message_id)


# The message path's statements, built once: against the tables, not the mapped classes, they skip
# the ORM's per-call work (a new statement, its cache key over every value) and run as plain Core.
_MESSAGES, _DELIVERIES = cast(Table, Message.__table__), cast(Table, Delivery.__table__)
_ADD_MESSAGE = insert(_MESSAGES)
COMPLETE_MESSAGE = (  # the message store runs it on asyncpg too
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message_id"))
    .values(
        status=bindparam("to_status"),
        response_xml=bindparam("answer"),
        response_digest=bindparam("answer_digest"),
        completed_at=bindparam("at"),
    )
)


async def add_message(session: AsyncSession, message: Message) -> None:
    """Insert a new message as one plain statement (no unit-of-work flush); the object stays out of
    the session, so later changes to the row are statements too."""
    await session.execute(
        _ADD_MESSAGE, {column.name: getattr(message, column.name) for column in _MESSAGES.c}
    )


async def complete_message(
    session: AsyncSession,
    message_id: uuid.UUID,
    status: MessageStatus,
    response_xml: bytes | None,
    at: datetime,
) -> None:
    """Store a query's answer (or its failure) without reading the row back first."""
    digest = hashlib.sha256(response_xml).hexdigest() if response_xml is not None else None
    params = {
        "message_id": message_id,
        "to_status": status,
        "answer": response_xml,
        "answer_digest": digest,
        "at": at,
    }
    await session.execute(COMPLETE_MESSAGE, params)


async def drop_old_answers(session: AsyncSession, before: datetime, limit: int) -> int:
    """Forget the full answers of up to ``limit`` queries completed before ``before``, keeping their
    digests: a resent MSGID no longer needs them, and an answer (incomes, households) is personal
    data the hub holds only as long as it must. Oldest first, by the index of answers kept."""
    kept = Message.response_xml.is_not(None) & (Message.pattern == Pattern.QUERY)
    oldest = select(Message.id).where(kept, Message.completed_at < before).order_by(Message.completed_at)
    result = await session.execute(
        update(Message)
        .where(Message.id.in_(oldest.limit(limit).scalar_subquery()))
        .values(response_xml=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def add_deliveries(
    session: AsyncSession, message: Message, subscribers: Sequence[str], ordering_key: str | None
) -> None:
    """A pending delivery of the message to each subscriber, in one statement."""
    if not subscribers:
        return
    await session.execute(
        insert(_DELIVERIES),
        [
            {
                "message_id": message.id,
                "subscriber_unit": code,
                "ordering_key": ordering_key,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": message.received_at,
                "created_at": message.received_at,
            }
            for code in subscribers
        ],
    )


async def claim_due_deliveries(
    session: AsyncSession,
    now: datetime,
    lease_until: datetime,
    limit: int,
    *,
    per_subscriber: int,
    busy: Mapping[str, int],
) -> list[tuple[int, int]]:
    """Lease the due pending deliveries nothing earlier must precede; returns ``(id, attempt)``.

    A subscriber receives the notifications about one person (``ordering_key``) one at a time and in
    the order they were accepted, retries included; different people's go side by side. A delivery
    about several people or none (no key) is a barrier: it waits for everything before it and holds
    everything after it. A subscriber has at most ``per_subscriber`` deliveries under way, counting
    the ``busy`` ones this dispatcher already has: one at its bound is skipped, so a hung subscriber
    holds back only its own. The lease (``next_attempt_at`` pushed to ``lease_until``) makes a
    crashed dispatcher's claim due again later; ``SKIP LOCKED`` keeps hub replicas on PostgreSQL
    from claiming the same row.
    """
    # The oldest pending delivery of each (subscriber, person), and the oldest without a person.
    heads = select(func.min(Delivery.id)).where(Delivery.status == DeliveryStatus.PENDING)
    heads = heads.group_by(Delivery.subscriber_unit, Delivery.ordering_key)
    before = aliased(Delivery)  # a pending delivery accepted earlier for the same subscriber
    earlier = and_(
        before.status == DeliveryStatus.PENDING,
        before.subscriber_unit == Delivery.subscriber_unit,
        before.id < Delivery.id,
    )
    waits = or_(
        exists().where(earlier, before.ordering_key.is_(None)),  # a barrier before it
        and_(Delivery.ordering_key.is_(None), exists().where(earlier)),  # it is a barrier
    )
    place = func.row_number().over(partition_by=Delivery.subscriber_unit, order_by=Delivery.id)
    ready = (
        select(Delivery.id, Delivery.subscriber_unit, place.label("place"))
        .join(Unit, Unit.code == Delivery.subscriber_unit)
        .where(Delivery.id.in_(heads), Delivery.next_attempt_at <= now, Unit.enabled.is_(True), ~waits)
        .subquery()
    )
    under_way = case(dict(busy), value=ready.c.subscriber_unit, else_=0) if busy else literal(0)
    fits = select(ready.c.id).where(ready.c.place + under_way <= per_subscriber)
    # Locked in a query of their own (PostgreSQL locks no rows under a window function), which
    # checks again that the row is due: another replica may have leased it since the ranking.
    locked = aliased(Delivery)
    chosen = (
        select(locked.id)
        .where(locked.id.in_(fits.order_by(ready.c.id).limit(limit)))
        .where(locked.status == DeliveryStatus.PENDING, locked.next_attempt_at <= now)
        .with_for_update(skip_locked=True)
    )
    claimed = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(chosen.scalar_subquery()), Delivery.status == DeliveryStatus.PENDING)
        .values(next_attempt_at=lease_until, attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.attempts)
    )
    return [(row.id, row.attempts) for row in claimed]


async def deliveries_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Delivery]:
    """Deliveries with their messages, in one statement (a dispatcher round's leases)."""
    if not ids:
        return {}
    found = await session.scalars(select(Delivery).where(Delivery.id.in_(list(ids))))
    return {delivery.id: delivery for delivery in found}


def _still_ours(delivery_id: Any, attempt: Any) -> ColumnElement[bool]:
    """The lease token: the row is still pending and nobody has claimed it since our attempt."""
    row = _DELIVERIES.c  # the table's columns: in a statement of their own they keep it plain Core
    return and_(row.id == delivery_id, row.status == DeliveryStatus.PENDING, row.attempts == attempt)


FINISH_DELIVERY = (  # the message store runs it on asyncpg too
    update(_DELIVERIES)
    .where(_still_ours(bindparam("delivery_id"), bindparam("attempt")))
    .values(status=bindparam("to_status"), delivered_at=bindparam("at"), last_error=bindparam("error"))
    .returning(_DELIVERIES.c.id)
)


async def finish_delivery(
    session: AsyncSession, delivery_id: int, attempt: int, status: DeliveryStatus, error: str | None
) -> bool:
    """Mark a leased delivery delivered or refused; ``False`` when the lease was lost meanwhile."""
    at = utcnow() if status == DeliveryStatus.DELIVERED else None
    params = {"delivery_id": delivery_id, "attempt": attempt, "to_status": status, "at": at, "error": error}
    result = await session.execute(FINISH_DELIVERY, params)
    return result.scalar_one_or_none() is not None


async def retry_delivery(
    session: AsyncSession,
    delivery_id: int,
    attempt: int,
    error: str,
    *,
    out_of_attempts: bool,
    accepted_before: datetime,
    next_attempt_at: datetime,
) -> Any | None:
    """Schedule the next attempt, or give up (dead letter) when out of attempts or when the delivery
    was accepted before ``accepted_before`` (too old); ``(subscriber, status, message id, ordering
    key)``, or ``None`` if the lease was lost."""
    too_old = Delivery.created_at < accepted_before
    result = await session.execute(
        update(Delivery)
        .where(_still_ours(delivery_id, attempt))
        .values(
            last_error=error,
            next_attempt_at=next_attempt_at,
            status=case(
                (or_(literal(out_of_attempts), too_old), DeliveryStatus.DEAD.value),
                else_=DeliveryStatus.PENDING.value,
            ),
        )
        .returning(Delivery.subscriber_unit, Delivery.status, Delivery.message_id, Delivery.ordering_key)
    )
    return result.one_or_none()


async def count_pending(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.PENDING)) or 0


# --- what an operator does with the queue ------------------------------------------------------------


async def message_by_reception(session: AsyncSession, reception_number: str) -> Message | None:
    query = select(Message).where(Message.reception_number == reception_number)
    return (await session.scalars(query)).first()


async def list_deliveries(
    session: AsyncSession, *, status: DeliveryStatus | None, unit: str | None, limit: int
) -> Sequence[Delivery]:
    """Deliveries newest first, with their message (reception number, interface)."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Delivery.status == status)
    if unit is not None:
        query = query.where(Delivery.subscriber_unit == unit)
    return (await session.scalars(query)).all()


async def enqueue_again(
    session: AsyncSession,
    *,
    statuses: Sequence[DeliveryStatus],
    ids: Sequence[int],
    reception: str | None,
    unit: str | None,
) -> list[Delivery]:
    """A new pending delivery, with a fresh attempt budget, for each chosen one in ``statuses``; the old
    row stays as it was (its history). Goes to the back of the subscriber's queue."""
    later = aliased(Delivery)  # a delivery of the same message to the same subscriber, queued since
    requeued = exists().where(
        later.message_id == Delivery.message_id,
        later.subscriber_unit == Delivery.subscriber_unit,
        later.id > Delivery.id,
    )
    query = (
        select(Delivery)
        .join(Delivery.message)
        .where(Delivery.status.in_(list(statuses)), ~requeued)  # once: the latest of each, not its history
    )
    if ids:
        query = query.where(Delivery.id.in_(list(ids)))
    if reception is not None:
        query = query.where(Message.reception_number == reception)
    if unit is not None:
        query = query.where(Delivery.subscriber_unit == unit)
    chosen = (await session.scalars(query.order_by(Delivery.id))).all()
    again = [
        Delivery(message_id=d.message_id, subscriber_unit=d.subscriber_unit, ordering_key=d.ordering_key)
        for d in chosen
    ]
    session.add_all(again)
    await session.flush()
    return again


def _requeued_since() -> ColumnElement[bool]:
    """A delivery of the same message to the same subscriber queued after this one: the row is history."""
    later = aliased(Delivery)
    return exists().where(
        later.message_id == Delivery.message_id,
        later.subscriber_unit == Delivery.subscriber_unit,
        later.id > Delivery.id,
    )


async def pending_by_subscriber(session: AsyncSession) -> list[tuple[str, int, datetime]]:
    """``(subscriber, pending deliveries, when the oldest was accepted)`` per subscriber with any
    (the ``ix_deliveries_queue_heads`` index: status, subscriber)."""
    query = (
        select(Delivery.subscriber_unit, func.count(), func.min(Delivery.created_at))
        .where(Delivery.status == DeliveryStatus.PENDING)
        .group_by(Delivery.subscriber_unit)
        .order_by(Delivery.subscriber_unit)
    )
    return [(unit, count, oldest) for unit, count, oldest in await session.execute(query)]


async def latest_of_status(session: AsyncSession, status: DeliveryStatus, limit: int) -> Sequence[Delivery]:
    """Deliveries in ``status`` not queued again since, newest first: the dead letters still dead,
    the delivered notifications that could be replayed."""
    query = (
        select(Delivery)
        .where(Delivery.status == status, ~_requeued_since())
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def count_latest_of_status(session: AsyncSession, status: DeliveryStatus) -> int:
    query = select(func.count()).select_from(Delivery).where(Delivery.status == status, ~_requeued_since())
    return await session.scalar(query) or 0
