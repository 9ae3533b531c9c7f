"""Times for people: days and clock times in the city's time zone (``PLATFORM_HUB_TIME_ZONE``,
default Asia/Tokyo). The database and the record keep UTC; JSON carries each time in UTC with its
offset (``Z``). docs/time.md has the rule whole."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ZONE = "Asia/Tokyo"
ZONE_VARIABLE = "PLATFORM_HUB_TIME_ZONE"


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError naming the setting when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{ZONE_VARIABLE}={name!r} is not a time zone: name one of the IANA database, "
            f"such as {DEFAULT_ZONE}"
        ) from None


class ZoneSetting(BaseSettings):
    """The city's time zone, read as every other setting is (environment, ``.env``) but alone: a unit
    built on the SDK, or the demo, reads it without the hub's settings (and their production checks).
    The hub's ``Settings`` inherits it."""

    model_config = SettingsConfigDict(env_prefix="PLATFORM_HUB_", env_file=".env", extra="ignore")

    # The days and times people read and name: CSV, CLI, from/to, 請求日, an ordinance's effective date.
    time_zone: str = DEFAULT_ZONE

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone_named(name)
        return name


def utcnow() -> dt.datetime:
    """Now, for the database and the record (which keep UTC)."""
    return dt.datetime.now(dt.UTC)


@cache
def city_zone() -> ZoneInfo:
    """The city's zone: one per process, read once."""
    return zone_named(ZoneSetting().time_zone)


def city_now() -> dt.datetime:
    """Now on the city's clock (with its offset)."""
    return utcnow().astimezone(city_zone())


def city_today() -> dt.date:
    """Today in the city: the day a 請求日 or an ordinance's effective date names."""
    return city_now().date()


def for_people(moment: dt.datetime) -> str:
    """``2026-12-01 09:30:00 JST``: a moment as the city's clock shows it, its zone named."""
    local = moment.astimezone(city_zone())
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
