"""The transfer record at scale on PostgreSQL: reading, verifying and re-checking it.

Writes N entries (default 1,000,000) straight into a fresh database with their digests and chains all
but the last ``--sealer`` of them as the sealer would (COPY; sealing 10M one batch at a time would
take most of an hour), seals the rest with the hub's own sealer (its rate is printed), then measures:
one person's history (p50/p99), a filtered page of 100 (p50/p99), verification (entries/s) and the
compliance re-check of one month (entries/s), and last the retention purge of the oldest month
through the hub's own purge (seconds: on PostgreSQL it drops that month's partitions).
Issue 4's goals, stated for 10,000,000 entries: verify ≥ 100,000 entries/s, compliance ≥ 100,000
entries/s. The partitioned record's goals, stated for 100,000,000 entries: history p99 ≤ 20 ms, page
p99 ≤ 50 ms, purge of a month ≤ 1 s. ``--json-out FILE`` writes the figures (``history_p99_ms``,
``page_p99_ms``, ``purge_month_s`` and the rest).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.common import RESULTS, fresh_database, kept_database, percentiles
from platform_hub.audit import chain, partitions, repository, service, verification
from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work
from platform_hub.kit.settings import BUNDLED_SPECS, DEMO_ORDINANCE
from platform_hub.ordinance.service import load_file
from platform_hub.protocol.catalog import load_catalog

FLOWS = [  # (interface, requester, organ, provider, purpose, category, rule)
    ("IF_ZEI_0001", "011", "市長", "002", "JDT-001", "地方税関係情報", "2026-04/U-03"),
    ("IF_ZEI_0001", "051", "教育委員会", "002", "SHU-001", "地方税関係情報", "2026-04/P-02"),
    ("IF_JUK_0001", "002", "市長", "001", "ZEI-001", "住民票関係情報", "2026-04/U-01"),
    ("IF_JUK_0001", "011", "市長", "001", "JDT-001", "住民票関係情報", "2026-04/U-02"),
]
COLUMNS = [*chain.CONTENT_FIELDS, "entry_digest"]
START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
GOALS = {"history_p99_ms": "≤ 20 ms", "page_p99_ms": "≤ 50 ms", "purge_month_s": "≤ 1 s"}


def entries(count: int, persons: int, seed: int = 4) -> Any:
    rng = random.Random(seed)
    for n in range(count):
        interface, requester, organ, provider, purpose, category, rule = rng.choice(FLOWS)
        at = START + dt.timedelta(seconds=n * (200 * 86400 / count))
        entry = SimpleNamespace(
            reception_number=f"{at:%Y%m%d%H%M%S}{n:012X}",
            msgid=f"m{n}",
            interface_id=interface,
            pattern="query" if interface == "IF_ZEI_0001" else "notification",
            requesting_unit=requester,
            requesting_organ=organ,
            requesting_department="KA-1",
            requesting_user="u1",
            providing_unit=provider,
            providing_organ="市長",
            purpose_code=purpose,
            ordinance_rule_id=rule,
            refusal_reason=None,
            information_category=category,
            item_names=["総所得金額", "扶養人数"],
            subject_integrated_number=f"{rng.randrange(persons):015d}",
            requested_at=at,
            provided_at=at,
            outcome="provided",
            body_digest="0" * 64,
            recorded_at=at,
            binding=None,  # how the message came: null, as in the entries written before it was
            onward_binding=None,
        )
        entry.entry_digest = chain.entry_digest(entry)
        yield [
            json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v
            for v in (getattr(entry, c) for c in COLUMNS)
        ]


async def make_partitions(url: str) -> None:
    """The months of the record (from April 2026), as the hub makes them ahead of time."""
    engine = create_engine(url)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        await partitions.ensure_partitions(session, dt.datetime.now(dt.UTC), since=partitions.month_of(START))
    await engine.dispose()


def load(url: str, count: int, persons: int, chained: int) -> None:
    """The entries, and the chain over the first ``chained`` of them (ids are 1… in a fresh database),
    COPYed into the parents: PostgreSQL routes each row to its month's partition."""
    raw = url.replace("postgresql+psycopg://", "postgresql://")
    asyncio.run(make_partitions(url))
    digests = []
    with psycopg.connect(raw) as connection:
        with connection.cursor().copy(f"COPY transfer_records ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in entries(count, persons):
                copy.write_row(row)
                if len(digests) < chained:
                    digests.append((row[-1], row[COLUMNS.index("requested_at")]))
        assert connection.execute("SELECT min(id), max(id) FROM transfer_records").fetchone() == (1, count)
        # The record begins in April 2026: the ordinance must have been loaded before it, not today.
        connection.execute("UPDATE ordinance_versions SET loaded_at = '2026-03-01'")
        previous, now = chain.GENESIS, dt.datetime.now(dt.UTC)
        statement = (
            "COPY transfer_chain (seq, entry_id, entry_digest, chain_hash, sealed_at, requested_at)"
            " FROM STDIN"
        )
        with connection.cursor().copy(statement) as copy:
            for seq, (digest, requested_at) in enumerate(digests, 1):
                previous = chain.chain_hash(previous, seq, digest)
                copy.write_row((seq, seq, digest, previous, now, requested_at))
    with psycopg.connect(raw, autocommit=True) as connection:  # index-only scans need the visibility map
        connection.execute("VACUUM (ANALYZE) transfer_records, transfer_chain")


async def measure(url: str, count: int, persons: int) -> dict[str, Any]:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    results: dict[str, Any] = {"entries": count}
    started, sealed = time.perf_counter(), 0
    while True:
        async with unit_of_work(sessions) as session:
            batch = await service.seal(session, None, batch=20_000)
        if not batch:
            break
        sealed += batch
    results["seal_entries_per_s"] = round(sealed / (time.perf_counter() - started)) if sealed else None
    async with engine.connect() as connection:
        await connection.execute(sa.text("ANALYZE"))
        await connection.commit()
    rng = random.Random(9)
    samples = []
    for _ in range(300):
        subject = f"{rng.randrange(persons):015d}"
        t = time.perf_counter()
        async with unit_of_work(sessions) as session:
            await repository.transfers(session, repository.TransferQuery(person=subject), None, 100)
        samples.append(time.perf_counter() - t)
    results["person_history"] = percentiles(samples)
    samples = []
    for _ in range(300):
        interface, requester, *_ = rng.choice(FLOWS)
        day = dt.datetime(2026, 4, 1, tzinfo=dt.UTC) + dt.timedelta(days=rng.randrange(190))
        query = repository.TransferQuery(  # what GET /audit/transfers?interface=&unit=&from=&to= asks
            interface=interface, unit=requester, start=day, end=day + dt.timedelta(days=7)
        )
        t = time.perf_counter()
        async with unit_of_work(sessions) as session:
            await repository.transfers(session, query, None, 100)
        samples.append(time.perf_counter() - t)
    results["filtered_page"] = percentiles(samples)
    t = time.perf_counter()
    async with unit_of_work(sessions) as session:
        verified = await verification.verify(session, None)
    assert verified.ok, verified.problems[:3]
    results["verify_entries_per_s"] = round(verified.entries / (time.perf_counter() - t))
    catalog = load_catalog(BUNDLED_SPECS)
    t = time.perf_counter()
    async with unit_of_work(sessions) as session:
        report = await service.compliance(session, catalog, dt.date(2026, 5, 1), dt.date(2026, 5, 31))
    assert not report.violations, report.violations[:2]
    results["compliance_entries_per_s"] = round(report.checked / (time.perf_counter() - t))
    results["compliance_month_entries"] = report.checked
    results.update(await purge_oldest_month(sessions))
    results["history_p99_ms"] = results["person_history"]["p99_ms"]
    results["page_p99_ms"] = results["filtered_page"]["p99_ms"]
    await engine.dispose()
    return results


async def purge_oldest_month(sessions: Any) -> dict[str, Any]:
    """The oldest month (the city's April 2026) removed by the hub's own purge, as if seven years had
    gone by; last, as it changes the record."""
    key = chain.SigningKey(Ed25519PrivateKey.generate())
    async with unit_of_work(sessions) as session:
        kept = [p.table for p in await partitions.partitions(session, "transfer_records")]
    t = time.perf_counter()
    async with unit_of_work(sessions) as session:
        done = await service.purge(
            session, dt.date(2026, 5, 1), key, retention_years=7, actor="bench", today=dt.date(2033, 6, 1)
        )
        removed = done.entries_removed
    seconds = time.perf_counter() - t
    async with unit_of_work(sessions) as session:
        left = [p.table for p in await partitions.partitions(session, "transfer_records")]
    return {
        "purge_month_s": round(seconds, 3),
        "purge_month_entries": removed,
        "purge_dropped_partitions": sorted(set(kept) - set(left)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--sealer", type=int, default=200_000, help="entries left for the hub's sealer")
    parser.add_argument("--keep", action="store_true", help="keep the database for --reuse")
    parser.add_argument("--reuse", action="store_true", help="measure the database a --keep run left")
    parser.add_argument("--json-out", type=Path, help="also write the figures to this file (JSON)")
    args = parser.parse_args()
    by_sealer = min(args.sealer, args.entries)
    if args.reuse:
        results = asyncio.run(measure(kept_database("ph_bench_audit"), args.entries, args.persons))
    else:
        with fresh_database("ph_bench_audit", keep=args.keep) as url:
            catalog = load_catalog(BUNDLED_SPECS)
            demo = (DEMO_ORDINANCE).read_bytes()
            asyncio.run(load_file(url, catalog, demo, actor="bench"))
            started = time.perf_counter()
            load(url, args.entries, args.persons, args.entries - by_sealer)
            print(f"wrote {args.entries:,} entries in {time.perf_counter() - started:.0f} s", flush=True)
            results = asyncio.run(measure(url, args.entries, args.persons))
    print(f"\nmeasured at {results['entries']:,} entries (the goals are stated for 100,000,000)")
    print(f"\n{'measure':<30}{'p50 / figure':>14}{'p99':>10}{'goal':>14}")
    for key, goal in (("person_history", GOALS["history_p99_ms"]), ("filtered_page", GOALS["page_p99_ms"])):
        print(f"{key + ' ms':<30}{results[key]['p50_ms']:>14}{results[key]['p99_ms']:>10}{'p99 ' + goal:>14}")
    print(f"{'purge_month_s':<30}{results['purge_month_s']:>14}{'':>10}{GOALS['purge_month_s']:>14}")
    print(f"{'  entries removed':<30}{results['purge_month_entries']:>14,}")
    for key in ("verify_entries_per_s", "compliance_entries_per_s", "seal_entries_per_s"):
        goal = "≥ 100,000" if not key.startswith("seal") else ""
        if results[key] is not None:
            print(f"{key:<30}{results[key]:>14,}{'':>10}{goal:>14}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit.json").write_text(json.dumps(results, indent=2))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
