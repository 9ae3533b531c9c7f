"""Per-client rate limits on message intake: one unit cannot starve the others.

The counting is the ``limits`` library's sliding window; its storage is in memory (per hub process)
by default, or shared by every replica with ``redis://…``.
"""

from __future__ import annotations

import math
import time

import structlog
from limits import parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from platform_hub.kit.errors import RateLimited

log = structlog.get_logger()
STORAGE_RETRY_SECONDS = 30.0


class RateLimit:
    def __init__(self, rate: str, storage_uri: str) -> None:
        self.rate = rate
        self.item = parse(rate)  # "100/second", "6000/minute" …
        self.storage_away_until = 0.0
        if self.item.amount < 1:
            raise ValueError(f"rate limit {rate!r} allows nothing; give at least 1 per period")
        self.limiter = SlidingWindowCounterRateLimiter(storage_from_string(f"async+{storage_uri}"))

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
