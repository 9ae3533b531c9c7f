"""Verification of a whole record — the transfer record or the operations record (``ledgers``): every
entry's digest and MAC, the chain, every checkpoint, and the checkpoints kept outside the hub.

It reads the record at the speed of the database, not of the ORM: each stretch of the chain comes
straight from the driver (PostgreSQL ``COPY … TO STDOUT``; SQLite a plain cursor) with timestamps
already in the canonical text form. Stretches are independent — every link's stored chain hash is
compared with the recomputed one, so a stretch can start from the stored hash of the link before it —
and a long record is verified by one process per core, out of the hub's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import chain, repository
from platform_hub.audit.ledgers import LEDGERS, TRANSFERS, Ledger
from platform_hub.kit.clock import utcnow
from platform_hub.models import Purge

PARALLEL_FROM = 200_000  # links; below this one worker thread is quicker than starting processes


def checkpoints_overdue(interval_seconds: float) -> dt.timedelta:
    """How old the newest checkpoint may be while links follow it before verification warns: the
    sealer signs one every ``interval_seconds`` while entries come in, so older means it stopped
    signing, or that newer checkpoints were removed (with the entries they covered)."""
    return dt.timedelta(seconds=3 * interval_seconds) + dt.timedelta(minutes=1)


CHECKPOINTS_OVERDUE = checkpoints_overdue(60)
_LEDGERS = {ledger.name: ledger for ledger in LEDGERS}


@dataclass
class Verification:
    entries: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Progress:
    """How far a verification has come: links checked (both records), of how many. Worker threads add
    to it as they go; the event loop reads it."""

    REPORT_EVERY = 1000  # links

    def __init__(self, total: int = 0) -> None:
        self.total, self._checked, self._lock = total, 0, threading.Lock()

    @property
    def checked(self) -> int:
        return self._checked

    def add(self, links: int) -> None:
        with self._lock:
            self._checked += links


@dataclass
class Stretch:
    """What verifying links ``first``..``last`` found: the first problem (by link), the heads asked for."""

    entries: int = 0
    heads: dict[int, str] = field(default_factory=dict)
    problem: tuple[int, str] | None = None


async def verify(
    session: AsyncSession,
    public_pem: str | None,
    *,
    ledger: Ledger = TRANSFERS,
    record_key: bytes | None = None,
    outside: Sequence[dict[str, object]] = (),
    unsealed_grace: dt.timedelta = dt.timedelta(minutes=5),
    checkpoints_overdue: dt.timedelta = CHECKPOINTS_OVERDUE,
    parallel_from: int = PARALLEL_FROM,
    progress: Progress | None = None,
) -> Verification:
    """Recompute every entry's digest (and, with the record key, its MAC) and the whole chain of one
    ledger, check every checkpoint's signature and head (and those an auditor kept outside the hub);
    name the first entry that does not match.

    The hub's checkpoints are read before the chain, so one signed meanwhile is not mistaken for a
    mismatch; only the heads the checkpoints name are kept, however long the chain."""
    result = Verification()
    stored: list[dict[str, object]] = [
        dict(id=c.id, seq=c.seq, head_hash=c.head_hash, created_at=c.created_at, signature=c.signature)
        for c in await repository.checkpoints(session, ledger)
    ]
    # The chain of the transfer record goes on from where retention cut it.
    purge = await repository.latest_purge(session) if ledger is TRANSFERS else None
    anchor_seq, anchor_hash = (purge.anchor_seq, purge.anchor_hash) if purge else (0, chain.GENESIS)
    wanted = frozenset(_seq(c) for c in [*stored, *outside])
    last = await repository.last_link_seq(session, ledger) or anchor_seq
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    stretches = await _verify_stretches(
        url, ledger.name, record_key, anchor_seq, anchor_hash, last, wanted, parallel_from, progress
    )
    heads = {anchor_seq: anchor_hash} if purge else {}
    for stretch in stretches:
        heads.update(stretch.heads)
        result.entries += stretch.entries
        if stretch.problem is not None:
            result.problems.append(stretch.problem[1])
            break
    if purge is not None:
        _check_purge(purge, public_pem, result)
    if public_pem is None and (stored or outside):
        unchecked = len(stored) + len(outside)
        result.problems.append(f"{unchecked} checkpoints not signature-checked: no public key")
    first = anchor_seq if purge else 1
    for checkpoint, where in [*((c, "") for c in stored), *((c, " (kept outside)") for c in outside)]:
        if _seq(checkpoint) >= first:  # before a purge's anchor there is nothing left to check
            _check_checkpoint(checkpoint, heads, public_pem, result, where, ledger)
    late = await repository.unsealed_before(session, utcnow() - unsealed_grace, ledger)
    if late:
        result.problems.append(f"entries never sealed into the chain: {', '.join(map(str, late))}")
    if record_key is None and result.entries:
        result.warnings.append("the entries' MACs were not checked: no record key (PLATFORM_HUB_KEY_FILE)")
    await _warn_of_overdue_checkpoints(session, ledger, stored, result, checkpoints_overdue)
    return result


async def verify_all(
    session: AsyncSession,
    public_pem: str | None,
    *,
    record_key: bytes | None,
    outside: Mapping[str, Sequence[dict[str, Any]]] | None = None,
    overdue: dt.timedelta = CHECKPOINTS_OVERDUE,
    progress: Progress | None = None,
) -> dict[str, Verification]:
    """Both records, one after the other: ``{"transfers": …, "operations": …}``."""
    return {
        ledger.name: await verify(
            session,
            public_pem,
            ledger=ledger,
            record_key=record_key,
            outside=(outside or {}).get(ledger.name, ()),
            checkpoints_overdue=overdue,
            progress=progress,
        )
        for ledger in LEDGERS
    }


async def _warn_of_overdue_checkpoints(
    session: AsyncSession,
    ledger: Ledger,
    stored: list[dict[str, object]],
    result: Verification,
    overdue_after: dt.timedelta,
) -> None:
    """Links no signed checkpoint covers, long after the sealer should have signed one: its newest
    entries may have been cut off (with their checkpoints), or the sealer has stopped."""
    newest = max(stored, key=_seq, default=None)
    since = _seq(newest) if newest else 0
    uncovered = await repository.links_after(session, since, ledger)
    if not uncovered:
        return
    if newest is None:
        oldest = await repository.first_sealed_at(session, ledger)
        overdue = oldest is not None and utcnow() - oldest > overdue_after
        when = "no checkpoint at all"
    else:
        created = newest["created_at"]
        moment = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(str(created))
        overdue = utcnow() - moment > overdue_after
        when = f"the newest checkpoint (link {since}) was signed at {moment.isoformat(timespec='seconds')}"
    if overdue:
        result.warnings.append(
            f"{ledger.name}: {uncovered} links after {when} are covered by no signature although one "
            "is signed every minute: the newest entries may have been removed (compare with "
            "checkpoints kept outside the hub), or the sealer has stopped"
        )


async def _verify_stretches(
    url: str,
    ledger: str,
    record_key: bytes | None,
    anchor_seq: int,
    anchor_hash: str,
    last: int,
    wanted: frozenset[int],
    parallel_from: int,
    progress: Progress | None = None,
) -> list[Stretch]:
    """The chain after the anchor cut into one stretch per worker, verified side by side, in order."""
    links = last - anchor_seq
    workers = min(len(os.sched_getaffinity(0)), 8) if links >= parallel_from else 1
    size = -(-links // workers) if links else 1
    bounds = [(start, min(start + size - 1, last)) for start in range(anchor_seq + 1, last + 1, size)]
    loop = asyncio.get_running_loop()
    executor: Executor | None = None
    if len(bounds) > 1:  # "spawn": the hub's threads must not be forked along
        executor = ProcessPoolExecutor(len(bounds), mp_context=multiprocessing.get_context("spawn"))
    try:
        # The first stretch starts from the anchor; the others from the stored link before them.
        starts = [anchor_hash if index == 0 else None for index in range(len(bounds))]
        # A thread reports as it goes; a process (nothing shared) when its stretch is done.
        report = progress.add if progress is not None and executor is None else None
        jobs = [
            _counted(
                loop.run_in_executor(
                    executor, verify_stretch, url, first, final, start, wanted, ledger, record_key, report
                ),
                progress if executor is not None else None,
            )
            for (first, final), start in zip(bounds, starts, strict=True)
        ]
        return list(await asyncio.gather(*jobs))
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


async def _counted(job: Awaitable[Stretch], progress: Progress | None) -> Stretch:
    stretch = await job
    if progress is not None:
        progress.add(stretch.entries)
    return stretch


def verify_stretch(
    url: str,
    first: int,
    last: int,
    previous: str | None,
    wanted: frozenset[int],
    ledger_name: str = TRANSFERS.name,
    record_key: bytes | None = None,
    report: Callable[[int], None] | None = None,
) -> Stretch:
    """Verify links ``first``..``last`` of a ledger. ``previous`` is the chain hash before ``first``;
    None means read it from link ``first - 1`` (whose own check belongs to the stretch before).
    ``report`` is told of the links checked, every ``Progress.REPORT_EVERY`` and at the end."""
    ledger, found = _LEDGERS[ledger_name], Stretch()
    rows = _rows(url, ledger, first if previous is not None else first - 1, last)
    if previous is None:
        before = next(rows, None)
        if before is None or int(before[0]) != first - 1:
            found.problem = (first - 1, f"chain link {first - 1} is missing")
            return found
        previous = before[3]
    expected = first
    for seq_text, entry_id, link_digest, stored_hash, record_id, record_digest, record_mac, *content in rows:
        seq = int(seq_text)
        problem = _link_problem(
            ledger,
            seq,
            expected,
            entry_id,
            link_digest,
            record_id,
            record_digest,
            record_mac,
            content,
            record_key,
        )
        previous = chain.chain_hash(previous, entry_id, link_digest)
        if problem is None and previous != stored_hash:
            problem = f"chain link {seq} (entry {entry_id}) does not follow from the one before"
        if problem is not None:
            found.problem = (seq, problem)
            return found
        if seq in wanted:
            found.heads[seq] = previous
        found.entries += 1
        expected += 1
        if report is not None and found.entries % Progress.REPORT_EVERY == 0:
            report(Progress.REPORT_EVERY)
    if report is not None:
        report(found.entries % Progress.REPORT_EVERY)
    if expected <= last:
        found.problem = (expected, f"chain link {expected} is missing")
    return found


def _link_problem(
    ledger: Ledger,
    seq: int,
    expected: int,
    entry_id: object,
    link_digest: str,
    record_id: object,
    record_digest: str | None,
    record_mac: str | None,
    content: list[str | None],
    record_key: bytes | None,
) -> str | None:
    """What is wrong with one link and its entry (a row of both), if anything. The hot loop of a
    verification: nothing is built unless something is wrong."""
    if seq != expected:
        return f"chain link {expected} is missing (next present: {seq})"
    if record_id is None:
        return f"entry {entry_id} (chain link {seq}) is missing"
    if record_digest != link_digest or not _digest_matches(ledger, content, record_digest):
        return f"{_named(ledger, record_id, content, seq)} no longer matches its digest: it was altered"
    if record_key is not None and not chain.macs_match(record_key, record_digest, record_mac):
        why = "carries no valid MAC: the hub did not write it (inserted or rewritten by SQL)"
        return f"{_named(ledger, record_id, content, seq)} {why}"
    return None


def _named(ledger: Ledger, record_id: object, content: list[str | None], seq: int) -> str:
    return f"entry {record_id} ({ledger.label} {content[ledger.label_at]}, chain link {seq})"


def _digest_matches(ledger: Ledger, content: list[str | None], digest: str) -> bool:
    """A JSON list (a transfer's item names) is stored as the JSON the hub wrote, so it is taken as it
    is; only when that does not match is it parsed and rendered again (JSON written some other way,
    or altered)."""
    values = chain.rendered(content)
    if ledger.item_list_at is None:
        return ledger.canon.rendered_digest(values) == digest
    at = ledger.item_list_at
    values[at] = content[at] or "null"
    if ledger.canon.rendered_digest(values) == digest:
        return True
    try:
        names = json.loads(content[at] or "null")
    except ValueError:
        return False
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        return False  # item names are a list of names, nothing else (never values in disguise)
    parsed: list[str | list[str] | None] = list(content)
    parsed[at] = names
    return ledger.canon.content_digest(parsed) == digest


@functools.cache
def _statement(ledger_name: str, dialect: str) -> str:
    """Each link with its entry's content in canonical order, timestamps as
    isoformat(timespec="microseconds"), the item list as the JSON text stored."""
    ledger = _LEDGERS[ledger_name]
    if dialect == "postgresql":
        timestamp = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
        as_json = "{}::text"
    else:  # stored as UTC text
        timestamp, as_json = "replace({}, ' ', 'T') || '+00:00'", "{}"

    def column(name: str) -> str:
        if name in ledger.timestamps:
            return timestamp.format(f"t.{name}")
        return as_json.format(f"t.{name}") if name == ledger.item_list else f"t.{name}"

    link = ["l.seq", "l.entry_id", "l.entry_digest", "l.chain_hash", "t.id", "t.entry_digest", "t.entry_mac"]
    columns = ", ".join([*link, *map(column, ledger.canon.order)])
    on = "t.id = l.entry_id"
    if dialect == "postgresql" and ledger.partition_key:  # the one partition that can hold the entry
        on += f" AND t.{ledger.partition_key} = l.{ledger.partition_key}"
    return (
        f"SELECT {columns} FROM {ledger.chain_table} l"  # noqa: S608 - our table and column names
        f" LEFT JOIN {ledger.entries_table} t ON {on}"
        " WHERE l.seq BETWEEN {first} AND {last} ORDER BY l.seq"
    )


def _rows(url: str, ledger: Ledger, first: int, last: int) -> Iterator[Sequence[Any]]:
    parsed = make_url(url)  # text, or ints on SQLite
    if parsed.get_backend_name() == "sqlite":
        read_only = f"{Path(parsed.database or '').resolve().as_uri()}?mode=ro"
        query = _statement(ledger.name, "sqlite").format(first="?", last="?")
        with contextlib.closing(sqlite3.connect(read_only, uri=True)) as connection:
            yield from connection.execute(query, (first, last))
        return
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    statement = sql.SQL(_statement(ledger.name, "postgresql"))
    bounded = statement.format(first=sql.Literal(first), last=sql.Literal(last))
    copy_out = sql.SQL("COPY ({}) TO STDOUT").format(bounded)
    # One core per stretch already: PostgreSQL's own parallel workers would only compete with them.
    serial = "-c max_parallel_workers_per_gather=0"
    with psycopg.connect(conninfo, options=serial) as database, database.cursor().copy(copy_out) as copy:
        yield from copy.rows()


def _check_purge(purge: Purge, public_pem: str | None, result: Verification) -> None:
    """The chain starts at the last purge's anchor only if the hub's key signed that removal."""
    if public_pem is None:
        result.problems.append(f"purge {purge.id} not signature-checked: no public key")
    elif not purge.signature or not chain.signature_valid(
        public_pem, chain.purge_statement(purge), purge.signature
    ):
        result.problems.append(
            f"purge {purge.id} (entries before link {purge.anchor_seq + 1}) is not signed by the "
            "checkpoint key: the removal cannot be trusted"
        )


def _seq(checkpoint: dict[str, object]) -> int:
    """The link a checkpoint names (an int from the database, a number or string from a kept file)."""
    return int(str(checkpoint["seq"]))


def _check_checkpoint(
    checkpoint: dict[str, object],
    heads: dict[int, str],
    public_pem: str | None,
    result: Verification,
    where: str,
    ledger: Ledger,
) -> None:
    seq, head = _seq(checkpoint), str(checkpoint["head_hash"])
    created = checkpoint["created_at"]
    created_at = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(str(created))
    name = f"checkpoint {checkpoint.get('id', '?')}{where} at link {seq}"
    if public_pem and not chain.signature_valid(
        public_pem, chain.statement(seq, head, created_at, ledger.name), str(checkpoint["signature"])
    ):
        result.problems.append(f"{name}: the signature does not verify")
    elif heads.get(seq) != head:
        result.problems.append(f"{name} no longer matches the chain")
    else:
        result.checkpoints += 1
