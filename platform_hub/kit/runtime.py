"""What a running hub process builds once and every request and background task shares: the parts
that need no domain. The linkage adds its own (``linkage.runtime``); the web layer the rest
(``web.state``)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from platform_hub.kit.metrics import HubMetrics
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import MyNumberVault
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import ServiceUnavailable


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    catalog: Catalog
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: aiohttp.ClientSession  # to the units (linkage.unit_client)
    metrics: HubMetrics
    vault: MyNumberVault | None = None  # None when the key file is missing (healthz says so)
    # Work a request started and left running (the console's verification): cancelled at shutdown.
    background: set[asyncio.Task[object]] = field(default_factory=set)

    def start(self, work: Coroutine[object, object, object], name: str) -> asyncio.Task[object]:
        """Run ``work`` in the background, kept until it is done (or the hub stops)."""
        task: asyncio.Task[object] = asyncio.create_task(work, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def require_vault(self) -> MyNumberVault:
        if self.vault is None:
            raise ServiceUnavailable("the My Number key file is not available; see /healthz")
        return self.vault
