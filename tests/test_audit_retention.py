"""Retention: whole expired months removed, the removal recorded, the chain still verifiable after."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from platform_hub.audit import partitions, service
from platform_hub.audit.chain import load_signing_key
from platform_hub.cli import app
from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import generate_key_file, load_vault
from tests.helpers import count_rows, drop_triggers, execute, rows


def key_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, bytes]:
    """The checkpoint key's file, and the record key of a key file, both in the command line's
    environment: the entries the tests write straight to the database carry MACs under it."""
    keys = tmp_path / "keys.json"
    generate_key_file(keys)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(keys))
    signing = tmp_path / "signing.pem"
    monkeypatch.setenv("PLATFORM_HUB_SIGNING_KEY_FILE", str(signing))
    return signing, load_vault(keys).record_key


def facts(requested_at: dt.datetime) -> service.TransferFacts:
    return service.TransferFacts(
        reception_number=f"R{requested_at:%Y%m%d}",
        msgid="m",
        interface_id="IF_ZEI_0001",
        pattern="query",
        requesting_unit="011",
        requesting_organ="市長",
        requesting_department="KODOMO-1",
        requesting_user="u1",
        providing_unit="002",
        providing_organ="市長",
        purpose_code="JDT-001",
        information_category="地方税関係情報",
        item_names=["総所得金額"],
        requested_at=requested_at,
        provided_at=requested_at,
        outcome="provided",
        body_digest="0" * 64,
        ordinance_rule_id="2026-04/U-03",
    )


def record_and_seal(
    database_url: str, key_file: Path, moments: list[dt.datetime], record_key: bytes = b"k" * 32
) -> None:
    async def run() -> None:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        sessions = create_sessionmaker(engine)
        for moment in moments:  # one transaction each, like real transfers
            async with unit_of_work(sessions) as session:
                await service.record_entries(session, facts(moment), ["000000000000019"], record_key)
        async with unit_of_work(sessions) as session:
            await service.seal(session, load_signing_key(key_file, create=True), checkpoint_every=2)
        await engine.dispose()

    asyncio.run(run())


def test_purge_removes_whole_expired_months_and_the_chain_goes_on(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file, record_key = key_files(tmp_path, monkeypatch)
    old = [dt.datetime(2015, 1, 10, tzinfo=dt.UTC), dt.datetime(2015, 1, 20, tzinfo=dt.UTC)]
    kept = [dt.datetime(2015, 3, 5, tzinfo=dt.UTC), dt.datetime.now(dt.UTC)]
    record_and_seal(database_url, key_file, old + kept, record_key)
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    runner = CliRunner()
    for before, why in (("2025-01-01", "not past retention"), ("2015-03-15", "whole months")):
        refused = runner.invoke(app, ["audit", "purge", "--before", before])
        assert refused.exit_code == 1 and why in refused.output
    done = runner.invoke(app, ["audit", "purge", "--before", "2015-03-01"])
    assert done.exit_code == 0, done.output
    assert "removed 2 entries before 2015-03-01; the chain goes on from link 3" in done.output
    assert count_rows(database_url, "transfer_records") == 2
    (purge,) = rows(database_url, "SELECT entries_removed, anchor_seq, purged_by FROM audit_purges")
    assert tuple(purge)[:2] == (2, 2) and purge.purged_by.startswith("cli:")
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "2 entries" in verified.output
    again = runner.invoke(app, ["audit", "purge", "--before", "2015-03-01"])
    assert again.exit_code == 1 and "nothing sealed before" in again.output
    # Everything sealed can go; new entries then chain on from the purge's anchor.
    assert runner.invoke(app, ["audit", "purge", "--before", "2016-01-01"]).exit_code == 0
    record_and_seal(database_url, key_file, [dt.datetime.now(dt.UTC)], record_key)
    after = runner.invoke(app, ["audit", "verify"])
    assert after.exit_code == 0, after.output
    monkeypatch.delenv("PLATFORM_HUB_SIGNING_KEY_FILE")
    monkeypatch.chdir(tmp_path)  # no key file here: checkpoints cannot be checked, and verify says so
    unsigned = runner.invoke(app, ["audit", "verify"])
    assert unsigned.exit_code == 1 and "not signature-checked" in unsigned.output


def test_a_late_entry_far_behind_the_chain_is_sealed_by_the_full_sweep(
    database_url: str, tmp_path: Path
) -> None:
    """An entry whose id lies further behind the chain than the sealer's window (a transaction that
    committed very late) is found by the periodic full sweep, not lost."""
    from dataclasses import asdict

    from platform_hub.audit import chain
    from platform_hub.models import TransferRecord

    now = dt.datetime.now(dt.UTC)

    def entry(entry_id: int) -> TransferRecord:
        record = TransferRecord(
            **asdict(facts(now)), id=entry_id, subject_integrated_number=None, recorded_at=now
        )
        record.entry_digest = chain.entry_digest(record)
        record.entry_mac = chain.mac(b"k" * 32, record.entry_digest)
        return record

    async def run() -> tuple[int, int]:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        sessions = create_sessionmaker(engine)
        async with unit_of_work(sessions) as session:
            session.add(entry(500_000))
        async with unit_of_work(sessions) as session:
            await service.seal(session, None)
        async with unit_of_work(sessions) as session:
            session.add(entry(7))  # committed "late", far behind the chain's head
        async with unit_of_work(sessions) as session:
            windowed = await service.seal(session, None)
        async with unit_of_work(sessions) as session:
            swept = await service.seal(session, None, everything=True)
        await engine.dispose()
        return windowed, swept

    assert asyncio.run(run()) == (0, 1)
    assert count_rows(database_url, "transfer_chain") == 2


def test_a_forged_purge_is_named(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An intruder deletes the oldest entries and writes the purge record that would explain it; only
    the hub's checkpoint key can sign one, so verification names the forgery."""
    key_file, record_key = key_files(tmp_path, monkeypatch)
    days = [dt.datetime(2026, 4, d, tzinfo=dt.UTC) for d in (1, 2, 3)]
    record_and_seal(database_url, key_file, days, record_key)
    drop_triggers(database_url)
    (anchor,) = rows(database_url, "SELECT chain_hash, entry_id FROM transfer_chain WHERE seq = 2")
    execute(
        database_url,
        "DELETE FROM transfer_records WHERE id IN (SELECT entry_id FROM transfer_chain WHERE seq <= 2)",
        "DELETE FROM transfer_chain WHERE seq <= 2",
        "DELETE FROM audit_checkpoints",
        "INSERT INTO audit_purges (before, entries_removed, anchor_seq, anchor_hash, anchor_entry_id,"
        " purged_at, purged_by) VALUES ('2026-04-03 00:00:00', 2, 2, "
        f"'{anchor.chain_hash}', {anchor.entry_id}, '2033-05-01 00:00:00', 'cli')",
    )
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    forged = CliRunner().invoke(app, ["audit", "verify"])
    assert forged.exit_code == 1 and "purge 1 (entries before link 3) is not signed" in forged.output


