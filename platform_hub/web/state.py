"""The app's state: what the running hub shares, and the request's session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.chain import SigningKey
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.ratelimit import ClientSlots, RateLimit
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.network.service import NationalSystems


@dataclass(kw_only=True)
class HubState(LinkageRuntime):
    rate_limit: RateLimit  # every authenticated call: messages, the registry, the JSON endpoints
    token_rate_limit: RateLimit | None = None  # token requests per client id
    signing_key: SigningKey | None = None  # signs the record's checkpoints; None: healthz says so
    dispatcher: asyncio.Task[None] | None = None
    sealer: asyncio.Task[None] | None = None
    janitor: asyncio.Task[None] | None = None  # drops query answers past their retention
    national: NationalSystems | None = None  # the 中間サーバー and 住基ネット; None: not connected
    provision_sync: asyncio.Task[None] | None = None  # records the 中間サーバー's 提供 (network.provision)
    verifying: asyncio.Lock = field(default_factory=asyncio.Lock)  # one whole-record verification at a time
    client_slots: ClientSlots = field(init=False)  # from the settings: messages under way per client

    def __post_init__(self) -> None:
        self.client_slots = ClientSlots(self.settings.client_concurrency, self.settings.client_wait_seconds)


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
