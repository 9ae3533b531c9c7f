"""How fast the console's pages answer on a large transfer record, over HTTP as a browser asks.

The record is the one ``benchmarks.audit`` writes (its builder: N entries COPYed with their digests,
every one chained), plus a few persons of the registry for the やりとり履歴 page (it opens only for a
person the registry knows; they have no 個人番号). The hub runs as a process of its own (``python -m
platform_hub.cli serve``); an admin account (every page opens to it) is made with ``platform-hub
accounts create`` and signs in over HTTP with its password, its TOTP code (pyotp) and the form's
CSRF token, changing its initial password first as every new account must. Then each page is asked
for ``--times`` times (20) one after the other, after one untimed request, and its p50 / p99 is
printed beside the goal "< 1000 ms" (the performance issue: the console's pages answer in well under
a second on 10,000,000 entries). The periods asked for lie in the record (it spans 200 days from
2026-04-01): a month of 連携記録 with its chart, a week filtered by interface and unit, one person's
entries, a day's Excel workbook, a month's 条例適合性, a day's 日次報告. ``--keep`` leaves the database for
``--reuse``, which times the pages again without writing the record anew. The figures go to
``results/console.json`` (``pages``: each page's p50 / p99, ``slowest_p99_ms``), or to ``--json-out
FILE`` instead.

python -m benchmarks.console [--entries N] [--times K] [--keep | --reuse] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pyotp
import sqlalchemy as sa

from benchmarks import audit, goals
from benchmarks.__main__ import pad, width
from benchmarks.common import RESULTS, fresh_database, kept_database, percentiles
from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work
from platform_hub.kit.settings import BUNDLED_SPECS, DEMO_ORDINANCE
from platform_hub.models import Person, PersonVersion
from platform_hub.ordinance.service import load_file
from platform_hub.protocol.catalog import load_catalog
from platform_hub.protocol.registry import ResidentStatus
from tests.helpers import answers, free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]
DATABASE = "ph_bench_console"
HISTORY_PERSONS = 20  # the やりとり履歴 page is asked for each in turn
GOAL = goals.CONSOLE_PAGE_P99_MS


def pages(references: list[str]) -> list[tuple[str, list[str]]]:
    """Each page timed, and the URLs asked for it in turn. The record begins on 2026-04-01."""
    first = audit.START.date()
    month = (first + dt.timedelta(days=61), first + dt.timedelta(days=90))  # June
    week = (first + dt.timedelta(days=70), first + dt.timedelta(days=76))
    day = (first + dt.timedelta(days=75)).isoformat()
    return [
        ("/console", ["/console"]),
        ("/console/transfers (last 30 days)", ["/console/transfers"]),
        (
            "/console/transfers a month, chart",
            [f"/console/transfers?from={month[0]}&to={month[1]}"],
        ),
        (
            "/console/transfers interface+unit, a week",
            [f"/console/transfers?interface=IF_ZEI_0001&unit=011&from={week[0]}&to={week[1]}"],
        ),
        (
            "/console/transfers?integrated_number=",
            [f"/console/transfers?integrated_number={r}" for r in references],
        ),
        ("/console/transfers.xlsx a day", [f"/console/transfers.xlsx?from={day}&to={day}"]),
        ("/console/persons/{reference}", [f"/console/persons/{r}" for r in references]),
        ("/console/compliance a month", ["/console/compliance?from=2026-05-01&to=2026-05-31"]),
        ("/console/verification", ["/console/verification"]),
        ("/console/operations", ["/console/operations"]),
        ("/console/operations/reports", ["/console/operations/reports"]),
        ("/console/daily a day", [f"/console/daily?day={day}"]),
        ("/console/deliveries", ["/console/deliveries"]),
        ("/console/units", ["/console/units"]),
    ]


# --- the record and the registry --------------------------------------------------------------------


def build(url: str, entries: int, persons: int) -> None:
    """benchmarks.audit's record (every entry chained: the hub's sealer has nothing left to do while
    the pages are timed), then the persons the やりとり履歴 page opens."""
    asyncio.run(load_file(url, load_catalog(BUNDLED_SPECS), DEMO_ORDINANCE.read_bytes(), actor="bench"))
    audit.load(url, entries, persons, entries)
    asyncio.run(add_persons(url, entries))


async def add_persons(url: str, entries: int) -> None:
    """The persons named by entries spread over the record, each with a 団体内統合宛名番号 and their
    基本4情報 (and no 個人番号)."""
    engine = create_engine(url)
    step = max(1, entries // HISTORY_PERSONS)
    async with engine.connect() as connection:
        found = await connection.execute(
            sa.text("SELECT DISTINCT subject_integrated_number FROM transfer_records WHERE id = ANY(:ids)"),
            {"ids": list(range(1, entries + 1, step))[:HISTORY_PERSONS]},
        )
        numbers = sorted(row[0] for row in found)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        for n, number in enumerate(numbers, 1):
            person = Person(integrated_number=number, restricted_attributes=[])
            person.versions.append(
                PersonVersion(
                    valid_from=dt.date(2020, 1, 1),
                    name=f"計測 太郎{n}",
                    name_kana=f"ケイソク タロウ{n}",
                    birth_date="1980-01-01",
                    sex="1",
                    address="本町一丁目1番1号",
                    status=ResidentStatus.RESIDENT,
                    name_key=f"計測太郎{n}",
                    address_key="本町一丁目1番1号",
                )
            )
            session.add(person)
    await engine.dispose()


def references(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            sa.text("SELECT integrated_number FROM persons WHERE integrated_number IS NOT NULL ORDER BY id")
        )
        numbers = [row[0] for row in found][:HISTORY_PERSONS]
    engine.dispose()
    assert numbers, "the database holds no persons: build it anew (without --reuse)"
    return numbers


# --- the hub and the signed-in browser --------------------------------------------------------------


@contextmanager
def hub(url: str, keys: Path, log: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The hub serving the database, a process of its own (its output in ``log``); its base URL and
    environment."""
    settings = {
        "DATABASE_URL": url,
        "KEY_FILE": str(keys / "keys.json"),
        "SIGNING_KEY_FILE": str(keys / "signing.pem"),
        "LOG_LEVEL": "WARNING",
    }
    env = {**os.environ, **{f"PLATFORM_HUB_{name}": value for name, value in settings.items()}}
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        command = [sys.executable, "-m", "platform_hub.cli", "serve", "--port", str(port)]
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=output, stderr=output)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: answers(f"{base}/healthz") or process.poll() is not None, timeout=120)
            if process.poll() is not None:
                raise SystemExit(f"the hub exited ({process.returncode}): see {log}")
            yield base, env
        finally:
            process.terminate()
            process.wait(15)


