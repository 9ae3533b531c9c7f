"""One time zone for people (docs/time.md): days and clock times people read or name are the city's
(``PLATFORM_HUB_TIME_ZONE``); the database, the record and JSON keep UTC, with its offset."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from platform_hub_demo import jidou_teate
from platform_hub_demo.common import MockOptions
from platform_hub_sdk.messages import request_message
from pydantic import ValidationError
from typer.testing import CliRunner

from platform_hub.addressees.importer import COLUMNS
from platform_hub.audit.schemas import Violation
from platform_hub.cli import app
from platform_hub.kit import clock
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import generate_key_file
from platform_hub.ordinance import service as ordinance
from platform_hub.protocol.envelope import lk
from platform_hub.web.app import create_app
from tests.helpers import (
    CATALOG,
    PERSON,
    YAMADA,
    HubClient,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
    zei_query,
)
from tests.test_ordinance import amendment, load
from tests.units import TestUnit, zei_answer

# 20:00 UTC on 1 December is 05:00 on 2 December in Tokyo: the two calendars name different days.
EVENING_UTC = dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.UTC)


@pytest.fixture
def city_in() -> Iterator[Callable[[str], None]]:
    """Put this process's city in another time zone, as ``PLATFORM_HUB_TIME_ZONE`` does. The variable
    is put back before the cached zone is dropped: a hub thread still running may read it meanwhile."""
    before = os.environ.get("PLATFORM_HUB_TIME_ZONE")

    def use(name: str) -> None:
        os.environ["PLATFORM_HUB_TIME_ZONE"] = name
        clock.city_zone.cache_clear()

    yield use
    if before is None:
        os.environ.pop("PLATFORM_HUB_TIME_ZONE", None)
    else:
        os.environ["PLATFORM_HUB_TIME_ZONE"] = before
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


def test_an_ordinance_takes_effect_on_the_citys_day(city_in: Callable[[str], None]) -> None:
    """A version effective on 2 December governs from midnight of the city's 2 December."""
    version = SimpleNamespace(
        id=1, effective_on=dt.date(2026, 12, 2), loaded_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    )
    book = ordinance.Rulebook((version,), {})  # type: ignore[arg-type]
    assert book.in_force(EVENING_UTC) is version  # 05:00 on the 2nd in Tokyo
    city_in("America/Los_Angeles")
    assert ordinance.local_day(EVENING_UTC) == dt.date(2026, 12, 1)
    assert book.in_force(EVENING_UTC) is None  # noon on the 1st in Los Angeles
    midnight = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
    assert ordinance.day_start(dt.date(2026, 12, 2)) == midnight


def test_the_rules_in_force_today_are_the_citys_today(
    hub: HubClient, evening_utc: dt.datetime, city_in: Callable[[str], None]
) -> None:
    assert load(hub, amendment("2026-12", drop={"U-03"}, effective=dt.date(2026, 12, 2)))["status"] == 201
    assert hub.http.get("/ordinance/rules", headers=hub.admin()).json()["version"] == "2026-12"
    city_in("America/Los_Angeles")
    assert hub.http.get("/ordinance/rules", headers=hub.admin()).json()["version"] == "2026-04"


