"""Listings: a table for people that never cuts a value short, or ``--json`` for programs.

Rich fits a table to the console, and a console that is not a terminal is 80 columns wide: piped
into grep or a file, ids and reception numbers came out as ``20261201…``. Piped, a table is now as
wide as its longest row, one row a line; on a terminal a value too long for it wraps in its cell.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from platform_hub.kit.clock import for_people

Record = Mapping[str, Any]
# A column: the record's key it shows, or how to make its cell from the record.
Cell = str | Callable[[Record], object]
UNLIMITED = 100_000  # columns of a console that is not a terminal

JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON array on stdout (times ISO 8601 in UTC, with Z).")
]


def print_listing(records: Sequence[Record], columns: Mapping[str, Cell], *, as_json: bool) -> None:
    """``records`` as one JSON array with times as the API gives them (UTC, ``Z``: docs/time.md), or
    as a table of ``columns`` (header → cell) with times as the city's clock shows them."""
    if as_json:
        typer.echo(json.dumps([dict(record) for record in records], ensure_ascii=False, default=_json))
        return
    table = Table(*(Column(header, overflow="fold") for header in columns))
    for record in records:
        table.add_row(
            *(_cell(cell(record) if callable(cell) else record.get(cell)) for cell in columns.values())
        )
    listing_console().print(table)


def listing_console() -> Console:
    """Standard output as rich sees it, once per listing: whether it is a terminal is known only when
    the command runs (a test runner or a pipe swaps it)."""
    return Console(width=None if sys.stdout.isatty() else UNLIMITED, highlight=False)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return for_people(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _json(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a listing")
