"""What the app builds once at start-up and every request shares."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import httpx
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from platform_hub.addressees.vault import MyNumberVault
from platform_hub.audit.chain import SigningKey
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.generation import Snapshots
from platform_hub.kit.metrics import HubMetrics
from platform_hub.kit.ratelimit import ClientSlots, RateLimit
from platform_hub.kit.settings import Settings
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import ServiceUnavailable

if TYPE_CHECKING:
    from platform_hub.linkage.configuration import Configuration


@dataclass
class HubState:
    settings: Settings
    catalog: Catalog
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    metrics: HubMetrics
    rate_limit: RateLimit  # every authenticated call: messages, the registry, the JSON endpoints
    configuration: Snapshots[Configuration]  # the units and the ordinance; never get() inside a session
    # Set when a notification is accepted, so the dispatcher need not wait for its next poll.
    deliveries_waiting: asyncio.Event = field(default_factory=asyncio.Event)
    dispatcher: asyncio.Task[None] | None = None
    vault: MyNumberVault | None = None  # None when the key file is missing (healthz says so)
    signing_key: SigningKey | None = None  # signs the record's checkpoints; None: healthz says so
    sealer: asyncio.Task[None] | None = None
    janitor: asyncio.Task[None] | None = None  # drops query answers past their retention
    token_rate_limit: RateLimit | None = None  # token requests per client id
    verifying: asyncio.Lock = field(default_factory=asyncio.Lock)  # one whole-record verification at a time
    client_slots: ClientSlots = field(init=False)  # from the settings: messages under way per client

    def __post_init__(self) -> None:
        self.client_slots = ClientSlots(self.settings.client_concurrency, self.settings.client_wait_seconds)

    def require_vault(self) -> MyNumberVault:
        if self.vault is None:
            raise ServiceUnavailable("the My Number key file is not available; see /healthz")
        return self.vault


def get_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


State = Annotated[HubState, Depends(get_state)]


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    """The request's session; it commits when the endpoint returns, and only then."""
    async with unit_of_work(state.sessions) as session:
        yield session


# scope="function": the commit happens before the response leaves, so a 2xx means committed.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
