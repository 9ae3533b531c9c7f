"""Verification of the whole transfer record: every entry's digest, the chain, every checkpoint.

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
import json
import multiprocessing
import os
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import chain, repository
from platform_hub.kit.database import utcnow
from platform_hub.models import Purge

PARALLEL_FROM = 200_000  # links; below this one worker thread is quicker than starting processes
_TIMESTAMPS = {"requested_at", "provided_at", "recorded_at"}
_ITEM_NAMES = chain.CANONICAL_ORDER.index("item_names")
_RECEPTION = chain.CANONICAL_ORDER.index("reception_number")


@dataclass
class Verification:
    entries: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


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
    outside: Sequence[dict[str, object]] = (),
    unsealed_grace: dt.timedelta = dt.timedelta(minutes=5),
    parallel_from: int = PARALLEL_FROM,
) -> Verification:
    """Recompute every entry's digest and the whole chain, check every checkpoint's signature and head
    (and those an auditor kept outside the hub); name the first entry that does not match.

    The hub's checkpoints are read before the chain, so one signed meanwhile is not mistaken for a
    mismatch; only the heads the checkpoints name are kept, however long the chain."""
    result = Verification()
    stored: list[dict[str, object]] = [
        dict(id=c.id, seq=c.seq, head_hash=c.head_hash, created_at=c.created_at, signature=c.signature)
        for c in await repository.checkpoints(session)
    ]
    purge = await repository.latest_purge(session)  # the chain goes on from where retention cut it
    anchor_seq, anchor_hash = (purge.anchor_seq, purge.anchor_hash) if purge else (0, chain.GENESIS)
    wanted = frozenset(_seq(c) for c in [*stored, *outside])
    last = await repository.last_link_seq(session) or anchor_seq
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    stretches = await _verify_stretches(url, anchor_seq, anchor_hash, last, wanted, parallel_from)
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
            _check_checkpoint(checkpoint, heads, public_pem, result, where)
    late = await repository.unsealed_before(session, utcnow() - unsealed_grace)
    if late:
        result.problems.append(f"entries never sealed into the chain: {', '.join(map(str, late))}")
    return result


async def _verify_stretches(
    url: str, anchor_seq: int, anchor_hash: str, last: int, wanted: frozenset[int], parallel_from: int
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
        jobs = [
            loop.run_in_executor(executor, verify_stretch, url, first, final, start, wanted)
            for (first, final), start in zip(bounds, starts, strict=True)
        ]
        return list(await asyncio.gather(*jobs))
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def verify_stretch(url: str, first: int, last: int, previous: str | None, wanted: frozenset[int]) -> Stretch:
    """Verify links ``first``..``last``. ``previous`` is the chain hash before ``first``; None means
    read it from link ``first - 1`` (whose own check belongs to the stretch before)."""
    found = Stretch()
    rows = _rows(url, first if previous is not None else first - 1, last)
    if previous is None:
        before = next(rows, None)
        if before is None or int(before[0]) != first - 1:
            found.problem = (first - 1, f"chain link {first - 1} is missing")
            return found
        previous = before[3]
    expected = first
    for seq_text, entry_id, link_digest, stored_hash, record_id, record_digest, *content in rows:
        seq = int(seq_text)
        problem = _link_problem(seq, expected, entry_id, link_digest, record_id, record_digest, content)
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
    if expected <= last:
        found.problem = (expected, f"chain link {expected} is missing")
    return found


def _link_problem(
    seq: int,
    expected: int,
    entry_id: object,
    link_digest: str,
    record_id: object,
    record_digest: str | None,
    content: list[str | None],
) -> str | None:
    """What is wrong with one link and its entry (a row of both), if anything."""
    if seq != expected:
        return f"chain link {expected} is missing (next present: {seq})"
    if record_id is None:
        return f"entry {entry_id} (chain link {seq}) is missing"
    if record_digest != link_digest or not _digest_matches(content, record_digest):
        return (
            f"entry {record_id} (reception {content[_RECEPTION]}, chain link {seq}) no longer "
            "matches its digest: it was altered"
        )
    return None


def _digest_matches(content: list[str | None], digest: str) -> bool:
    """The item names are stored as the JSON the hub wrote, so they are taken as they are; only when
    that does not match are they parsed and rendered again (JSON written some other way, or altered)."""
    values = chain.rendered(content)
    values[_ITEM_NAMES] = content[_ITEM_NAMES] or "null"
    if chain.rendered_digest(values) == digest:
        return True
    try:
        names = json.loads(content[_ITEM_NAMES] or "null")
    except ValueError:
        return False
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        return False  # item names are a list of names, nothing else (never values in disguise)
    parsed: list[str | list[str] | None] = list(content)
    parsed[_ITEM_NAMES] = names
    return chain.content_digest(parsed) == digest


def _columns(timestamp: str, item_names: str) -> str:
    def column(name: str) -> str:
        if name in _TIMESTAMPS:
            return timestamp.format(f"t.{name}")
        return item_names if name == "item_names" else f"t.{name}"

    link = ["l.seq", "l.entry_id", "l.entry_digest", "l.chain_hash", "t.id", "t.entry_digest"]
    return ", ".join([*link, *map(column, chain.CANONICAL_ORDER)])


# Each link with its entry's content in canonical order, timestamps as isoformat(timespec="microseconds").
_FROM = (
    " FROM transfer_chain l LEFT JOIN transfer_records t ON t.id = l.entry_id"
    " WHERE l.seq BETWEEN {first} AND {last} ORDER BY l.seq"
)
_POSTGRES = "SELECT " + _columns(
    """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""", "t.item_names::text"
)
_SQLITE = "SELECT " + _columns("replace({}, ' ', 'T') || '+00:00'", "t.item_names")  # stored as UTC text


def _rows(url: str, first: int, last: int) -> Iterator[Sequence[Any]]:  # text, or ints on SQLite
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        read_only = f"{Path(parsed.database or '').resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(read_only, uri=True)) as connection:
            yield from connection.execute(_SQLITE + _FROM.format(first="?", last="?"), (first, last))
        return
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    query = sql.SQL(_POSTGRES + _FROM).format(first=sql.Literal(first), last=sql.Literal(last))
    copy_out = sql.SQL("COPY ({}) TO STDOUT").format(query)
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
) -> None:
    seq, head = _seq(checkpoint), str(checkpoint["head_hash"])
    created = checkpoint["created_at"]
    created_at = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(str(created))
    name = f"checkpoint {checkpoint.get('id', '?')}{where} at link {seq}"
    if public_pem and not chain.signature_valid(
        public_pem, chain.statement(seq, head, created_at), str(checkpoint["signature"])
    ):
        result.problems.append(f"{name}: the signature does not verify")
    elif heads.get(seq) != head:
        result.problems.append(f"{name} no longer matches the chain")
    else:
        result.checkpoints += 1
