"""The background sealer: keeps the chain current without sitting in any request's path."""

from __future__ import annotations

import asyncio

import structlog

from platform_hub.audit import service
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.state import HubState

log = structlog.get_logger()


async def run(state: HubState) -> None:
    while True:
        try:
            async with unit_of_work(state.sessions) as session:
                sealed = await service.seal(session, state.signing_key)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be away, or another process sealed the same entries first
            log.exception("sealing round failed")
            sealed = 0
        if not sealed:
            await asyncio.sleep(state.settings.seal_interval_seconds)
