"""How long since each unit's last heartbeat (``POST /adapters/{code}/heartbeat``): what the console's
業務ユニット page shows and ``/metrics`` gives Prometheus, which alerts on a unit gone quiet."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.kit.clock import utcnow
from platform_hub.models import Unit
from platform_hub.units import repository


def heartbeat_age(unit: Unit, now: dt.datetime) -> dt.timedelta | None:
    """How long since the unit's last heartbeat (``None``: it never sent one)."""
    if unit.last_heartbeat_at is None:
        return None
    return max(now - unit.last_heartbeat_at, dt.timedelta(0))


async def heartbeat_ages(session: AsyncSession) -> dict[str, dt.timedelta | None]:
    """Each enabled unit's heartbeat age: a disabled unit is not expected to beat."""
    now = utcnow()
    units = await repository.list_units(session)
    return {unit.code: heartbeat_age(unit, now) for unit in units if unit.enabled}