# --- the record partitioned by month (PostgreSQL, migration 0010) --------------------------------


def partitions_of(database_url: str, parent: str) -> set[str]:
    found = rows(
        database_url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        f" WHERE i.inhparent = '{parent}'::regclass",
    )
    return {row.relname for row in found}


def ensure_partitions(database_url: str, since: dt.date) -> int:
    async def run() -> int:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        async with unit_of_work(create_sessionmaker(engine)) as session:
            made = await partitions.ensure_partitions(session, dt.datetime.now(dt.UTC), since=since)
        await engine.dispose()
        return made

    return asyncio.run(run())


@pytest.mark.postgres_only
def test_the_record_is_partitioned_by_the_citys_month_around_now(database_url: str) -> None:
    for parent in ("transfer_records", "transfer_chain"):
        (kind,) = rows(database_url, f"SELECT relkind FROM pg_class WHERE relname = '{parent}'")
        assert kind.relkind == "p"
        this = partitions.month_of(dt.datetime.now(dt.UTC))
        ahead = range(partitions.MONTHS_AHEAD + 1)
        months = {f"{parent}_{partitions.add_months(this, n):%Y_%m}" for n in ahead}
        assert months | {f"{parent}_default"} <= partitions_of(database_url, parent)
    # The city's month: from Asia/Tokyo's midnight of the first (15:00 UTC the day before) to the next.
    bound = rows(
        database_url,
        "SELECT pg_get_expr(relpartbound, oid) AS bound FROM pg_class"
        f" WHERE relname = 'transfer_records_{this:%Y_%m}'",
    )[0].bound
    start, end = (dt.datetime.fromisoformat(v) for v in re.findall(r"'([^']+)'", bound))
    tokyo = ZoneInfo("Asia/Tokyo")
    assert start == dt.datetime(this.year, this.month, 1, tzinfo=tokyo)
    assert end == dt.datetime.combine(partitions.add_months(this, 1), dt.time(), tokyo)


