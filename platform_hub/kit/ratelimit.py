"""Per-client rate limits on message intake: one unit cannot starve the others.

The counting is the ``limits`` library's sliding window; its storage is in memory (per hub process)
by default, or shared by every replica with ``redis://…``.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from platform_hub.kit.errors import RateLimited


class RateLimit:
    def __init__(self, rate: str, storage_uri: str) -> None:
        self.rate = rate
        self.item = parse(rate)  # "100/second", "6000/minute" …
        self.limiter = SlidingWindowCounterRateLimiter(storage_from_string(f"async+{storage_uri}"))

    async def take(self, client_id: str) -> None:
        """Count one message for ``client_id``; E2003 (429, Retry-After) when over the limit."""
        if await self.limiter.hit(self.item, client_id):
            return
        stats = await self.limiter.get_window_stats(self.item, client_id)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"client {client_id} is over its rate limit ({self.rate}); retry after {wait} s",
            headers={"Retry-After": str(wait)},
        )
