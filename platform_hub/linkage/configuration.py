"""The units and the ordinance as the message path sees them: one snapshot per process.

Every message needs its source, its destination or subscribers, and the ordinance's rules; reading
them for each message cost several queries. The snapshot is reloaded when the configuration's
generation moves (``models/generation``), which whatever registers, enables or disables a unit, or loads
an ordinance, bumps in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_hub.models import Unit
from platform_hub.models.generation import Snapshots
from platform_hub.ordinance import service as ordinance
from platform_hub.units import repository as units


@dataclass(frozen=True)
class Configuration:
    """Detached snapshots, shared by every request: read them, never change them or add them to a
    session."""

    units: dict[str, Unit]
    subscribers: dict[str, tuple[Unit, ...]]  # interface id → its subscribing units, by code
    rulebook: ordinance.Rulebook

    def unit(self, code: str) -> Unit | None:
        return self.units.get(code)

    def subscribers_of(self, interface_id: str, mode: str) -> list[Unit]:
        """The units a notification fans out to; test messages go to test units only, and vice versa."""
        return [unit for unit in self.subscribers.get(interface_id, ()) if unit.mode == mode]


async def load(session: AsyncSession) -> Configuration:
    registered = await units.list_units(session)
    subscribers: dict[str, list[Unit]] = {}
    for unit in registered:  # by code already
        for interface_id in unit.interface_ids("subscribes"):
            subscribers.setdefault(interface_id, []).append(unit)
    return Configuration(
        units={unit.code: unit for unit in registered},
        subscribers={interface_id: tuple(found) for interface_id, found in subscribers.items()},
        rulebook=await ordinance.rulebook(session),
    )


def snapshots(sessions: async_sessionmaker[AsyncSession], poll_seconds: float) -> Snapshots[Configuration]:
    return Snapshots(sessions, load, poll_seconds)
