"""Per-client limits on message intake: one unit cannot starve the others.

Two of them: how many messages a client sends per period (``RateLimit``: the ``limits`` library's
sliding window, in memory per hub process by default, or shared by every replica with
``redis://…``), and how many of its messages the hub works on at once (``ClientSlots``, per hub
process). Both refuse with E2003 (429, Retry-After).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from limits import parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from platform_hub.protocol.errors import RateLimited

log = structlog.get_logger()
STORAGE_RETRY_SECONDS = 30.0


class RateLimit:
    def __init__(self, rate: str, storage_uri: str) -> None:
        self.rate = rate
        self.item = parse(rate)  # "100/second", "6000/minute" …
        self.storage_away_until = 0.0
        if self.item.amount < 1:
            raise ValueError(f"rate limit {rate!r} allows nothing; give at least 1 per period")
        self.storage = storage_from_string(f"async+{storage_uri}")
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)

    def close(self) -> None:
        """Close the shared storage's connections (Redis's; memory has none), as the hub stops: the
        ``limits`` storages have no close of their own, and a connection left to the collector is
        closed, with a ResourceWarning, whenever it runs."""
        bridge = getattr(self.storage, "bridge", None)  # the Redis storages' client, limits >= 5
        pool = getattr(getattr(bridge, "storage", None), "connection_pool", None)  # a cluster has none
        if pool is not None:
            pool.disconnect()

    async def take(self, client_id: str) -> None:
        """Count one message for ``client_id``; E2003 (429, Retry-After) when over the limit. If the
        shared storage is away, messages go through (logged) and it is tried again only after a
        while: the city's intake matters more than the limit, and each failed try costs seconds."""
        if time.monotonic() < self.storage_away_until:
            return
        try:
            if await self.limiter.hit(self.item, client_id):
                return
        except Exception as away:  # the storage's own errors vary with the backend
            self.storage_away_until = time.monotonic() + STORAGE_RETRY_SECONDS
            log.warning("rate limit storage unavailable; messages let through", error=repr(away))
            return
        stats = await self.limiter.get_window_stats(self.item, client_id)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"client {client_id} is over its rate limit ({self.rate}); retry after {wait} s",
            headers={"Retry-After": str(wait)},
        )


class ClientSlots:
    """How many messages of each client the hub works on at once.

    Each message costs the hub's one event loop some milliseconds, so a client within its rate limit
    but on many connections could still fill the loop (and the database pool) with its own work and
    make every other client wait. Over its bound, a message waits a little for a slot of its own
    client (not anyone else's), then is refused. Counted in memory per hub process: behind a load
    balancer, a client may have that many under way at each replica.
    """

    def __init__(self, per_client: int, wait_seconds: float) -> None:
        self.per_client = per_client
        self.wait_seconds = wait_seconds
        self.slots: dict[str, asyncio.Semaphore] = {}  # one per client that has sent (clients are registered)

    @asynccontextmanager
    async def take(self, client_id: str) -> AsyncIterator[None]:
        """Hold one of ``client_id``'s slots for the block; E2003 (429) if none frees up in time."""
        slots = self.slots.setdefault(client_id, asyncio.Semaphore(self.per_client))
        try:
            async with asyncio.timeout(self.wait_seconds):
                await slots.acquire()
        except TimeoutError:
            raise RateLimited(
                f"client {client_id} has {self.per_client} messages under way already; retry after 1 s",
                headers={"Retry-After": "1"},
            ) from None
        try:
            yield
        finally:
            slots.release()