def signed_in(base: str, env: dict[str, str]) -> httpx.Client:
    """A browser signed in as a new admin account (``platform-hub accounts create``)."""
    login = f"bench-{int(time.time())}"  # a --reuse run finds the earlier runs' accounts there
    command = [sys.executable, "-m", "platform_hub.cli", "accounts", "create", login, "--role", "admin"]
    done = subprocess.run(
        [*command, "--name", "計測 太郎"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"platform-hub accounts create failed: {done.stderr.strip()}")
    fields = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    totp = pyotp.parse_uri(fields["totp_uri"])
    assert isinstance(totp, pyotp.TOTP), "the account's second factor is a TOTP"
    browser = httpx.Client(base_url=base, timeout=300)
    form = browser.get("/console/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and token, form.status_code
    data = {"csrf": token[1], "login": login, "password": fields["initial_password"], "code": totp.now()}
    answer = browser.post("/console/signin", data=data)
    if answer.status_code != 303:
        raise SystemExit(f"signing in was answered {answer.status_code}")
    if answer.headers["location"] == "/console/password":  # a new account changes its password first
        change_password(browser, fields["initial_password"])
    return browser


def change_password(browser: httpx.Client, initial: str) -> None:
    form = browser.get("/console/password")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and token, form.status_code
    new = secrets.token_urlsafe(18)  # nobody signs in with it again: each run makes its own account
    data = {"csrf": token[1], "current": initial, "new": new, "confirmation": new}
    answer = browser.post("/console/password", data=data)
    if answer.status_code != 303:
        raise SystemExit(f"changing the initial password was answered {answer.status_code}")


# --- timing -----------------------------------------------------------------------------------------


def time_pages(browser: httpx.Client, asked: list[tuple[str, list[str]]], times: int) -> dict[str, Any]:
    """Each page ``times`` times, one request after the other (the whole answer read), after one
    untimed request; any answer other than 200 stops the benchmark."""
    figures: dict[str, Any] = {}
    for name, urls in asked:
        samples = []
        for n in range(times + 1):
            url = urls[n % len(urls)]
            started = time.perf_counter()
            answer = browser.get(url)
            elapsed = time.perf_counter() - started
            if answer.status_code != 200:
                raise SystemExit(f"{name}: answered {answer.status_code}")
            if n:
                samples.append(elapsed)
            elif name.startswith("/console/persons/") and (
                "計測 太郎" not in answer.text or "記録はありません" in answer.text
            ):
                raise SystemExit(f"{name}: the person's history is not on the page")
        figures[name] = {**percentiles(samples), "bytes": len(answer.content)}
        print(f"  {name}: p50 {figures[name]['p50_ms']} ms, p99 {figures[name]['p99_ms']} ms", flush=True)
    return figures


def measure(url: str, times: int, keys: Path, log: Path) -> dict[str, Any]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:  # the ids are 1… (a --reuse run may not be told N)
        entries = connection.execute(sa.text("SELECT count(*) FROM transfer_chain")).scalar_one()
    engine.dispose()
    with hub(url, keys, log) as (base, env):
        browser = signed_in(base, env)
        try:
            timed = time_pages(browser, pages(references(url)), times)
        finally:
            browser.close()
    return {
        "entries": entries,
        "times": times,
        "pages": timed,
        "slowest_p99_ms": max(figure["p99_ms"] for figure in timed.values()),
    }


def table(results: dict[str, Any]) -> str:
    header = ("page", "p50 ms", "p99 ms", "goal (p99)", "met?")
    rows = [header] + [
        (name, f"{f['p50_ms']:,.1f}", f"{f['p99_ms']:,.1f}", GOAL.text, GOAL.met(f["p99_ms"]))
        for name, f in results["pages"].items()
    ]
    widths = [max(width(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join([*(pad(r[i], widths[i]) for i in range(4)), r[4]]).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in [*widths, 4]))
    return "\n".join(lines)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--persons", type=int, default=200_000, help="persons the entries are spread over")
    parser.add_argument("--times", type=int, default=20, help="requests timed per page")
    parser.add_argument("--keep", action="store_true", help="keep the database for --reuse")
    parser.add_argument("--reuse", action="store_true", help="time the database a --keep run left")
    parser.add_argument("--database", default=DATABASE, help=f"the database's name ({DATABASE})")
    parser.add_argument("--json-out", type=Path, help="write the figures to this file (JSON) instead")
    args = parser.parse_args()
    # Kept beside a kept database (its operations record is MACed with them), one folder per database.
    keys, log = RESULTS / f"{args.database}-keys", RESULTS / "logs" / "console" / f"{args.database}.log"
    if args.reuse:
        results = measure(kept_database(args.database), args.times, keys, log)
    else:
        shutil.rmtree(keys, ignore_errors=True)
        keys.mkdir(parents=True)
        with fresh_database(args.database, keep=args.keep) as url:
            started = time.perf_counter()
            build(url, args.entries, args.persons)
            print(f"wrote {args.entries:,} entries in {time.perf_counter() - started:.0f} s", flush=True)
            results = measure(url, args.times, keys, log)
    print(f"\nthe console on a record of {results['entries']:,} entries (the goal is stated for 10,000,000),")
    per_day = results["entries"] // 200  # the record spans 200 days
    print(f"each page {results['times']} times, one request after the other (a day of the record holds")
    print(f"about {per_day:,} entries, a month {per_day * 30:,}):\n")
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    out = args.json_out or RESULTS / "console.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
