"""The 宛名番号 check digit on new numbers only ("新規付番に限り"): numbers the city held before the hub
go in as they are; remainder 1, which the standard leaves open, is the setting
``PLATFORM_HUB_ATENA_CHECK_DIGIT_REMAINDER_ONE`` (zero, the default, or refuse)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from platform_hub.addressees.importer import COLUMNS
from platform_hub.cli import app
from platform_hub.kit.settings import Settings
from platform_hub.protocol.numbers import (
    RemainderOne,
    atena_check_digit,
    atena_number,
    is_valid_atena_number,
)
from tests.helpers import PERSON, HubClient, ido_notification, rows, served_hub, valid_my_number


def _remainder(body: str) -> int:
    return sum(int(d) * (2, 3, 4, 5, 6, 7)[i % 6] for i, d in enumerate(reversed(body))) % 11


def _serials_of_remainder(remainder: int, count: int) -> list[int]:
    return [n for n in range(1, 200) if _remainder(f"{n:014d}") == remainder][:count]


REMAINDER_ONE = _serials_of_remainder(1, 3)
# 15 characters the city's former system gave, with no valid check digit.
LEGACY = "12345678901234" + next(d for d in "0123456789" if not is_valid_atena_number("12345678901234" + d))


@given(st.text("0123456789", min_size=14, max_size=14))
def test_remainder_one_gives_zero_or_nothing(body: str) -> None:
    zero, refuse = atena_check_digit(body, RemainderOne.ZERO), atena_check_digit(body, RemainderOne.REFUSE)
    if _remainder(body) == 1:
        assert zero == "0" and refuse is None
        assert not any(is_valid_atena_number(body + d, RemainderOne.REFUSE) for d in "0123456789")
    else:
        assert zero == refuse


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().atena_check_digit_remainder_one == RemainderOne.ZERO
    monkeypatch.setenv("PLATFORM_HUB_ATENA_CHECK_DIGIT_REMAINDER_ONE", "refuse")
    assert Settings().atena_check_digit_remainder_one == RemainderOne.REFUSE
    monkeypatch.setenv("PLATFORM_HUB_ATENA_CHECK_DIGIT_REMAINDER_ONE", "one")
    with pytest.raises(ValueError, match="zero"):
        Settings()


def _register(hub: HubClient, headers: dict[str, str], atena: str, **extra: Any) -> Any:
    body = {
        **PERSON,
        "unit_code": "011",
        "atena_number": atena,
        "reason": "住登外者",
        "purpose_code": "JDT-001",
        **extra,
    }
    return hub.http.post("/addressees", json=body, headers=headers)


@pytest.fixture
def refusing_hub(settings: Settings) -> Iterator[HubClient]:
    refusing = settings.model_copy(update={"atena_check_digit_remainder_one": RemainderOne.REFUSE})
    with served_hub(refusing) as (_, client):
        yield client


def test_a_new_number_of_remainder_one_is_refused_when_the_city_says_so(refusing_hub: HubClient) -> None:
    jidou = refusing_hub.unit_headers(refusing_hub.register("011"))
    refused = _register(refusing_hub, jidou, atena_number(REMAINDER_ONE[0]))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "E1002"
    assert "remainder 1 refused" in refused.text
    accepted = _register(refusing_hub, jidou, atena_number(_serials_of_remainder(2, 1)[0]))
    assert accepted.status_code == 201, accepted.text


def test_remainder_one_gives_zero_by_default(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    number = atena_number(REMAINDER_ONE[0])
    assert number.endswith("0")
    assert _register(hub, jidou, number).status_code == 201


def test_new_numbers_still_need_their_check_digit(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    refused = _register(hub, jidou, LEGACY)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "E1002"
    juki = hub.unit_headers(hub.register("001"))
    moved_in = hub.send(ido_notification(atena=LEGACY, jiyu="01", changes={"TennyumaeJusho": "大阪府"}), juki)
    assert moved_in.status_code == 400, moved_in.text  # a 転入 is a new number: E1002


def test_the_hub_issues_no_integrated_number_of_remainder_one_under_refuse(
    refusing_hub: HubClient, database_url: str
) -> None:
    jidou = refusing_hub.unit_headers(refusing_hub.register("011"))
    for n in range(12):  # enough serials to pass over the first of remainder 1
        created = _register(
            refusing_hub,
            jidou,
            atena_number(1000 + n if _remainder(f"{1000 + n:014d}") != 1 else 2000 + n),
            name=f"山田　{n}",
            my_number=valid_my_number(f"{50000000000 + n}"),
        )
        assert created.status_code == 201, created.text
    issued = [r.integrated_number for r in rows(database_url, "SELECT integrated_number FROM persons")]
    assert len(issued) == 12 and all(is_valid_atena_number(n, RemainderOne.REFUSE) for n in issued)
    assert atena_number(REMAINDER_ONE[0]) not in issued


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(tmp_path / "keys.json"))  # the hub's
    return tmp_path


def test_migrated_numbers_go_in_as_they_are_and_keep_working(
    hub: HubClient, cli_env: Path, database_url: str
) -> None:
    juki = hub.unit_headers(hub.register("001"))  # the hub made its key file: the CLI shares it
    row = {
        "atena_number": LEGACY,
        "my_number": "",
        "name": PERSON["name"],
        "name_kana": PERSON["name_kana"],
        "birth_date": PERSON["birth_date"],
        "sex": PERSON["sex"],
        "address": PERSON["address"],
        "municipality_code": PERSON["municipality_code"],
        "status": "resident",
        "valid_from": "2020-01-01",
        "integrated_number": "",
    }
    path = cli_env / "legacy.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(
            [
                list(COLUMNS),
                [row[c] for c in COLUMNS],
                [row[c] if c != "atena_number" else "ABC" for c in COLUMNS],
            ]
        )
    result = CliRunner().invoke(
        app, ["addressees", "import", str(path), "--unit", "001", "--errors", str(cli_env / "e.csv")]
    )
    assert "1 persons created" in result.output and "1 errors" in result.output, result.output
    assert "15 characters" in (cli_env / "e.csv").read_text(encoding="utf-8-sig")
    # 住民基本台帳's next 住民異動 of that person names the number as it is: accepted.
    moved = hub.send(
        ido_notification(atena=LEGACY, changes={"Jusho": "東京都港区芝公園四丁目２番８号"}), juki
    )
    assert moved.status_code == 200, moved.text
    (version,) = rows(database_url, "SELECT address FROM person_versions WHERE valid_to IS NULL")
    assert version.address == "東京都港区芝公園四丁目２番８号"
