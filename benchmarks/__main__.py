"""Every benchmark of the performance issue in one command, ending with one table: measure | figure |
goal | met?.

Each part runs as a process of its own (its own output as it goes) and writes its JSON under
``benchmarks/results/``, which this reads back:

- linkage: ``benchmarks.linkage`` on wrk (the no-op ceiling, direct, nginx, the hub; hub ÷ direct,
  the latency it adds, its CPU per query and per 住民異動, 住民異動 accepted and delivered), on SQLite
  and PostgreSQL;
- batch: ``benchmarks.batch``, N records end to end (each with its transfer entry) and the hub's
  peak RSS, on both databases;
- registry: ``benchmarks.addressees`` at N persons, the three searches' p99;
- record: ``benchmarks.audit --entries N --json-out FILE`` (its keys ``history_p99_ms``,
  ``page_p99_ms``, ``purge_month_s``; one that is missing is "not measured");
- console: ``benchmarks.console --entries N --json-out FILE``, each console page's p99 over HTTP on a
  record of N entries (a record of its own: the record part purges a month of its).

Every figure is labelled with the size it was measured at: a smaller run never stands for the
goal's size. ``--quick`` is a smoke run (3 s per wrk row, 10,000 records, 20,000 persons, 200,000
entries); ``--only linkage,batch`` picks parts. Exit status 1 when a part failed, not when a goal
is missed.

python -m benchmarks [--quick] [--only linkage,batch,registry,record,console]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import goals
from benchmarks.common import RESULTS

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTS = ("linkage", "batch", "registry", "record", "console")
DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
RECORD_GOAL_ENTRIES = 100_000_000
CONSOLE_GOAL_ENTRIES = 10_000_000


@dataclass(frozen=True)
class Row:
    measure: str
    figure: str
    goal: str = ""
    met: str = ""


def row(measure: str, value: float | None, unit: str, goal: goals.Goal | None = None) -> Row:
    if value is None:
        return Row(measure, "not measured", goal.text if goal else "", "—" if goal else "")
    figure = f"{value:,.3f}" if unit == "" else f"{value:,.2f} {unit}" if unit != "/s" else f"{value:,.1f}/s"
    return Row(measure, figure, goal.text if goal else "", goal.met(value) if goal else "")


def failed(measure: str, why: str) -> Row:
    return Row(measure, f"FAILED ({why})", "", "—")


def run_part(command: list[str], results: Path, started: float) -> dict[str, Any] | str:
    """The part's JSON, or why there is none. The part's own output goes to the terminal."""
    print(f"\n== {' '.join(command)}", flush=True)
    done = subprocess.run([sys.executable, "-m", *command], cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        return f"exit {done.returncode}"
    if not results.exists() or results.stat().st_mtime < started:
        return f"no fresh {results.name}"
    data: dict[str, Any] = json.loads(results.read_text())
    return data


# --- the parts ------------------------------------------------------------------------------------


def linkage(args: argparse.Namespace) -> list[Row]:
    command = ["benchmarks.linkage", "--seconds", f"{args.seconds:g}", "--connections", str(args.connections)]
    data = run_part(command, RESULTS / "linkage.json", time.time())
    at = f"{args.connections} connections, {args.seconds:g} s"
    if isinstance(data, str):
        return [failed(f"linkage ({at})", data)]
    rows = []
    for key, name in DATABASES.items():
        figures = data.get(key)
        if figures is None:
            rows.append(failed(f"linkage, {name}", "not in linkage.json"))
            continue
        on = f"{name}, {at}"
        pg = key == "postgresql"
        rows += [
            row(f"no-op ceiling (wrk alone), {on}", figures["noop_per_s"], "/s"),
            row(f"queries direct to the provider, {on}", figures["direct_per_s"], "/s"),
            row(f"queries through nginx to the provider, {on}", figures["nginx_per_s"], "/s"),
            row(f"nginx ÷ direct, {on}", figures["nginx_over_direct"], ""),
            row(f"queries through the hub, {on}", figures["hub_queries_per_s"], "/s"),
            row(f"hub ÷ direct, queries (wrk), {on}", figures["hub_over_direct"], "", goals.HUB_OVER_DIRECT),
            row(f"hub CPU per query, {name}", figures["hub_cpu_ms_per_query"], "ms", goals.CPU_PER_QUERY_MS),
            row(
                f"hub CPU per notification (until delivered), {name}",
                figures["hub_cpu_ms_per_notification"],
                "ms",
                goals.CPU_PER_NOTIFICATION_MS,
            ),
            row(f"latency the hub adds, p50, {on}", figures["added_p50_ms"], "ms", goals.ADDED_P50_MS),
            row(f"latency the hub adds, p99, {on}", figures["added_p99_ms"], "ms", goals.ADDED_P99_MS),
            row(
                f"住民異動 accepted durably, {name}",
                figures["notifications_accepted_per_s"],
                "/s",
                goals.ACCEPTED_PER_S if pg else None,
            ),
            row(
                f"住民異動 delivered to two subscribers, {name}",
                figures["notifications_delivered_per_s"],
                "/s",
                goals.DELIVERED_PER_S,
            ),
        ]
    return rows


def batch(args: argparse.Namespace) -> list[Row]:
    data = run_part(["benchmarks.batch", "--count", str(args.count)], RESULTS / "batch.json", time.time())
    size = f"{args.count:,} records"
    if isinstance(data, str):
        return [failed(f"batch, {size}", data)]
    rows = []
    for key, name in DATABASES.items():
        if (figures := data.get(key)) is None:
            continue
        rows += [
            row(
                f"batch, {size} end to end (per-record entries), {name}",
                figures["records_end_to_end_per_s"],
                "/s",
                goals.BATCH_PER_S,
            ),
            row(f"batch, {size}: hub peak RSS, {name}", figures["hub_peak_rss_mb"], "MB", goals.BATCH_RSS_MB),
        ]
    return rows


def first(data: dict[str, Any], flat: str, nested: str) -> float | None:
    """``data[flat]``, else ``data[nested]["p99_ms"]`` (the older layout of addressees/audit.json)."""
    if data.get(flat) is not None:
        return float(data[flat])
    if isinstance(data.get(nested), dict) and data[nested].get("p99_ms") is not None:
        return float(data[nested]["p99_ms"])
    return None


def p99_rows(size: str, data: dict[str, Any], measures: list[tuple[str, str, str, goals.Goal]]) -> list[Row]:
    """A row for each ``(measure, key, older key, goal)``: its p99 in milliseconds beside its goal."""
    return [
        row(f"{size}: {measure}, p99", first(data, key, older), "ms", goal)
        for measure, key, older, goal in measures
    ]


def registry(args: argparse.Namespace) -> list[Row]:
    command = ["benchmarks.addressees", "--persons", str(args.persons)]
    data = run_part(command, RESULTS / "addressees.json", time.time())
    size = f"registry at {args.persons:,} persons"
    if isinstance(data, str):
        return [failed(size, data)]
    return p99_rows(
        size,
        data,
        [
            ("My Number", "my_number_p99_ms", "my_number", goals.MY_NUMBER_P99_MS),
            ("exact 基本4情報", "exact_p99_ms", "exact_basic4", goals.EXACT_P99_MS),
            ("partial name + birth date", "partial_p99_ms", "partial_name_birth", goals.PARTIAL_P99_MS),
        ],
    )


def record(args: argparse.Namespace) -> list[Row]:
    """Through benchmarks.audit's command line (``--entries N --json-out FILE``)."""
    size = f"record at {args.entries:,} entries"
    if args.entries < RECORD_GOAL_ENTRIES:
        size += f" (goal at {RECORD_GOAL_ENTRIES:,})"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "audit.json"
        command = ["benchmarks.audit", "--entries", str(args.entries), "--json-out", str(out)]
        data = run_part(command, out, time.time())
    if isinstance(data, str):
        return [failed(size, data)]
    purge = data.get("purge_month_s")
    return [
        *p99_rows(
            size,
            data,
            [
                ("person history", "history_p99_ms", "person_history", goals.HISTORY_P99_MS),
                ("filtered page", "page_p99_ms", "filtered_page", goals.PAGE_P99_MS),
            ],
        ),
        row(f"{size}: purge of a month", None if purge is None else float(purge), "s", goals.PURGE_MONTH_S),
    ]


