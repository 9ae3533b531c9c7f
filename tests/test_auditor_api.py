"""The auditors' API as auditors meet it: a parameter it does not know is an error, never ignored; the
CSV opens in a spreadsheet with its codes as text, its item list splittable and its words Japanese."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

from platform_hub.addressees.access import ITEM_NAMES
from platform_hub.audit import export
from platform_hub.models import OperationOutcome, TransferOutcome, TransferPattern
from tests.helpers import (
    CATALOG,
    YAMADA,
    HubClient,
    ido_notification,
    rows,
    serve_in_thread,
    valid_my_number,
    wait_until,
    zei_query,
)
from tests.test_ordinance import amendment, load
from tests.units import TestUnit, zei_answer


@dataclass
class Record:
    auditor: dict[str, str]
    integrated_number: str  # 山田太郎's: fifteen digits, with leading zeros


@pytest.fixture
def record(hub: HubClient, database_url: str) -> Iterator[Record]:
    """An answered query (照会, 提供), a notification delivered (通知, 提供) and a query the ordinance
    refused (拒否), all about 山田太郎."""
    zeimu, jidou_unit = TestUnit(answer=zei_answer), TestUnit()
    with serve_in_thread(zeimu.app()) as zeimu_url, serve_in_thread(jidou_unit.app()) as jidou_url:
        hub.register("002", zeimu_url, subscribes=[])  # the notification goes to 011 alone
        jidou = hub.unit_headers(hub.register("011", jidou_url))
        juki = hub.unit_headers(hub.register("001"))
        # With a 個人番号: a 団体内統合宛名番号 (leading zeros and all, in the exports below) is issued.
        numbers = {"011": YAMADA["011"], "002": YAMADA["002"], "001": YAMADA["001"]}
        integrated = hub.enroll(numbers, my_number=valid_my_number("20260101001"))
        assert hub.send(zei_query(), jidou).status_code == 200
        assert hub.send(ido_notification(), juki).status_code == 200
        wait_until(lambda: len(rows(database_url, "SELECT id FROM transfer_records")) == 2)
        assert load(hub, amendment("2026-11", drop={"U-03"}))["status"] == 201
        assert hub.send(zei_query(msgid="refused"), jidou).status_code == 403
    assert integrated.startswith("0")
    yield Record(hub.staff("auditor"), integrated)


# --- parameters --------------------------------------------------------------------------------


PERIOD_REQUIRED = ("/audit/compliance", "/audit/operations/reports")


def _auditor_paths(hub: HubClient, integrated_number: str) -> dict[str, dict[str, str]]:
    """Every GET of /audit/ the OpenAPI names, with what it needs to answer 200."""
    spec = hub.http.get("/openapi.json").json()
    paths = {
        path.replace("{integrated_number}", integrated_number): (
            {"from": "2026-01-01", "to": "2030-12-31"} if path in PERIOD_REQUIRED else {}
        )
        for path, operations in spec["paths"].items()
        if path.startswith("/audit/") and "get" in operations
    }
    assert {"/audit/transfers", "/audit/transfers.csv", "/audit/operations", "/audit/compliance"} <= set(
        paths
    )
    assert len(paths) >= 8
    return paths


def test_an_unknown_query_parameter_is_refused_on_every_auditor_endpoint(
    hub: HubClient, record: Record, database_url: str
) -> None:
    for path, required in _auditor_paths(hub, record.integrated_number).items():
        assert hub.http.get(path, params=required, headers=record.auditor).status_code == 200, path
        typo = hub.http.get(
            path, params={**required, "person": record.integrated_number}, headers=record.auditor
        )
        assert typo.status_code == 400, (path, typo.text)
        assert typo.json() == {
            "error": {
                "code": "E1002",
                "message": "the request does not match its schema",
                "details": ["query.person: not a parameter of this endpoint"],
            }
        }, path
    # Nothing of a refused query is kept, and a My Number typed as a parameter's name is not echoed.
    odd = hub.http.get("/audit/transfers", params={"1234 5678 9012": "x"}, headers=record.auditor)
    assert odd.status_code == 400 and "9012" not in odd.text
    kept = rows(database_url, "SELECT parameters FROM operations WHERE action LIKE 'audit.%'")
    assert not [r for r in kept if "person" in r.parameters or "9012" in r.parameters]


def test_a_parameter_given_twice_is_refused(hub: HubClient, record: Record) -> None:
    twice = hub.http.get(
        "/audit/transfers", params=[("unit", "011"), ("unit", "002")], headers=record.auditor
    )
    assert twice.status_code == 400
    assert twice.json()["error"]["details"] == ["query.unit: given more than once"]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/audit/transfers", "outcome"),
        ("/audit/transfers.csv", "outcome"),
        ("/audit/operations", "outcome"),
        ("/audit/operations.csv", "outcome"),
    ],
)
def test_an_unknown_value_is_refused_not_an_empty_answer(
    hub: HubClient, record: Record, path: str, parameter: str
) -> None:
    answer = hub.http.get(path, params={parameter: "bogus"}, headers=record.auditor)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002"
    assert answer.json()["error"]["details"][0].startswith(f"query.{parameter}: Input should be")


# --- the CSV -----------------------------------------------------------------------------------


def _csv(hub: HubClient, record: Record, path: str = "/audit/transfers.csv") -> list[dict[str, str]]:
    response = hub.http.get(path, headers=record.auditor)
    assert response.status_code == 200 and response.content.startswith(codecs.BOM_UTF8)
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_codes_in_the_csv_are_text_formulas(hub: HubClient, record: Record) -> None:
    table = _csv(hub, record)
    query = next(r for r in table if r["インターフェイスID"] == '="IF_ZEI_0001"' and r["結果"] == "提供")
    assert query["団体内統合宛名番号"] == f'="{record.integrated_number}"'
    assert (query["照会元ユニット"], query["提供元ユニット"]) == ('="011"', '="002"')
    assert query["照会日時"][:2] == "20"  # a time stays a time: the spreadsheet reads it as one
    operations = _csv(hub, record, "/audit/operations.csv")
    assert {r["団体内統合宛名番号"] for r in operations} >= {f'="{record.integrated_number}"'}


def test_pattern_and_outcome_read_in_japanese(hub: HubClient, record: Record) -> None:
    table = _csv(hub, record)
    assert sorted((r["方式"], r["結果"]) for r in table) == sorted(
        [("照会", "提供"), ("通知", "提供"), ("照会", "拒否")]
    )
    items = hub.http.get("/audit/transfers", headers=record.auditor).json()["items"]
    assert {item["outcome"] for item in items} == {"provided", "delivered", "refused"}  # JSON as it was
    assert {r["結果"] for r in _csv(hub, record, "/audit/operations.csv")} <= {"成功", "拒否", "失敗"}


def test_every_pattern_and_outcome_has_its_word() -> None:
    assert [p.ja for p in TransferPattern] == [
        "照会",
        "通知",
        "一括",
        "宛名照会",
        "情報照会（ネットワーク）",
        "本人確認情報（住基ネット）",
    ]
    assert [o.ja for o in TransferOutcome] == ["提供", "提供", "拒否", "失敗"]
    assert [o.ja for o in OperationOutcome] == ["成功", "拒否", "失敗"]


def test_the_item_list_splits_back_into_the_item_names(hub: HubClient, record: Record) -> None:
    every_name = {*ITEM_NAMES.values()} | {
        name for spec in CATALOG.specs() for side in ("request", "response") for name in spec.item_names(side)
    }
    assert "寡婦・ひとり親区分" in every_name  # why the separator is not 「・」
    assert not [name for name in every_name if export.ITEM_SEPARATOR.strip() in name]
    names = sorted(every_name)
    assert export.split_items(export.join_items(names)) == names
    items = {
        i["reception_number"]: i["item_names"]
        for i in hub.http.get("/audit/transfers", headers=record.auditor).json()["items"]
    }
    for row in _csv(hub, record):
        reception = row["受付番号"].removeprefix('="').removesuffix('"')
        assert export.split_items(row["項目"]) == items[reception]


def test_libreoffice_opens_the_codes_as_text(hub: HubClient, record: Record, tmp_path: Path) -> None:
    """The CSV is UTF-8 with a BOM: LibreOffice is told so (its filter options: comma, double quote,
    UTF-8, from line 1), and takes the rest as it would for a user; its formulas are evaluated."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    response = hub.http.get("/audit/transfers.csv", headers=record.auditor)
    (tmp_path / "transfers.csv").write_bytes(response.content)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--infilter=CSV:44,34,76,1",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path),
            str(tmp_path / "transfers.csv"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sheet = openpyxl.load_workbook(tmp_path / "transfers.xlsx", data_only=True).active
    assert sheet is not None
    header, *body = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header[0] == "記録番号" and len(body) == 3
    table = [dict(zip(header, row, strict=True)) for row in body]
    for cells in table:
        assert cells["団体内統合宛名番号"] == record.integrated_number  # a string, leading zeros and all
        assert isinstance(cells["照会元ユニット"], str) and cells["照会元ユニット"] in {"011", "002"}
        assert isinstance(cells["照会日時"], dt.datetime)
        assert isinstance(cells["記録番号"], int)