@pytest.fixture
def answered(hub: HubClient) -> Iterator[dict[str, str]]:
    """One query of 011 answered by 002; yields an auditor's headers."""
    zeimu = TestUnit(answer=zei_answer)
    with serve_in_thread(zeimu.app()) as url:
        hub.register("002", url)
        jidou = hub.unit_headers(hub.register("011"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        assert hub.send(zei_query(), jidou).status_code == 200
    yield hub.staff("auditor")


def test_the_csv_and_the_period_filters_are_on_the_citys_clock(
    hub: HubClient, answered: dict[str, str], city_in: Callable[[str], None]
) -> None:
    city_in("America/Los_Angeles")
    (entry,) = hub.http.get("/audit/transfers", headers=answered).json()["items"]
    requested = dt.datetime.fromisoformat(entry["requested_at"])
    local = requested.astimezone(ZoneInfo("America/Los_Angeles"))
    day = local.date()
    csv_rows = list(csv.DictReader(io.StringIO(hub.http.get("/audit/transfers.csv", headers=answered).text)))
    assert csv_rows[0]["照会日時"] == f"{local:%Y-%m-%d %H:%M:%S}"
    for path in ("/audit/transfers", "/audit/operations"):
        within = hub.http.get(path, params={"from": str(day), "to": str(day)}, headers=answered).json()
        before = hub.http.get(path, params={"to": str(day - dt.timedelta(days=1))}, headers=answered).json()
        after = hub.http.get(path, params={"from": str(day + dt.timedelta(days=1))}, headers=answered).json()
        assert within["items"] and not before["items"] and not after["items"], path
    report = hub.http.get(
        "/audit/compliance", params={"from": str(day), "to": str(day)}, headers=answered
    ).json()
    assert report["checked"] == 1


def test_every_time_in_the_auditors_json_is_utc_with_its_offset(
    hub: HubClient, answered: dict[str, str]
) -> None:
    integrated = hub.http.get("/audit/transfers", headers=answered).json()["items"][0][
        "subject_integrated_number"
    ]
    wait_until(lambda: hub.http.get("/audit/verify", headers=answered).json()["entries"] == 1)
    times: list[str] = []
    for path, params in (
        ("/audit/transfers", {}),
        (f"/audit/persons/{integrated}", {}),
        ("/audit/compliance", {"from": "2000-01-01", "to": "2099-12-31"}),
        ("/audit/operations", {}),
        ("/audit/checkpoints", {}),
        ("/audit/verify", {}),
        ("/ordinance/versions", {}),
    ):
        response = hub.http.get(
            path, params=params, headers=answered if "ordinance" not in path else hub.admin()
        )
        assert response.status_code == 200, (path, response.text)
        times += [(path, value) for value in _strings(response.json()) if _TIMESTAMP.match(value)]
    assert {path for path, _ in times} >= {"/audit/transfers", "/audit/operations", "/audit/checkpoints"}
    for path, value in times:
        assert value.endswith("Z"), (path, value)
        assert dt.datetime.fromisoformat(value).utcoffset() == dt.timedelta(0), (path, value)


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_a_hub_whose_settings_name_another_zone_than_its_process_does_not_start(settings: Settings) -> None:
    """The zone is one per process (kit.clock reads it once): settings made in code that name another
    would be silently ignored, so the hub refuses them."""
    with pytest.raises(ValueError, match="PLATFORM_HUB_TIME_ZONE"):
        create_app(Settings(**{**settings.model_dump(), "time_zone": "Europe/Berlin"}))


def test_deliveries_list_shows_the_citys_time_and_names_its_zone(
    hub: HubClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriber = TestUnit()
    with serve_in_thread(subscriber.app()) as url:
        hub.register("002", url)
        hub.enroll(YAMADA)
        assert hub.send(ido_notification(), hub.unit_headers(hub.register("001"))).status_code == 200
        wait_until(lambda: rows(database_url, "SELECT status FROM deliveries")[0].status == "delivered")
    (delivery,) = rows(database_url, "SELECT delivered_at FROM deliveries")
    delivered = delivery.delivered_at  # SQLite: the text of a UTC time, without its zone
    if isinstance(delivered, str):
        delivered = dt.datetime.fromisoformat(delivered).replace(tzinfo=dt.UTC)
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    listed = CliRunner().invoke(app, ["deliveries", "list"])
    assert listed.exit_code == 0, listed.output
    assert clock.for_people(delivered) in listed.output


def test_the_sdk_stamps_messages_with_the_citys_clock(
    evening_utc: dt.datetime, city_in: Callable[[str], None]
) -> None:
    def sent_at() -> str | None:
        request = request_message(
            CATALOG.interfaces["IF_ZEI_0001"],
            {"AtenaNo": YAMADA["011"], "KazeiNendo": 2026},
            source="011",
            destination="002",
            purpose="JDT-001",
            msgid="m-1",
            department="KODOMO-1",
            user="u0123",
        )
        return request.message.findtext(f"{lk('MessageHeader')}/{lk('SendDateTime')}")

    assert sent_at() == "2026-12-02T05:00:00+09:00"
    city_in("Europe/Berlin")
    assert sent_at() == "2026-12-01T21:00:00+01:00"


def test_a_claim_is_dated_by_the_citys_day(
    evening_utc: dt.datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 児童手当 unit dates a 認定請求 (請求日) by the day the ordinance judges its queries by: at
    05:00 in Tokyo on 2 December (20:00 UTC on the 1st) that is the 2nd."""

    async def nobody(*_: object) -> None:  # the registry does not know the applicant: no hub needed
        return None

    monkeypatch.setattr(jidou_teate, "identify_applicant", nobody)
    unit = jidou_teate.JidouTeate(
        MockOptions(hub_url="http://127.0.0.1:9", port=9, database=tmp_path / "011.db", residents=3)
    )
    claim = jidou_teate.Ninteiseikyu(name="山田　太郎", birth_date="1985-04-01")
    result = asyncio.run(unit.ninteiseikyu(claim))
    stored = unit.store.row("SELECT seikyu_date FROM claims WHERE id = ?", (result["claim_id"],))
    assert stored is not None
    assert stored["seikyu_date"] == "2026-12-02" == ordinance.local_day(evening_utc).isoformat()
    assert "請求日 2026-12-02" in result["steps"][0]["detail"]


def test_a_registration_is_valid_from_the_citys_day(hub: HubClient, evening_utc: dt.datetime) -> None:
    integrated = hub.enroll({"011": YAMADA["011"]})
    person = hub.http.get(f"/addressees/{integrated}", headers=hub.admin()).json()
    assert person["current"]["valid_from"] == "2026-12-02"


def test_an_imported_row_without_its_day_is_valid_from_the_citys_day(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evening_utc: dt.datetime
) -> None:
    generate_key_file(tmp_path / "keys.json")
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(tmp_path / "keys.json"))
    row = {**PERSON, "atena_number": YAMADA["001"], "status": "resident", "my_number": "", "valid_from": ""}
    with (tmp_path / "juki.csv").open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([COLUMNS, [row.get(column, "") for column in COLUMNS]])
    imported = CliRunner().invoke(app, ["addressees", "import", str(tmp_path / "juki.csv"), "--unit", "001"])
    assert imported.exit_code == 0, imported.output
    assert [str(r.valid_from) for r in rows(database_url, "SELECT valid_from FROM person_versions")] == [
        "2026-12-02"
    ]


def test_the_auditors_models_refuse_a_time_without_its_zone() -> None:
    """A naive time would go out without an offset, and be read as anyone's local time."""
    with pytest.raises(ValidationError, match="timezone info"):
        Violation(entry_id=1, reception_number="R", requested_at=dt.datetime(2026, 12, 1, 20), reason="-")
    aware = Violation(entry_id=1, reception_number="R", requested_at=EVENING_UTC, reason="-")
    assert aware.model_dump(mode="json")["requested_at"] == "2026-12-01T20:00:00Z"