@pytest.mark.postgres_only
def test_a_far_entry_lands_in_the_default_partition_and_its_month_takes_it_over(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file, record_key = key_files(tmp_path, monkeypatch)
    far = dt.datetime(2015, 1, 10, tzinfo=dt.UTC)
    record_and_seal(database_url, key_file, [far, dt.datetime.now(dt.UTC)], record_key)

    def holding(table: str) -> list[str]:
        where = f"SELECT tableoid::regclass::text AS part FROM {table} WHERE requested_at < '2016-01-01'"
        return [r.part for r in rows(database_url, where)]

    assert holding("transfer_records") == ["transfer_records_default"]
    assert holding("transfer_chain") == ["transfer_chain_default"]
    assert ensure_partitions(database_url, since=dt.date(2015, 1, 1)) > 0  # 2015-01 on were missing
    assert holding("transfer_records") == ["transfer_records_2015_01"]
    assert holding("transfer_chain") == ["transfer_chain_2015_01"]
    assert ensure_partitions(database_url, since=dt.date(2015, 1, 1)) == 0  # all there: nothing to do
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    verified = CliRunner().invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


@pytest.mark.postgres_only
def test_the_append_only_triggers_hold_on_the_parent_and_on_each_partition(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file, record_key = key_files(tmp_path, monkeypatch)
    record_and_seal(database_url, key_file, [dt.datetime.now(dt.UTC)], record_key)
    this = f"{partitions.month_of(dt.datetime.now(dt.UTC)):%Y_%m}"
    for table in ("transfer_records", f"transfer_records_{this}", "transfer_chain", f"transfer_chain_{this}"):
        change = "outcome = 'refused'" if table.startswith("transfer_records") else "chain_hash = 'x'"
        for statement in (f"UPDATE {table} SET {change}", f"DELETE FROM {table}", f"TRUNCATE {table}"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                execute(database_url, statement)
    assert count_rows(database_url, "transfer_records") == count_rows(database_url, "transfer_chain") == 1


@pytest.mark.postgres_only
def test_a_purge_drops_the_months_partitions_and_the_chain_verifies_across_the_anchor(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file, record_key = key_files(tmp_path, monkeypatch)
    ensure_partitions(database_url, since=dt.date(2015, 1, 1))
    old = [dt.datetime(2015, 1, 10, tzinfo=dt.UTC), dt.datetime(2015, 2, 3, tzinfo=dt.UTC)]
    # 1 March in Tokyo, 28 February in UTC: the city's month decides, and it is kept.
    kept = [dt.datetime(2015, 2, 28, 16, tzinfo=dt.UTC), dt.datetime.now(dt.UTC)]
    record_and_seal(database_url, key_file, old + kept, record_key)
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    runner = CliRunner()
    done = runner.invoke(app, ["audit", "purge", "--before", "2015-03-01"])
    assert done.exit_code == 0, done.output
    assert "removed 2 entries before 2015-03-01; the chain goes on from link 3" in done.output
    for parent in ("transfer_records", "transfer_chain"):
        left = partitions_of(database_url, parent)
        assert not {f"{parent}_2015_01", f"{parent}_2015_02"} & left  # dropped, not emptied
        assert {f"{parent}_2015_03", f"{parent}_default"} <= left
        (gone,) = rows(database_url, f"SELECT to_regclass('{parent}_2015_01') AS found")
        assert gone.found is None
    assert count_rows(database_url, "transfer_records") == 2
    (purge,) = rows(database_url, "SELECT entries_removed, anchor_seq FROM audit_purges")
    assert tuple(purge) == (2, 2)
    record_and_seal(database_url, key_file, [dt.datetime.now(dt.UTC)], record_key)
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "3 entries" in verified.output


def test_sqlite_keeps_one_table(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the SQLite schema")
    tables = {r.name for r in rows(database_url, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"transfer_records", "transfer_chain"} <= tables
    assert not {t for t in tables if t.startswith(("transfer_records_", "transfer_chain_"))}
    columns = {r.name for r in rows(database_url, "PRAGMA table_info(transfer_chain)")}
    assert "requested_at" in columns  # each link carries its entry's, on both databases
