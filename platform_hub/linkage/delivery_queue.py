"""The delivery queue as operators see and steer it: what is in it, and deliveries queued again —
dead letters retried once their subscriber is back, delivered notifications replayed to one that
lost them. Whatever an operator names must exist: a mistyped id is told so, not "0 queued"."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

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
