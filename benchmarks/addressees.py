"""The addressee registry at city scale: import speed and search latency on PostgreSQL.

Generates N residents with Faker (ja_JP, one seed), writes them as the CSV exports of three units
(001, 002 and 011, each with its own 宛名番号 and the shared 個人番号), imports them with the same
code as ``platform-hub addressees import`` (so 3·N links), then times searches in-process.
Goals: My Number p99 ≤ 2 ms, exact 基本4情報 p99 ≤ 5 ms, partial name + birth date p99 ≤ 20 ms (each
lookup one statement), import ≥ 10,000 rows/s. No My Number is ever printed. ``--keep`` leaves the
database for ``--reuse``, which times the searches again without generating and importing anew.

"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import random
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from faker import Faker
from stdnum.jp import in_ as my_number_format

from benchmarks.common import RESULTS, fresh_database, kept_database, percentiles
from platform_hub.addressees import views
from platform_hub.addressees.access import Caller
from platform_hub.addressees.importer import COLUMNS, import_csv
from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work
from platform_hub.kit.vault import generate_key_file, load_vault
from platform_hub.protocol.numbers import atena_number
from platform_hub.protocol.registry import SearchRequest

UNITS = {"001": 0, "002": 10_000_000, "011": 20_000_000}  # each unit numbers from its own range


def residents(count: int, seed: int = 20261126) -> list[dict[str, str]]:
    fake, rng = Faker("ja_JP"), random.Random(seed)
    Faker.seed(seed)
    last = [fake.last_name_pair() for _ in range(2000)]
    first = [fake.first_name_pair() for _ in range(2000)]
    towns = [fake.city() + fake.town() for _ in range(3000)]
    people = []
    for n in range(count):
        (last_kanji, last_kana, _), (first_kanji, first_kana, _) = rng.choice(last), rng.choice(first)
        body = f"{rng.randrange(10**10, 10**11):011d}"
        people.append(
            {
                "my_number": body + my_number_format.calc_check_digit(body),
                "name": f"{last_kanji}　{first_kanji}",
                "name_kana": f"{last_kana}　{first_kana}",
                "birth_date": (date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 70))).isoformat(),
                "sex": rng.choice("12"),
                "address": rng.choice(towns)
                + f"{rng.randint(1, 9)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号",
                "municipality_code": "131016",
                "status": "resident",
                "valid_from": "2020-01-01",
                "n": str(n),
            }
        )
    return people


def unit_csv(people: list[dict[str, str]], unit: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for person in people:
        writer.writerow({**person, "atena_number": atena_number(UNITS[unit] + int(person["n"]) + 1)})
    return out.getvalue()


DATABASE = "ph_bench"
# The umbrella benchmark reads these p99 keys at the top level of addressees.json.
GOALS = {"my_number": ("my_number_p99_ms", 2), "exact_basic4": ("exact_p99_ms", 5)}
GOALS["partial_name_birth"] = ("partial_p99_ms", 20)


async def run(persons: int, queries: int, url: str, workdir: Path, *, reuse: bool) -> dict[str, Any]:
    people = residents(persons)
    key_file = workdir / "bench-keys.json"  # kept beside the database a --keep run leaves
    if not reuse:
        key_file.unlink(missing_ok=True)
        generate_key_file(key_file)
    vault = load_vault(key_file)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    sessions = create_sessionmaker(engine)
    results: dict[str, Any] = {"persons": persons}
    for unit in UNITS if not reuse else ():
        text = unit_csv(people, unit)
        started = time.perf_counter()
        report = await import_csv(sessions, vault, unit, io.StringIO(text), actor="bench")
        elapsed = time.perf_counter() - started
        assert not report.errors, report.errors[:3]
        results[f"import_{unit}_rows_per_s"] = round(report.rows / elapsed)
        print(
            f"import {unit}: {report.rows} rows in {elapsed:.1f} s = {report.rows / elapsed:,.0f} rows/s "
            f"({report.created} created, {report.linked} linked)",
            flush=True,
        )
    async with engine.connect() as connection:
        await connection.execute(sa.text("ANALYZE"))
        await connection.commit()
    rng = random.Random(7)
    sample = rng.sample(people, queries)
    staff = Caller(client_id="bench", unit=None)  # the My Number office: no ordinance decision to time
    kinds = {
        "my_number": lambda p: SearchRequest(my_number=p["my_number"]),
        "exact_basic4": lambda p: SearchRequest(
            name=p["name"],
            name_kana=p["name_kana"],
            birth_date=p["birth_date"],
            sex=p["sex"],
            address=p["address"],
        ),
        "partial_name_birth": lambda p: SearchRequest(
            name=p["name"].split("　")[0], birth_date=p["birth_date"], match="partial"
        ),
    }
    for kind, build in kinds.items():
        timings = []
        for person in sample:
            request = build(person)
            started = time.perf_counter()
            async with unit_of_work(sessions) as session:
                found, _ = await views.search(session, vault, request, staff)
            timings.append(time.perf_counter() - started)
            assert found, f"{kind}: a generated person was not found"
        results[kind] = percentiles(timings)
        results[GOALS[kind][0]] = results[kind]["p99_ms"]
        print(f"search {kind}: {results[kind]}", flush=True)
    await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the database, its key file, for --reuse")
    parser.add_argument("--reuse", action="store_true", help="time the searches on what a --keep run left")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.reuse:
        results = asyncio.run(run(args.persons, args.queries, kept_database(DATABASE), RESULTS, reuse=True))
    else:
        with fresh_database(DATABASE, keep=args.keep) as url:
            results = asyncio.run(run(args.persons, args.queries, url, RESULTS, reuse=False))
    if not args.keep:
        (RESULTS / "bench-keys.json").unlink(missing_ok=True)
    print(f"\n{'measure':<28}{'p50 / figure':>14}{'p99':>10}{'goal':>12}")
    for unit in UNITS:
        if f"import_{unit}_rows_per_s" in results:
            rate = results[f"import_{unit}_rows_per_s"]
            print(f"{'import ' + unit + ' rows/s':<28}{rate:>14,}{'':>10}{'≥ 10,000':>12}")
    for kind, (_, goal) in GOALS.items():
        figures = results[kind]
        print(f"{kind + ' ms':<28}{figures['p50_ms']:>14}{figures['p99_ms']:>10}{'p99 ≤ ' + str(goal):>12}")
    (RESULTS / "addressees.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
