"""The transfer record's monthly partitions on PostgreSQL (migration 0010): made ahead of time, and
listed for retention, which drops a whole expired month instead of deleting its rows.

A month is the city's (``PLATFORM_HUB_TIME_ZONE``): retention removes whole months of the city's
calendar (``audit purge --before YYYY-MM-01``, the city's midnight), so a partition's bounds are the
city's midnights of the first of two months, and a purge's cut falls on a partition's edge. Partitions
are named by that month: ``transfer_records_2026_12`` and ``transfer_chain_2026_12``. A default
partition of each table takes anything outside the months made (an entry dated far off, or a month
not yet made): an insert never fails for want of a partition; a month made later takes its rows
over from the default. SQLite has one table: nothing here does anything there.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.kit.clock import city_zone

MONTHS_AHEAD = 3  # this month and the next three always exist
_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


def month_of(moment: dt.datetime) -> dt.date:
    """The first day of the city's month holding ``moment``."""
    return moment.astimezone(city_zone()).date().replace(day=1)


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


async def partitioned(session: AsyncSession) -> bool:
    """Whether the record is partitioned here (PostgreSQL at migration 0010 or later)."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return False
    kind = await session.scalar(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass('transfer_records')")
    )
    return bool(kind == "p")


async def ensure_partitions(
    session: AsyncSession, now: dt.datetime, months_ahead: int = MONTHS_AHEAD, *, since: dt.date | None = None
) -> int:
    """Make the partitions of the city's months from ``since`` (default: the month of ``now``) to
    ``months_ahead`` after now's, those missing; returns how many tables it made. Cheap when they all
    exist (one catalog look-up a month). Through ``platform_hub_record_month``, which the migrations'
    owner owns: the serving role may call it."""
    if not await partitioned(session):
        return 0
    zone = city_zone().key
    month, last = since or month_of(now), add_months(month_of(now), months_ahead)
    made = 0
    while month <= last:
        made += (
            await session.scalar(
                text("SELECT platform_hub_record_month(:month, :zone)"), {"month": month, "zone": zone}
            )
            or 0
        )
        month = add_months(month, 1)
    return made


@dataclass(frozen=True)
class Partition:
    table: str  # the partition's own name
    start: dt.datetime
    end: dt.datetime  # exclusive


async def partitions(session: AsyncSession, parent: str) -> Sequence[Partition]:
    """The bounded partitions of ``parent`` (not its default), oldest first."""
    rows = await session.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": parent},
    )
    found = []
    for name, bound in rows:
        matched = _BOUND.fullmatch(bound or "")
        if matched:
            start, end = (dt.datetime.fromisoformat(value) for value in matched.groups())
            found.append(Partition(name, start, end))
    return sorted(found, key=lambda p: p.start)
