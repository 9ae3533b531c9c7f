"""What a running hub process builds once and every request and background task shares: the parts
that need no domain. The linkage adds its own (``linkage.runtime``); the web layer the rest
(``web.state``)."""

from __future__ import annotations

from dataclasses import dataclass

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

    def require_vault(self) -> MyNumberVault:
        if self.vault is None:
            raise ServiceUnavailable("the My Number key file is not available; see /healthz")
        return self.vault
