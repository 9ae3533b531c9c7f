"""``platform-hub addressees import``: streamed CSV, per-row errors, good rows kept; and ``search``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from platform_hub.addressees.importer import COLUMNS
from platform_hub.cli import app
from platform_hub.kit.vault import generate_key_file
from platform_hub.protocol.numbers import atena_number
from tests.helpers import count_rows, rows

HEADER = list(COLUMNS)


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key_file = tmp_path / "keys.json"
    generate_key_file(key_file)
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(key_file))
    return tmp_path


def _write(path: Path, lines: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([HEADER, *lines])
    return path


def _person(n: int, my_number: str = "", **overrides: str) -> list[str]:
    row = {
        "atena_number": atena_number(n),
        "my_number": my_number,
        "name": f"山田　太郎{n}",
        "name_kana": "ヤマダ　タロウ",
        "birth_date": "1985-04-01",
        "sex": "1",
        "address": "東京都千代田区千代田一丁目１番１号",
        "municipality_code": "131016",
        "status": "resident",
        "valid_from": "2020-01-01",
        "integrated_number": "",
    } | overrides
    return [row[column] for column in HEADER]


def test_import_links_by_my_number_and_reports_bad_rows(cli_env: Path, database_url: str) -> None:
    runner = CliRunner()
    juki = _write(cli_env / "juki.csv", [_person(1, "123456789018"), _person(2, "987654321093"), _person(3)])
    first = runner.invoke(app, ["addressees", "import", str(juki), "--unit", "001"])
    assert first.exit_code == 0, first.output
    assert "3 rows: 3 persons created, 0 linked" in first.output
    zeimu = _write(
        cli_env / "zeimu.csv",
        [
            _person(11, "123456789018"),  # the same person as 001's row 1: linked, not created
            _person(12, "123456789012"),  # a wrong check digit
            _person(13, birth_date="1985-02-30"),
            _person(14, sex="9"),
            [*_person(15)[:0], "12345", *_person(15)[1:]],  # a bad 宛名番号
            _person(11, "987654321093"),  # repeats a 宛名番号 of this file
            _person(16, "", status="non_resident"),
        ],
    )
    second = runner.invoke(
        app, ["addressees", "import", str(zeimu), "--unit", "002", "--errors", str(cli_env / "report.csv")]
    )
    assert second.exit_code == 1, second.output
    assert "7 rows: 1 persons created, 1 linked to known persons, 5 errors" in second.output
    with (cli_env / "report.csv").open(encoding="utf-8-sig") as report:
        errors = list(csv.DictReader(report))
    assert [int(e["row"]) for e in errors] == [3, 4, 5, 6, 7]
    assert "123456789012" not in (cli_env / "report.csv").read_text(encoding="utf-8-sig")
    assert count_rows(database_url, "persons") == 4
    linked = rows(
        database_url,
        "SELECT count(DISTINCT person_id) FROM atena_links "
        f"WHERE atena_number IN ('{atena_number(1)}', '{atena_number(11)}')",
    )
    assert linked[0][0] == 1  # 001's and 002's numbers point at one person
    again = runner.invoke(app, ["addressees", "import", str(juki), "--unit", "001"])
    assert "0 persons created, 0 linked" in again.output and "3 errors" in again.output  # all linked already

    found = runner.invoke(app, ["addressees", "search", "--name", "山田太郎1", "--birth-date", "1985-04-01"])
    assert found.exit_code == 0, found.output
    assert "山田" in found.output and "123456789018" not in found.output


def test_import_refuses_a_file_without_its_columns(cli_env: Path) -> None:
    path = cli_env / "wrong.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["addressees", "import", str(path), "--unit", "001"])
    assert result.exit_code == 2
    assert "lacks the columns" in result.output


def test_a_shifted_my_number_in_valid_from_is_not_echoed(cli_env: Path) -> None:
    """A row whose 個人番号 slid into valid_from is refused without its value in the error report."""
    path = _write(cli_env / "shifted.csv", [_person(21, "", valid_from="123456789018")])
    result = CliRunner().invoke(
        app, ["addressees", "import", str(path), "--unit", "002", "--errors", str(cli_env / "report.csv")]
    )
    assert result.exit_code == 1, result.output
    report = (cli_env / "report.csv").read_text(encoding="utf-8-sig")
    assert "valid_from" in report and "123456789018" not in report + result.output
