"""Times for people: days and clock times in the city's time zone (``PLATFORM_HUB_TIME_ZONE``,
default Asia/Tokyo). The database and the record keep UTC; JSON carries each time with its offset."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

from platform_hub.kit.settings import Settings


def utcnow() -> dt.datetime:
    """Now, for the database and the record (which keep UTC)."""
    return dt.datetime.now(dt.UTC)


@cache
def city_zone() -> ZoneInfo:
    return ZoneInfo(Settings().time_zone)


def city_today() -> dt.date:
    """Today in the city: the day a 請求日 or an ordinance's effective date names."""
    return dt.datetime.now(city_zone()).date()


def for_people(moment: dt.datetime) -> str:
    """``2026-12-01 09:30:00 JST``: a moment as the city's clock shows it, its zone named."""
    local = moment.astimezone(city_zone())
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
