"""Both records as CSV for people: what Excel and LibreOffice Calc open as it is (docs/records.md);
and as an Excel workbook (xlsx), where every cell is text.

- UTF-8 with a BOM, CRLF, Japanese headers, in the order a spreadsheet shows them.
- Codes are text: a code column's cell is written ``="011"``, a formula whose value is the text, so
  a spreadsheet keeps the leading zeros of a 団体内統合宛名番号 or a unit code, and does not turn a
  reception number into ``2.03E+25`` or a hex digest into a number.
- Any other text that would start a formula (``= + - @``) gets a leading ``'``: senders write some
  fields, and a spreadsheet must never run one.
- Times are the city's clock, ``2026-12-01 09:30:00`` (kit.clock), which spreadsheets read as times.
- The item list is joined with ``；`` (full-width semicolon), which no item name holds (the catalog's
  names hold ``・``).
- 方式 and 結果 are words (照会, 提供 …); the JSON keeps the stored values.

The workbook (``xlsx_chunks``) has the same headers and rows, on one sheet (連携記録, 操作記録), each
cell a string cell formatted as text (``@``): no ``="…"`` nor ``'`` is needed there, since a
string cell is never a number nor a formula.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import ALL_TEMP_FILES
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_hub.audit.repository import Position
from platform_hub.kit.clock import city_zone
from platform_hub.kit.database import unit_of_work
from platform_hub.models import OperationOutcome, TransferOutcome, TransferPattern

Record = Literal["transfers", "operations"]
ITEM_SEPARATOR = "；"
_EXCEL_STRING_LIMIT = 255  # the longest text constant an Excel formula holds

TRANSFER_COLUMNS = {  # column → Japanese header, in the order Excel shows them
    "id": "記録番号",
    "reception_number": "受付番号",
    "msgid": "MSGID",
    "interface_id": "インターフェイスID",
    "pattern": "方式",
    "requesting_unit": "照会元ユニット",
    "requesting_organ": "照会元機関",
    "requesting_department": "照会元部署",
    "requesting_user": "照会者",
    "providing_unit": "提供元ユニット",
    "providing_organ": "提供元機関",
    "purpose_code": "事務",
    "ordinance_rule_id": "条例の根拠",
    "refusal_reason": "拒否・失敗の理由",
    "information_category": "情報の種別",
    "item_names": "項目",
    "subject_integrated_number": "団体内統合宛名番号",
    "requested_at": "照会日時",
    "provided_at": "提供日時",
    "outcome": "結果",
    "body_digest": "電文ダイジェスト",
    "binding": "連携方式",
    "onward_binding": "転送先連携方式",
    "entry_digest": "記録ダイジェスト",
}
OPERATION_COLUMNS = {
    "id": "記録番号",
    "at": "日時",
    "client_id": "クライアント",
    "role": "役割",
    "unit_code": "ユニット",
    "department": "部署",
    "clerk": "操作者",
    "action": "操作",
    "subject_integrated_number": "団体内統合宛名番号",
    "outcome": "結果",
    "detail": "内容",
    "parameters": "条件",
    "entry_digest": "記録ダイジェスト",
}
# Codes, numbers as text, and what senders choose (MSGID, 部署, 操作者): kept as text.
_CODES = frozenset(
    {
        "reception_number",
        "msgid",
        "interface_id",
        "requesting_unit",
        "requesting_department",
        "requesting_user",
        "providing_unit",
        "purpose_code",
        "ordinance_rule_id",
        "subject_integrated_number",
        "body_digest",
        "entry_digest",
        "client_id",
        "unit_code",
        "department",
        "clerk",
    }
)
_WORDS: Mapping[Record, Mapping[str, Mapping[str, str]]] = {  # record → column → stored value → word
    "transfers": {
        "pattern": {kind.value: kind.ja for kind in TransferPattern},
        "outcome": {kind.value: kind.ja for kind in TransferOutcome},
    },
    "operations": {"outcome": {kind.value: kind.ja for kind in OperationOutcome}},
}


def join_items(names: Iterable[str]) -> str:
    return ITEM_SEPARATOR.join(names)


def split_items(cell: str) -> list[str]:
    """The item names of a CSV cell (``join_items`` undone)."""
    return cell.split(ITEM_SEPARATOR) if cell else []


def row(record: Record, columns: Iterable[str], entry: object) -> list[str]:
    """One entry of ``record`` (``transfers`` or ``operations``) as CSV cells."""
    words = _WORDS[record]
    return [_cell(column, getattr(entry, column), words.get(column)) for column in columns]


def cell(value: object, *, code: bool = False) -> str:
    """One cell by the rules above, outside a record's columns (the daily report's): a time in the
    city's clock, a ``code`` kept as text, no text that would start a formula."""
    return _cell("reception_number" if code else "", value, None)


def _cell(column: str, value: object, words: Mapping[str, str] | None) -> str:
    if isinstance(value, list):
        return _text(join_items(map(str, value)))
    if isinstance(value, str) and (words is None or value not in words):
        if column in _CODES and len(value) <= _EXCEL_STRING_LIMIT:
            return '="' + value.replace('"', '""') + '"'
        return _text(value)
    return _plain(value, words)


