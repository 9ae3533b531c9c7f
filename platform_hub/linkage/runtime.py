"""What the message path shares in a running hub, besides the plumbing: the configuration snapshot
(units and ordinance) and the dispatcher's wake-up call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from platform_hub.kit.runtime import Runtime
from platform_hub.linkage.configuration import Configuration
from platform_hub.linkage.message_store import MessageStore
from platform_hub.models.generation import Snapshots


@dataclass(kw_only=True)
class LinkageRuntime(Runtime):
    configuration: Snapshots[Configuration]  # the units and the ordinance; never get() inside a session
    message_store: MessageStore  # a query's writes: asyncpg on PostgreSQL, SQLAlchemy elsewhere
    # Set when a notification is accepted, so the dispatcher need not wait for its next poll.
    deliveries_waiting: asyncio.Event = field(default_factory=asyncio.Event)
