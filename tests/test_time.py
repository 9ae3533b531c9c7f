"""One time zone for people (docs/time.md): days and clock times people read or name are the city's
(``PLATFORM_HUB_TIME_ZONE``); the database, the record and JSON keep UTC, with its offset."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from pydantic import ValidationError

from platform_hub.kit import clock
from platform_hub.kit.settings import Settings

# 20:00 UTC on 1 December is 05:00 on 2 December in Tokyo: the two calendars name different days.
EVENING_UTC = dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.UTC)


@pytest.fixture
def city_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Put this process's city in another time zone, as ``PLATFORM_HUB_TIME_ZONE`` does."""

    def use(name: str) -> None:
        monkeypatch.setenv("PLATFORM_HUB_TIME_ZONE", name)
        clock.city_zone.cache_clear()

    yield use
    clock.city_zone.cache_clear()


@pytest.fixture
def evening_utc(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """The clock stopped at ``EVENING_UTC``."""
    monkeypatch.setattr(clock, "utcnow", lambda: EVENING_UTC)
    return EVENING_UTC


def test_an_unknown_time_zone_is_a_settings_error_naming_the_variable(
    city_in: Callable[[str], None],
) -> None:
    with pytest.raises(ValidationError, match="PLATFORM_HUB_TIME_ZONE='Asia/Tokio' is not a time zone"):
        Settings(time_zone="Asia/Tokio")
    city_in("../../etc/passwd")
    with pytest.raises(ValidationError, match="PLATFORM_HUB_TIME_ZONE"):
        clock.city_zone()
    city_in("America/Los_Angeles")
    assert clock.city_zone().key == "America/Los_Angeles" == Settings().time_zone


def test_the_citys_day_is_not_the_utc_day(evening_utc: dt.datetime, city_in: Callable[[str], None]) -> None:
    assert clock.city_today() == dt.date(2026, 12, 2)
    assert clock.for_people(evening_utc) == "2026-12-02 05:00:00 JST"
    city_in("America/Los_Angeles")
    assert clock.city_today() == dt.date(2026, 12, 1)
    assert clock.for_people(evening_utc) == "2026-12-01 12:00:00 PST"
