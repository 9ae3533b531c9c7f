"""The reports the PPC's guideline (特定個人情報の適正な取扱いに関するガイドライン) has an operations
record checked for, over a period of days in the city:

- access outside working hours — at night (22:00–06:00 on the city's clock), on a Saturday, a
  Sunday, a national holiday (the ``holidays`` package's calendar of Japan) or the year-end closing
  of the city's offices (12/29–1/3);
- bulk searches — a client's registry searches and reads above a threshold in one hour;
- My Number reveals per client (``registry.reveal``: a 個人番号 shown to a unit).

The database counts the entries by client, action and hour; nothing of a person leaves it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict

import holidays
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import repository
from platform_hub.audit.anomalies import UNIT_ROLE, at_night
from platform_hub.audit.schemas import BulkAccess, OffHoursAccess, OperationReports, RevealCount
from platform_hub.kit.clock import city_zone
from platform_hub.ordinance.service import day_start

BULK_THRESHOLD = 100  # registry searches and reads per client per hour
SEARCH, READ, REVEAL = "registry.search", "registry.read", "registry.reveal"
_SATURDAY, _SUNDAY = 5, 6
_CLOSING = "年末年始"  # the city's offices close 12/29–1/3 (地方自治法 第4条の2)


@functools.cache
def _japan(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year, language="ja")


def day_off(day: dt.date) -> str | None:
    """Why the city's offices are closed on ``day``: a holiday's name, 年末年始, 土曜日, 日曜日 (or None)."""
    holiday = _japan(day.year).get(day)
    if holiday is not None:
        return str(holiday)
    if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
        return _CLOSING
    if day.weekday() == _SATURDAY:
        return "土曜日"
    if day.weekday() == _SUNDAY:
        return "日曜日"
    return None


async def operation_reports(
    session: AsyncSession, start: dt.date, end: dt.date, *, bulk_threshold: int = BULK_THRESHOLD
) -> OperationReports:
    """The three reports over the days ``start``..``end`` (inclusive) of the city."""
    zone = city_zone()
    start_at, end_at = day_start(start), day_start(end + dt.timedelta(days=1))
    hours = await repository.operations_by_hour(session, start_at, end_at, zone)
    off: dict[tuple[str, dt.datetime], list[repository.HourOfOperations]] = defaultdict(list)
    registry: dict[tuple[str, dt.datetime], dict[str, int]] = defaultdict(lambda: {SEARCH: 0, READ: 0})
    for counted in hours:
        key = (counted.client_id, counted.hour)
        off_hours = at_night(counted.hour.time()) or day_off(counted.hour.date())
        if off_hours and counted.role != UNIT_ROLE:  # units' clients work round the clock by design
            off[key].append(counted)
        if counted.action in (SEARCH, READ):
            registry[key][counted.action] += counted.entries
    return OperationReports(
        start=start,
        end=end,
        bulk_threshold=bulk_threshold,
        off_hours=[_off_hours(client, hour, found) for (client, hour), found in off.items()],
        bulk=[
            BulkAccess(
                client_id=client, hour=hour.astimezone(dt.UTC), searches=count[SEARCH], reads=count[READ]
            )
            for (client, hour), count in registry.items()
            if count[SEARCH] + count[READ] > bulk_threshold
        ],
        reveals=[
            RevealCount(client_id=client, reveals=entries, persons=persons)
            for client, entries, persons in await repository.reveals_by_client(
                session, start_at, end_at, REVEAL
            )
        ],
    )


def _off_hours(client: str, hour: dt.datetime, found: list[repository.HourOfOperations]) -> OffHoursAccess:
    closed = day_off(hour.date())
    why = "night" if closed is None else ("weekend" if closed in ("土曜日", "日曜日") else "holiday")
    return OffHoursAccess(
        client_id=client,
        hour=hour.astimezone(dt.UTC),
        why=why,
        day_name=closed,
        entries=sum(c.entries for c in found),
        actions=sorted({c.action for c in found}),
    )


def summary(found: OperationReports) -> str:
    """What a reading of the reports found, as its operations entry says it."""
    return f"{len(found.off_hours)} off-hours, {len(found.bulk)} bulk, {len(found.reveals)} revealing"