def console(args: argparse.Namespace) -> list[Row]:
    """Through benchmarks.console's command line (``--entries N --json-out FILE``): a row a page."""
    size = f"console at {args.entries:,} entries"
    if args.entries < CONSOLE_GOAL_ENTRIES:
        size += f" (goal at {CONSOLE_GOAL_ENTRIES:,})"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "console.json"
        command = ["benchmarks.console", "--entries", str(args.entries), "--json-out", str(out)]
        data = run_part(command, out, time.time())
    if isinstance(data, str):
        return [failed(size, data)]
    return [
        row(f"{size}: {page}, p99", figures.get("p99_ms"), "ms", goals.CONSOLE_PAGE_P99_MS)
        for page, figures in data.get("pages", {}).items()
    ]


RUN: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "linkage": linkage,
    "batch": batch,
    "registry": registry,
    "record": record,
    "console": console,
}


# --- the table ------------------------------------------------------------------------------------


def width(text: str) -> int:
    """Columns on a terminal: the Japanese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def table(rows: list[Row]) -> str:
    header = Row("measure", "figure", "goal", "met?")
    widths = [max(width(getattr(r, f)) for r in [header, *rows]) for f in ("measure", "figure", "goal")]
    lines = []
    for r in [header, *rows]:
        cells = [pad(r.measure, widths[0]), pad(r.figure, widths[1]), pad(r.goal, widths[2]), r.met]
        lines.append(" | ".join(cells).rstrip())
        if r is header:
            lines.append("-+-".join("-" * w for w in [*widths, 4]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, 3 s per wrk row")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts, comma-separated: {','.join(PARTS)}")
    parser.add_argument("--seconds", type=float, help="wrk's duration per row (15; --quick 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections (16)")
    parser.add_argument("--count", type=int, help="records in the batch (1,000,000; --quick 10,000)")
    parser.add_argument("--persons", type=int, help="persons in the registry (1,000,000; --quick 20,000)")
    parser.add_argument(
        "--entries",
        type=int,
        help="entries in the record and the console's (10,000,000, what one disk of this machine holds; the "
        "record's goal is stated at 100,000,000, the console's at 10,000,000; --quick 200,000)",
    )
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"no such part: {', '.join(sorted(unknown))} (the parts: {', '.join(PARTS)})")
    defaults = {"seconds": (15, 3), "count": (1_000_000, 10_000), "persons": (1_000_000, 20_000)}
    defaults["entries"] = (10_000_000, 200_000)
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    sizes = {
        "linkage": f"wrk {args.connections} connections × {args.seconds:g} s per row",
        "batch": f"batch of {args.count:,} records",
        "registry": f"registry of {args.persons:,} persons",
        "record": f"record of {args.entries:,} entries",
        "console": f"console on a record of {args.entries:,} entries",
    }
    print("measuring: " + "; ".join(sizes[p] for p in parts), flush=True)
    rows: list[Row] = []
    for part in parts:
        rows += RUN[part](args)
    print("\n" + ("quick run (--quick): " if args.quick else "") + "; ".join(sizes[p] for p in parts))
    print(table(rows))
    if any(r.figure.startswith("FAILED") for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
