"""All queries of the linkage domain: messages (idempotency) and the delivery queue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import Delivery, Message, Unit


async def find_message(session: AsyncSession, source_unit: str, msgid: str) -> Message | None:
    query = select(Message).where(Message.source_unit == source_unit, Message.msgid == msgid)
    return (await session.scalars(query)).one_or_none()


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> Message | None:
    return await session.get(Message, message_id)


async def claim_due_deliveries(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> Sequence[int]:
    """Lease the oldest pending delivery of each subscriber that is due, and return their ids.

    Only the head of each subscriber's queue is eligible, so a subscriber receives its
    notifications one at a time and in the order they were accepted, retries included. The lease
    (``next_attempt_at`` pushed to ``lease_until``) makes a crashed dispatcher's claim due again
    later; ``SKIP LOCKED`` keeps hub replicas on PostgreSQL from claiming the same row.
    """
    heads = (
        select(func.min(Delivery.id)).where(Delivery.status == "pending").group_by(Delivery.subscriber_unit)
    )
    due = (
        select(Delivery.id)
        .join(Unit, Unit.code == Delivery.subscriber_unit)
        .where(Delivery.id.in_(heads), Delivery.next_attempt_at <= now, Unit.enabled.is_(True))
        .order_by(Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)
    )
    claimed = await session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()), Delivery.status == "pending")
        .values(next_attempt_at=lease_until, attempts=Delivery.attempts + 1)
        .returning(Delivery.id)
    )
    return claimed.all()


async def get_deliveries(session: AsyncSession, ids: Sequence[int]) -> Sequence[Delivery]:
    return (await session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id))).all()


async def count_pending(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).where(Delivery.status == "pending")) or 0
