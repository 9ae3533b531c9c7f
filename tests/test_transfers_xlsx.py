"""The transfer record as an Excel workbook, read back with openpyxl: one sheet 連携記録, the CSV's
headers and rows, every cell a string (a 団体内統合宛名番号 keeps its leading zeros), the filters
honoured, and the reading in the operations record — from the auditors' API and from the console."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import tempfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import openpyxl
import pytest
from openpyxl import Workbook

from platform_hub.audit import export
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import create_engine, create_sessionmaker
from platform_hub.kit.settings import Settings
from tests.console import MY_NUMBER, Seeded, operations, signed_in
from tests.helpers import HubClient, rows, wait_until
from tests.test_auditor_api import Record, record  # noqa: F401 - the fixture


def workbook_rows(content: bytes) -> list[list[object]]:
    """The rows of the workbook's one sheet, 連携記録 (the header first)."""
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    assert book.sheetnames == ["連携記録"]
    sheet = book["連携記録"]
    found = [list(row) for row in sheet.iter_rows(values_only=True)]
    book.close()
    return found


def csv_rows(text: str) -> list[list[str]]:
    """The CSV's rows with its spreadsheet guards undone (``="011"`` and a leading ``'``)."""
    assert text.startswith(codecs.BOM_UTF8.decode())
    found = list(csv.reader(io.StringIO(text[1:])))

    def plain(cell: str) -> str:
        if cell.startswith('="') and cell.endswith('"'):
            return cell[2:-1].replace('""', '"')
        return cell[1:] if cell[:2] in ("'=", "'+", "'-", "'@") else cell

    return [[plain(cell) for cell in row] for row in found]


def test_the_api_gives_the_csvs_rows_as_text_cells(
    hub: HubClient,
    record: Record,  # noqa: F811 - the fixture
    database_url: str,
) -> None:
    response = hub.http.get("/audit/transfers.xlsx", headers=record.auditor)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == export.XLSX_MEDIA_TYPE
    assert 'filename="transfers.xlsx"' in response.headers["content-disposition"]
    found = workbook_rows(response.content)
    header, *body = found
    assert header == list(export.TRANSFER_COLUMNS.values())
    assert len(body) == 3
    assert all(isinstance(cell, str) for line in body for cell in line if cell is not None)
    csv_text = hub.http.get("/audit/transfers.csv", headers=record.auditor).text
    assert [[cell or "" for cell in line] for line in found] == csv_rows(csv_text)
    table = [dict(zip(header, line, strict=True)) for line in body]
    assert {cells["団体内統合宛名番号"] for cells in table} == {record.integrated_number}
    assert record.integrated_number.startswith("0")
    assert {cells["照会元ユニット"] for cells in table} <= {"011", "002", "001"}
    assert {cells["結果"] for cells in table} == {"提供", "拒否"}
    with zipfile.ZipFile(io.BytesIO(response.content)) as opened:
        sheet_xml = b"".join(opened.read(name) for name in opened.namelist() if "worksheets" in name)
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml  # no formula anywhere
    assert "xlsx" in str(hub.http.get("/openapi.json").json()["paths"].get("/audit/transfers.xlsx"))
    kept = rows(database_url, "SELECT client_id FROM operations WHERE action = 'audit.transfers_xlsx'")
    assert len(kept) == 1


def test_the_api_honours_the_filters(
    hub: HubClient,
    record: Record,  # noqa: F811 - the fixture
    database_url: str,
) -> None:
    refused = hub.http.get("/audit/transfers.xlsx", params={"outcome": "refused"}, headers=record.auditor)
    header, *body = workbook_rows(refused.content)
    assert [dict(zip(header, line, strict=True))["結果"] for line in body] == ["拒否"]
    none = hub.http.get("/audit/transfers.xlsx", params={"unit": "999"}, headers=record.auditor)
    assert none.status_code == 200 and len(workbook_rows(none.content)) == 1  # the header alone
    kept = rows(database_url, "SELECT parameters FROM operations WHERE action = 'audit.transfers_xlsx'")
    assert "refused" in str(kept[0].parameters) and "999" in str(kept[1].parameters)
    bad = hub.http.get("/audit/transfers.xlsx", params={"unit": "<b>"}, headers=record.auditor)
    assert bad.status_code == 400
    integrator = hub.staff("integrator")
    assert hub.http.get("/audit/transfers.xlsx", headers=integrator).status_code == 403


