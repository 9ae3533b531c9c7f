"""What the message path shares in a running hub, besides the plumbing: the configuration snapshot
(units and ordinance), the dispatcher's wake-up call and the notifications' group committer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from platform_hub.kit.runtime import Runtime
from platform_hub.linkage.configuration import Configuration
from platform_hub.linkage.group_commit import GroupCommitter
from platform_hub.linkage.message_store import MessageStore
from platform_hub.models.generation import Snapshots


@dataclass(kw_only=True)
class LinkageRuntime(Runtime):
    configuration: Snapshots[Configuration]  # the units and the ordinance; never get() inside a session
    message_store: MessageStore  # the message path's reads and writes: asyncpg on PostgreSQL, else SQLAlchemy
    # Set when a notification is accepted, so the dispatcher need not wait for its next poll.
    deliveries_waiting: asyncio.Event = field(default_factory=asyncio.Event)
    # Commits accepted notifications of concurrent requests together; started with the hub's tasks.
    group_commit: GroupCommitter = field(init=False)

    def __post_init__(self) -> None:
        self.group_commit = GroupCommitter(
            self.sessions,
            max_members=self.settings.group_commit_max,
            wait_seconds=self.settings.group_commit_wait_ms / 1000,
        )