def _plain(value: object, words: Mapping[str, str] | None) -> str:
    """A value as the text a person reads: times on the city's clock, stored values as words."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(city_zone()).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list):
        return join_items(map(str, value))
    if words is not None and isinstance(value, str) and value in words:
        return words[value]
    return str(value)


def _text(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def text_row(record: Record, columns: Iterable[str], entry: object) -> list[str]:
    """One entry of ``record`` as the workbook's text cells: the CSV's values without its guards."""
    words = _WORDS[record]
    return [_plain(getattr(entry, column), words.get(column)) for column in columns]


Page = Callable[[AsyncSession, Position | None], Awaitable[Sequence[Any]]]


async def _pages(
    sessions: async_sessionmaker[AsyncSession], page: Page, moment: str
) -> AsyncIterator[Sequence[Any]]:
    """Each page of entries, read in a session of its own (none held open while the client reads)."""
    after: Position | None = None
    while True:
        async with unit_of_work(sessions) as reading:
            entries = await page(reading, after)
        if not entries:
            return
        yield entries
        after = Position(getattr(entries[-1], moment), entries[-1].id)


async def csv_text(
    sessions: async_sessionmaker[AsyncSession], record: Record, page: Page, moment: str
) -> AsyncIterator[str]:
    """Entries of ``record`` as CSV text — the header first, then a page of entries at a time, each
    page read in a session of its own (none held open while the client reads). ``moment``: the time
    column the pages run by (``requested_at``, ``at``)."""
    columns = TRANSFER_COLUMNS if record == "transfers" else OPERATION_COLUMNS
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns.values())
    yield codecs.BOM_UTF8.decode() + buffer.getvalue()
    async for entries in _pages(sessions, page, moment):
        buffer.seek(0)
        buffer.truncate()
        for entry in entries:
            writer.writerow(row(record, columns, entry))
        yield buffer.getvalue()


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_TITLES: Mapping[Record, str] = {"transfers": "連携記録", "operations": "操作記録"}
_CHUNK = 64 * 1024


async def xlsx_chunks(
    sessions: async_sessionmaker[AsyncSession], record: Record, page: Page, moment: str
) -> AsyncIterator[bytes]:
    """Entries of ``record`` as an Excel workbook, in chunks. The rows go a page at a time into a
    write-only workbook (which keeps them in a temporary file, not in memory); the finished file is
    then sent in chunks. An xlsx is a zip whose directory comes last, so nothing can go out before
    the last page is read."""
    columns = TRANSFER_COLUMNS if record == "transfers" else OPERATION_COLUMNS
    workbook = Workbook(write_only=True)
    sheets = _Sheets(workbook, SHEET_TITLES[record], list(columns.values()))
    loop = asyncio.get_running_loop()
    # The workbook's work in a thread, so that other requests go on meanwhile (a page's cells cost
    # openpyxl ~0.2 ms a row, the zip is CPU too); one thread, so that it is done in order: a sheet
    # is no object for two threads, and a discard must follow the page being appended.
    worker = ThreadPoolExecutor(1, thread_name_prefix="xlsx")
    try:
        try:
            async for entries in _pages(sessions, page, moment):
                rows = [text_row(record, columns, entry) for entry in entries]
                await loop.run_in_executor(worker, sheets.append, rows)
        except BaseException:  # the client gone (cancelled) or a page failed: no rows left on the disk
            worker.submit(sheets.discard)
            raise
        with tempfile.TemporaryFile() as file:
            await loop.run_in_executor(worker, workbook.save, file)
            file.seek(0)
            while chunk := file.read(_CHUNK):
                yield chunk
    finally:
        worker.shutdown(wait=False)  # what was submitted still runs; the loop does not wait for it


SHEET_ROWS = 1_048_575  # Excel opens no sheet of more rows than 1,048,576, the header's among them


class _Sheets:
    """The workbook's sheets of one record: ``title``, then ``title (2)``, ``(3)`` … as each fills up
    (a month of a large city's record has more rows than a sheet), each headed by ``header``."""

    def __init__(self, workbook: Workbook, title: str, header: list[str]) -> None:
        self.workbook, self.title, self.header = workbook, title, header
        self.sheets: list[WriteOnlyWorksheet] = []
        self.room = 0  # rows the last sheet has left
        self._next()

    def _next(self) -> None:
        title = self.title if not self.sheets else f"{self.title} ({len(self.sheets) + 1})"
        sheet: WriteOnlyWorksheet = self.workbook.create_sheet(title)
        sheet.append([_text_cell(sheet, name) for name in self.header])
        self.sheets.append(sheet)
        self.room = SHEET_ROWS

    def append(self, rows: list[list[str]]) -> None:
        while rows:
            if not self.room:
                self._next()
            taken, rows = rows[: self.room], rows[self.room :]
            _append(self.sheets[-1], taken)
            self.room -= len(taken)

    def discard(self) -> None:
        for sheet in self.sheets:
            _discard(sheet)


def _discard(sheet: WriteOnlyWorksheet) -> None:
    """Close an unsaved sheet and remove the temporary file openpyxl keeps its rows in, which it
    would otherwise remove only as the process exits (openpyxl has no public way to drop a sheet)."""
    path: str = sheet._writer.out  # type: ignore[attr-defined]
    with contextlib.suppress(Exception):  # its XML ended, or the generator it writes by is left open
        sheet.close()
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    with contextlib.suppress(ValueError):
        ALL_TEMP_FILES.remove(path)


def _append(sheet: WriteOnlyWorksheet, rows: list[list[str]]) -> None:
    for values in rows:
        sheet.append([_text_cell(sheet, value) for value in values])


def _text_cell(sheet: WriteOnlyWorksheet, value: str) -> str | Cell:
    """A value as a text cell. openpyxl writes a str as text (``"011"`` stays ``011``) except one that
    starts with ``=``, which it would make a formula: that one alone is a cell typed as text (building
    a cell for every value would take twice as long)."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters (a sender's field) are no XML
    if not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # never a formula
    return cell
