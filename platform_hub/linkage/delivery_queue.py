"""The delivery queue as operators see and steer it: what is in it, and deliveries queued again —
dead letters retried once their subscriber is back, delivered notifications replayed to one that
lost them. Whatever an operator names must exist: a mistyped id is told so, not "0 queued"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.kit.clock import utcnow
from platform_hub.linkage import repository
from platform_hub.models import Delivery, DeliveryStatus
from platform_hub.protocol.errors import UnknownTarget
from platform_hub.units import service as units


async def list_deliveries(
    session: AsyncSession, *, status: DeliveryStatus | None, unit: str | None, limit: int
) -> Sequence[Delivery]:
    """Deliveries newest first, of one subscriber (a registered unit) or all."""
    if unit is not None:
        await units.get_unit(session, unit)
    return await repository.list_deliveries(session, status=status, unit=unit, limit=limit)


@dataclass(frozen=True)
class SubscriberQueue:
    """What waits for one subscriber: how many deliveries, and since when the oldest."""

    unit: str
    pending: int
    oldest_at: datetime

    def oldest_age(self, now: datetime) -> timedelta:
        return max(now - self.oldest_at, timedelta(0))


@dataclass(frozen=True)
class QueueState:
    """The queue as an operator watches it: per subscriber, the dead letters still dead (not retried
    since), and the latest delivered notifications, which may be replayed."""

    subscribers: list[SubscriberQueue]
    dead_letters: Sequence[Delivery]
    dead_count: int
    delivered: Sequence[Delivery]
    at: datetime

    @property
    def pending(self) -> int:
        return sum(queue.pending for queue in self.subscribers)

    @property
    def oldest_age(self) -> timedelta | None:
        return max((queue.oldest_age(self.at) for queue in self.subscribers), default=None)


async def subscriber_queues(session: AsyncSession) -> list[SubscriberQueue]:
    rows = await repository.pending_by_subscriber(session)
    return [SubscriberQueue(unit, count, oldest) for unit, count, oldest in rows]


async def queue_state(session: AsyncSession, *, limit: int) -> QueueState:
    """The pending deliveries per subscriber, up to ``limit`` dead letters and delivered ones."""
    return QueueState(
        subscribers=await subscriber_queues(session),
        dead_letters=await repository.latest_of_status(session, DeliveryStatus.DEAD, limit),
        dead_count=await count_dead_letters(session),
        delivered=await repository.latest_of_status(session, DeliveryStatus.DELIVERED, limit),
        at=utcnow(),
    )


async def count_dead_letters(session: AsyncSession) -> int:
    """The dead letters nobody retried yet (``/metrics``)."""
    return await repository.count_latest_of_status(session, DeliveryStatus.DEAD)


async def enqueue_again(
    session: AsyncSession,
    *,
    statuses: Sequence[DeliveryStatus],
    ids: Sequence[int],
    reception: str | None,
    unit: str | None,
) -> list[Delivery]:
    """A new pending delivery for each chosen one in ``statuses`` (``repository.enqueue_again``); a
    delivery named by its id must be in one of them, a message or a unit named must exist."""
    await _check_named(session, statuses, ids)
    if reception is not None and await repository.message_by_reception(session, reception) is None:
        raise UnknownTarget(f"no message {reception}")
    if unit is not None:
        await units.get_unit(session, unit)
    return await repository.enqueue_again(session, statuses=statuses, ids=ids, reception=reception, unit=unit)


async def _check_named(session: AsyncSession, statuses: Sequence[DeliveryStatus], ids: Sequence[int]) -> None:
    found = await repository.deliveries_by_id(session, ids)
    for delivery_id in ids:
        delivery = found.get(delivery_id)
        if delivery is None:
            raise UnknownTarget(f"no delivery {delivery_id}")
        if delivery.status not in statuses:
            wanted = " or ".join(statuses)
            raise UnknownTarget(f"delivery {delivery_id} is {delivery.status}, not {wanted}")
