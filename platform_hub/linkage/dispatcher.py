"""The background dispatcher: leases due deliveries from the database queue and delivers them."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from platform_hub.kit.database import unit_of_work, utcnow
from platform_hub.kit.state import HubState
from platform_hub.linkage import repository, service

log = structlog.get_logger()
BATCH = 50


async def dispatch_once(state: HubState) -> int:
    """Deliver every delivery that is due now (one per subscriber); returns how many were tried."""
    now = utcnow()
    lease = now + timedelta(seconds=state.settings.delivery_timeout_seconds * 2 + 5)
    async with unit_of_work(state.sessions) as session:
        claimed = await repository.claim_due_deliveries(session, now, lease, BATCH)
        leased = await repository.deliveries_by_id(session, [delivery_id for delivery_id, _ in claimed])
    await asyncio.gather(
        *(service.deliver(state, leased[delivery_id], attempt) for delivery_id, attempt in claimed),
        return_exceptions=True,
    )
    return len(claimed)


async def run(state: HubState) -> None:
    """Loop until cancelled; wake on a new notification or after the poll interval."""
    while True:
        state.deliveries_waiting.clear()  # before the round, so a wake-up during it is not lost
        try:
            delivered = await dispatch_once(state)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database may be away for a while; keep the loop alive and try again.
            log.exception("dispatcher round failed")
            delivered = 0
        if delivered:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.deliveries_waiting.wait(), state.settings.delivery_poll_seconds)
