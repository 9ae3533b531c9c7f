"""The background sealer: keeps the chain current without sitting in any request's path."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError

from platform_hub.audit import service
from platform_hub.audit.chain import SigningKey
from platform_hub.audit.ledgers import LEDGERS
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.runtime import Runtime

log = structlog.get_logger()


FULL_SWEEP_EVERY = 600  # rounds: about ten minutes at the default interval


async def run(state: Runtime, signing_key: SigningKey | None) -> None:
    rounds = 0
    checkpoint_after = timedelta(seconds=state.settings.checkpoint_interval_seconds)
    while True:
        rounds += 1
        sealed = 0
        for ledger in LEDGERS:  # the transfer record and the operations record
            try:
                async with unit_of_work(state.sessions) as session:
                    sealed += await service.seal(
                        session,
                        signing_key,
                        ledger=ledger,
                        checkpoint_after=checkpoint_after,
                        everything=rounds % FULL_SWEEP_EVERY == 0,
                    )
            except asyncio.CancelledError:
                raise
            except IntegrityError:  # another process sealed the same entries first: nothing lost
                log.info("another sealer took this round", ledger=ledger.name)
            except Exception:  # the database may be away: try again next round
                log.exception("sealing round failed", ledger=ledger.name)
        if not sealed:
            await asyncio.sleep(state.settings.seal_interval_seconds)
