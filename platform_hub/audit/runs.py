"""The verifications that were run (記録の検証): each kept as a row of ``verification_runs`` — from the
console, ``GET /audit/verify`` or ``platform-hub audit verify`` — so anyone can see when the records
were last verified and what that said.

The console's verification runs in the background, one at a time across every replica: the row it
starts as ``running`` is the only one there may be (a partial unique index), and the replica running it
moves its count on every second, which the page's progress reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_hub.audit import repository, verification
from platform_hub.audit.chain import SigningKey, load_signing_key
from platform_hub.audit.ledgers import LEDGERS, TRANSFERS
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.settings import Settings
from platform_hub.models import VerificationRun, VerificationState

log = structlog.get_logger()

PROBLEMS_KEPT = 50  # the first problems of a run are what an auditor acts on; the rest are counted
PROBLEMS_CHARACTERS = 8000
HEARTBEAT_SECONDS = 1.0
# A running row not moved on for this long belongs to a hub that stopped mid-way.
ABANDONED_AFTER = dt.timedelta(minutes=2)
ABANDONED = "abandoned: the hub running it stopped"


@dataclass(frozen=True)
class Outcome:
    state: VerificationState
    entries: int
    problems: str | None


def outcome_of(results: Mapping[str, verification.Verification]) -> Outcome:
    """Both records' verification as one run's state, the links checked and the problems (capped)."""
    found = [
        problem if name == TRANSFERS.name else f"{name}: {problem}"
        for name, result in results.items()
        for problem in result.problems
    ]
    state = VerificationState.FAILED if found else VerificationState.OK
    return Outcome(state, sum(r.entries for r in results.values()), capped(found))


def capped(problems: list[str]) -> str | None:
    if not problems:
        return None
    kept = problems[:PROBLEMS_KEPT]
    if len(problems) > len(kept):
        kept.append(f"… {len(problems) - len(kept)} more")
    return "\n".join(kept)[:PROBLEMS_CHARACTERS]


def signing_key(settings: Settings) -> SigningKey | None:
    """The checkpoint key the hub signs with, for its public half (None: none usable)."""
    try:
        return load_signing_key(settings.signing_key_file, create=False)
    except (OSError, ValueError):
        return None


async def links(session: AsyncSession) -> int:
    """How many links both records' chains hold now: what a verification checks."""
    total = 0
    for ledger in LEDGERS:
        last = await repository.last_link_seq(session, ledger) or 0
        purge = await repository.latest_purge(session) if ledger is TRANSFERS else None
        total += max(last - (purge.anchor_seq if purge else 0), 0)
    return total


async def running(session: AsyncSession) -> VerificationRun | None:
    """The verification under way, if its replica still moves it on (one whose hub stopped is not:
    the page would follow it for ever; the next ``begin`` closes it)."""
    found = select(VerificationRun).where(
        VerificationRun.state == VerificationState.RUNNING,
        VerificationRun.updated_at >= utcnow() - ABANDONED_AFTER,
    )
    return await session.scalar(found)


async def latest(session: AsyncSession) -> VerificationRun | None:
    """The newest run that is done."""
    finished = select(VerificationRun).where(VerificationRun.state != VerificationState.RUNNING)
    return await session.scalar(finished.order_by(VerificationRun.id.desc()).limit(1))


async def begin(session: AsyncSession, started_by: str) -> VerificationRun | None:
    """A new running verification, or None while another runs (on this replica or any other). A
    running row its replica stopped moving on is closed as an error first."""
    now = utcnow()
    await session.execute(
        update(VerificationRun)
        .where(VerificationRun.state == VerificationState.RUNNING)
        .where(VerificationRun.updated_at < now - ABANDONED_AFTER)
        .values(state=VerificationState.ERROR, finished_at=now, problems=ABANDONED)
    )
    if await running(session) is not None:
        return None
    run = VerificationRun(
        started_at=now,
        updated_at=now,
        started_by=started_by[:64],
        state=VerificationState.RUNNING,
        entries_checked=0,
        entries_total=await links(session),
    )
    try:
        async with session.begin_nested():  # two replicas starting at once: one insert wins
            session.add(run)
    except IntegrityError:
        return None
    return run


async def record(
    session: AsyncSession,
    started_by: str,
    started_at: dt.datetime,
    results: Mapping[str, verification.Verification],
) -> VerificationRun:
    """A verification run elsewhere (``GET /audit/verify``, the command line), kept as done."""
    outcome = outcome_of(results)
    run = VerificationRun(
        started_at=started_at,
        updated_at=utcnow(),
        finished_at=utcnow(),
        started_by=started_by[:64],
        state=outcome.state,
        entries_checked=outcome.entries,
        entries_total=outcome.entries,
        problems=outcome.problems,
    )
    session.add(run)
    await session.flush()
    return run


async def carry_out(
    sessions: async_sessionmaker[AsyncSession],
    run_id: int,
    public_pem: str | None,
    *,
    record_key: bytes | None,
    overdue: dt.timedelta,
) -> VerificationState:
    """The background half of a run ``begin`` started: verify both records, moving the row's count on
    every second, and close it with what was found — as an error when the verification could not
    finish (the hub stopping included)."""
    async with sessions() as session:
        total = (await session.get_one(VerificationRun, run_id)).entries_total
    progress = verification.Progress(total)
    beat = asyncio.create_task(_heartbeat(sessions, run_id, progress), name=f"verification {run_id}")
    try:
        async with sessions() as reading:
            results = await verification.verify_all(
                reading, public_pem, record_key=record_key, overdue=overdue, progress=progress
            )
        outcome = outcome_of(results)
    except asyncio.CancelledError:
        outcome = Outcome(VerificationState.ERROR, progress.checked, "interrupted: the hub stopped")
        await _finish(sessions, run_id, outcome)
        raise
    except Exception as error:  # whatever stopped it is what the run says
        log.exception("verification failed", run=run_id)
        outcome = Outcome(VerificationState.ERROR, progress.checked, f"{type(error).__name__}: {error}")
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # the run's outcome is what counts
            await beat
    await _finish(sessions, run_id, outcome)
    return outcome.state


async def _heartbeat(
    sessions: async_sessionmaker[AsyncSession], run_id: int, progress: verification.Progress
) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        try:
            async with unit_of_work(sessions) as session:
                await session.execute(
                    update(VerificationRun)
                    .where(VerificationRun.id == run_id, VerificationRun.state == VerificationState.RUNNING)
                    .values(entries_checked=progress.checked, updated_at=utcnow())
                )
        except Exception:  # a busy database (SQLite's lock): the next beat tries again
            log.warning("verification progress not written", run=run_id, exc_info=True)


async def _finish(sessions: async_sessionmaker[AsyncSession], run_id: int, outcome: Outcome) -> None:
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(VerificationRun)
            .where(VerificationRun.id == run_id)
            .values(
                state=outcome.state,
                entries_checked=outcome.entries,
                problems=outcome.problems,
                finished_at=utcnow(),
                updated_at=utcnow(),
            )
        )
