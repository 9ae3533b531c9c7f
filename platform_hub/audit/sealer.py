"""The background sealer: keeps the chain current without sitting in any request's path, and keeps
the transfer record's coming months partitioned ahead of time (PostgreSQL, ``partitions``)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError

from platform_hub.audit import partitions, service
from platform_hub.audit.chain import SigningKey
from platform_hub.audit.ledgers import LEDGERS
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.runtime import Runtime

log = structlog.get_logger()


FULL_SWEEP_EVERY = 600  # rounds: about ten minutes at the default interval
BATCH = 5000  # entries a round seals at most; a full one means more are waiting: the next goes at once
PARTITIONS_EVERY = 3600.0  # seconds: the next months' partitions are made months ahead, so hourly is plenty


async def ensure_partitions(state: Runtime) -> bool:
    """This month's and the next ones' partitions of the record; False when it failed (retried later:
    inserts never wait for it, a default partition takes what no month holds)."""
    try:
        async with unit_of_work(state.sessions) as session:
            made = await partitions.ensure_partitions(session, utcnow())
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("making the record's partitions failed")
        return False
    if made:
        log.info("record partitions made", tables=made)
    return True


async def run(state: Runtime, signing_key: SigningKey | None) -> None:
    rounds = 0
    checkpoint_after = timedelta(seconds=state.settings.checkpoint_interval_seconds)
    partitioned_at: float | None = None
    while True:
        rounds += 1
        behind = False
        if partitioned_at is None or time.monotonic() - partitioned_at >= PARTITIONS_EVERY:
            partitioned_at = time.monotonic() if await ensure_partitions(state) else None
        for ledger in LEDGERS:  # the transfer record and the operations record
            try:
                async with unit_of_work(state.sessions) as session:
                    sealed = await service.seal(
                        session,
                        signing_key,
                        ledger=ledger,
                        batch=BATCH,
                        checkpoint_after=checkpoint_after,
                        everything=rounds % FULL_SWEEP_EVERY == 0,
                    )
                behind = behind or sealed == BATCH
            except asyncio.CancelledError:
                raise
            except IntegrityError:  # another process sealed the same entries first: nothing lost
                log.info("another sealer took this round", ledger=ledger.name)
            except Exception:  # the database may be away: try again next round
                log.exception("sealing round failed", ledger=ledger.name)
        # A round a second, however busy the hub: each seals all that came meanwhile, so a round's cost
        # (the lock, the chain's end, a checkpoint) is spread over hundreds of entries, not a few.
        if not behind:
            await asyncio.sleep(state.settings.seal_interval_seconds)
