"""Retention: whole expired months removed, the removal recorded, the chain still verifiable after."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from platform_hub.audit import service
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
