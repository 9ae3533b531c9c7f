"""Keeping a query's answer only as long as a resent MSGID may need it.

A query's full answer (incomes, a household) is kept so that a sender whose answer was lost can send
the same MSGID again and get the same answer. After ``answer_retention_seconds`` (a day by default)
only its digest stays; the transfer record says what was provided, never the values.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import repository
from platform_hub.linkage.runtime import LinkageRuntime

log = structlog.get_logger()
ROUND_SECONDS = 60.0
BATCH = 1000  # answers per transaction: a short write, however many are due


async def drop_old_answers(state: LinkageRuntime) -> int:
    """Every answer past its retention, a batch per transaction."""
    before, dropped = utcnow() - timedelta(seconds=state.settings.answer_retention_seconds), 0
    while True:
        async with unit_of_work(state.sessions) as session:
            batch = await repository.drop_old_answers(session, before, BATCH)
        dropped += batch
        if batch < BATCH:
            return dropped


async def run(state: LinkageRuntime) -> None:
    while True:
        try:
            dropped = await drop_old_answers(state)
            if dropped:
                log.info("query answers past their retention dropped", answers=dropped)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be away: try again next round
            log.exception("dropping old query answers failed")
        await asyncio.sleep(min(ROUND_SECONDS, state.settings.answer_retention_seconds))
