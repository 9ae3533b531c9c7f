"""The configuration's generation: a counter every hub process watches to know when to reload.

Units, their interfaces and the ordinance change rarely but are read by every message, so each
process keeps a snapshot of them. Whatever changes them calls ``bump`` in the same transaction, so
the new generation commits with the change (or not at all); each process checks the counter at most
every ``poll_seconds`` and reloads when it moved. A change committed by this process is seen at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from platform_hub.kit.database import unit_of_work
from platform_hub.models.counters import RegistryCounter, advance

T = TypeVar("T")
CONFIGURATION = "configuration"
_BUMPED = "configuration_bumped"  # the session.info flag: this transaction changed the configuration
_committed_here = 0  # changes this process committed: its snapshots reload without waiting for a poll


async def bump(session: AsyncSession) -> None:
    """In the caller's transaction: tell every hub process that the configuration changed."""
    await advance(session, CONFIGURATION)
    session.info[_BUMPED] = True


async def current(session: AsyncSession) -> int:
    value = await session.scalar(select(RegistryCounter.value).where(RegistryCounter.name == CONFIGURATION))
    return value or 0


@event.listens_for(Session, "after_commit")
def _count_commit(session: Session) -> None:
    global _committed_here
    if session.info.pop(_BUMPED, False):
        _committed_here += 1


@event.listens_for(Session, "after_rollback")
def _forget_rollback(session: Session) -> None:
    session.info.pop(_BUMPED, None)


class Snapshots(Generic[T]):
    """The newest snapshot ``load`` made, reloaded when the generation moves.

    ``get`` opens a session of its own: never call it while holding one (SQLite's single writer, or a
    small pool, would wait on itself). The snapshot is shared by every request: treat it as read-only.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        load: Callable[[AsyncSession], Awaitable[T]],
        poll_seconds: float = 0.5,
    ) -> None:
        self._sessions, self._load, self._poll_seconds = sessions, load, poll_seconds
        self._snapshot: T | None = None
        self._generation, self._committed_seen, self._checked_at = -1, -1, 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return (
            self._snapshot is not None
            and self._committed_seen == _committed_here
            and time.monotonic() - self._checked_at < self._poll_seconds
        )

    async def get(self) -> T:
        if not self._fresh():
            async with self._lock:  # one request checks; the others wait for its answer
                if not self._fresh():
                    await self._refresh()
        assert self._snapshot is not None
        return self._snapshot

    async def _refresh(self) -> None:
        committed = _committed_here
        async with unit_of_work(self._sessions) as session:
            # Read first: a change committed between the two reads is loaded now and again next time.
            generation = await current(session)
            if self._snapshot is None or generation != self._generation:
                self._snapshot, self._generation = await self._load(session), generation
        self._committed_seen, self._checked_at = committed, time.monotonic()

    def forget(self) -> None:
        """Reload on the next ``get`` (tests, and a process told from outside)."""
        self._snapshot = None