def test_more_rows_than_a_sheet_holds_go_on_in_the_next_sheet(
    hub: HubClient,
    record: Record,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Excel opens no sheet of more than 1,048,576 rows (a month of a large city's record has more):
    the rows go on in 連携記録 (2), (3) …, each with the header."""
    assert export.SHEET_ROWS == 1_048_575  # Excel's rows, less the header's
    monkeypatch.setattr(export, "SHEET_ROWS", 2)
    response = hub.http.get("/audit/transfers.xlsx", headers=record.auditor)
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    assert book.sheetnames == ["連携記録", "連携記録 (2)"]
    first, second = (
        [list(line) for line in book[name].iter_rows(values_only=True)] for name in book.sheetnames
    )
    book.close()
    assert first[0] == second[0] == list(export.TRANSFER_COLUMNS.values())
    assert len(first) == 3 and len(second) == 2
    csv_text = hub.http.get("/audit/transfers.csv", headers=record.auditor).text
    assert [[cell or "" for cell in line] for line in first + second[1:]] == csv_rows(csv_text)
    monkeypatch.setattr(export, "SHEET_ROWS", 3)  # a sheet filled exactly: no empty one after it
    response = hub.http.get("/audit/transfers.xlsx", headers=record.auditor)
    assert openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).sheetnames == ["連携記録"]


def test_a_cell_that_looks_like_a_formula_or_a_number_stays_text() -> None:
    class Entry:
        id = 7
        requesting_department = '=HYPERLINK("http://x")'
        subject_integrated_number = "012345678901234"

    columns = ["id", "requesting_department", "subject_integrated_number"]
    assert export.text_row("transfers", columns, Entry()) == [
        "7",
        '=HYPERLINK("http://x")',
        "012345678901234",
    ]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("連携記録")
    export._append(sheet, [export.text_row("transfers", columns, Entry())])
    saved = io.BytesIO()
    workbook.save(saved)
    with zipfile.ZipFile(saved) as xlsx:
        assert b"<f>" not in xlsx.read("xl/worksheets/sheet1.xml")  # written as text, not a formula
    (row,) = openpyxl.load_workbook(saved).active.iter_rows()
    assert [(c.value, c.data_type) for c in row] == [
        ("7", "s"),
        ('=HYPERLINK("http://x")', "s"),
        ("012345678901234", "s"),
    ]


def test_an_export_cut_off_leaves_no_file_behind(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download the client leaves (or a page that fails) mid-way removes the rows written so far:
    openpyxl keeps them in a temporary file of its own, otherwise removed only when the hub exits."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    entry = SimpleNamespace(
        **{**dict.fromkeys(export.TRANSFER_COLUMNS, "x"), "requested_at": utcnow(), "id": 1}
    )
    calls = 0

    async def page(_: object, after: object) -> list[SimpleNamespace]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise asyncio.CancelledError  # what Starlette does when the client goes away
        return [entry]

    async def download() -> None:
        engine = create_engine(settings.async_database_url)
        try:
            await anext(export.xlsx_chunks(create_sessionmaker(engine), "transfers", page, "requested_at"))
        finally:
            await engine.dispose()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(download())
    assert calls == 2
    wait_until(lambda: list(temporary.iterdir()) == [], timeout=5)  # removed by the export's thread


def test_the_console_exports_the_filtered_entries(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    listed = browser_client.get("/console/transfers", params={"outcome": "refused"})
    assert "Excelで書き出す" in listed.text
    assert 'href="/console/transfers.xlsx?outcome=refused"' in listed.text
    everything = browser_client.get("/console/transfers.xlsx")
    assert everything.status_code == 200
    assert everything.headers["content-type"] == export.XLSX_MEDIA_TYPE
    header, *body = workbook_rows(everything.content)
    assert header == list(export.TRANSFER_COLUMNS.values()) and len(body) == 2
    assert all(isinstance(cell, str) for line in body for cell in line if cell is not None)
    table = [dict(zip(header, line, strict=True)) for line in body]
    assert {cells["団体内統合宛名番号"] for cells in table} == {seeded.integrated_number}
    csv_text = browser_client.get("/console/transfers.csv").text
    assert [[cell or "" for cell in line] for line in [header, *body]] == csv_rows(csv_text)
    refused = browser_client.get("/console/transfers.xlsx", params={"outcome": "refused"})
    _, *only = workbook_rows(refused.content)
    assert [dict(zip(header, line, strict=True))["結果"] for line in only] == ["拒否"]
    bad = browser_client.get("/console/transfers.xlsx", params={"unit": "<b>"})
    assert bad.status_code == 400 and "<b>" not in bad.text
    for content in (everything.content, refused.content):
        assert MY_NUMBER not in str(workbook_rows(content))
    assert [entry[:3] for entry in operations(database_url, "audit.transfers_xlsx")] == [
        ("console:kansa", "auditor", "ok"),
        ("console:kansa", "auditor", "ok"),
        ("console:kansa", "auditor", "refused"),
    ]
    recorded = " ".join(str(row) for row in rows(database_url, "SELECT * FROM operations"))
    assert MY_NUMBER not in recorded


def test_an_operator_may_not_export(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "operator", "unyou")
    refused = browser_client.get("/console/transfers.xlsx")
    assert refused.status_code == 403 and "権限がありません" in refused.text
