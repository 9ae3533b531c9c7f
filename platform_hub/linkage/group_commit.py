"""Group commit: the transactional work of concurrent notifications, in one transaction.

Accepting a notification durably costs a commit, and a commit costs the database a flush to disk
(PostgreSQL) or the one writer's turn (SQLite): one commit per message kept the hub near a hundred
notifications a second. A request hands its work to the committer instead and waits; the committer
takes whatever is waiting — up to ``max_members``, or what came within ``wait_seconds`` of the first —
runs the works one after the other in one transaction, commits once, and only then answers each
request. Nothing is acknowledged before the commit that holds it.

A member that fails (its own refusal such as E3002, or a MSGID a concurrent send took first) must
not sink the others. The group runs optimistically; on a member's failure it is rolled back and the
others run again as a group without it (up to ``_REGROUPS`` times: then they go one by one); each
failed one then runs alone, in a transaction of its own, as it would have without the committer. A
failure that is no member's — the commit itself, or the database away — fails every member with the
same error: none of them was acknowledged.

One group is under way at a time: a group holds the row locks of all its members (the persons a
住民異動 changes, the MSGIDs it claims), and two groups of one process taking them in different orders
would deadlock. A deadlock with another replica's group (or a serialization failure) is taken as a
member's failure: the group is taken again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_hub.kit.database import unit_of_work
from platform_hub.protocol.errors import ServiceUnavailable

T = TypeVar("T")
log = structlog.get_logger()

# Errors that are the database's, not a member's: running the members again one by one would only
# meet them once per member. But a deadlock or a serialization failure goes away when tried again.
_UNAVAILABLE = (OperationalError, InterfaceError)
_TRY_AGAIN = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
# A group is taken again without a failed member at most this often (each time one transaction more
# for the whole group): past that, the rest go one by one.
_REGROUPS = 4


def _unavailable(error: BaseException) -> bool:
    if not isinstance(error, _UNAVAILABLE):
        return False
    return getattr(getattr(error, "orig", None), "sqlstate", None) not in _TRY_AGAIN


@dataclass(eq=False)
class _Member:
    work: Callable[[AsyncSession], Awaitable[Any]]  # in the group's transaction
    alone: Callable[[], Awaitable[Any]]  # in a transaction of its own
    answer: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def resolve(self, result: Any) -> None:
        if not self.answer.done():  # its request may be gone (the client hung up): nothing to tell
            self.answer.set_result(result)

    def fail(self, error: BaseException) -> None:
        if not self.answer.done():
            self.answer.set_exception(error)


class GroupCommitter:
    """Commits the works handed to ``run`` in groups, one group at a time (while one runs, the next
    gathers)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_members: int,
        wait_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._max = max_members
        self._wait = wait_seconds
        self._waiting: asyncio.Queue[_Member] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.commits = 0  # groups committed (and members committed in them): for tests and metrics
        self.committed = 0

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._commit_groups(), name="group commit")]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._waiting.empty():  # handed over, never run: nothing of theirs was written
            self._waiting.get_nowait().fail(ServiceUnavailable("the hub is stopping; send it again"))

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], alone: Callable[[], Awaitable[T]]) -> T:
        """``work(session)`` in a group's transaction; its result once that transaction is committed.

        ``alone()`` must do the same in a transaction of its own: the committer falls back to it when
        the member failed in a group, and so does ``run`` when no committer is running.
        """
        if not self._tasks:
            return await alone()
        member = _Member(work, alone)
        self._waiting.put_nowait(member)
        result: T = await member.answer
        return result

    async def _commit_groups(self) -> None:
        while True:
            group = await self._gather()
            if group:
                await self._commit(group)

    async def _gather(self) -> list[_Member]:
        """The next group: the first member waiting, and those that come within the wait, up to max."""
        group = [await self._waiting.get()]
        deadline = asyncio.get_running_loop().time() + self._wait
        while len(group) < self._max:
            if self._waiting.empty():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        group.append(await self._waiting.get())
                except TimeoutError:
                    break
            else:
                group.append(self._waiting.get_nowait())
        return [member for member in group if not member.answer.done()]  # a request gone: no work

    async def _commit(self, group: list[_Member]) -> None:
        try:
            failed: list[_Member] = []
            rest = group
            for _ in range(_REGROUPS + 1):
                culprit = await self._together(rest)
                if culprit is None:  # committed (or failed as a whole): everyone has an answer
                    rest = []
                    break
                failed.append(culprit)
                rest = [member for member in rest if member is not culprit]
                if not rest:
                    break
            for member in [*rest, *failed]:  # each on its own, as without the committer
                await self._alone(member)
        except asyncio.CancelledError:  # the hub is stopping: whatever was not answered gets an answer
            for member in group:
                member.fail(ServiceUnavailable("the hub is stopping; send it again"))
            raise

    async def _together(self, group: list[_Member]) -> _Member | None:
        """Run the group in one transaction and answer its members; the member that failed, if one
        did (nothing is committed then and no one is answered)."""
        results: list[Any] = []
        failed: _Member | None = None
        try:
            async with unit_of_work(self._sessions) as session:
                for member in group:
                    failed = member
                    results.append(await member.work(session))
                failed = None
        except Exception as error:
            if failed is None or _unavailable(error):  # the commit's, or the database's
                for member in group:
                    member.fail(error)
                return None
            log.info("a member of a group commit failed; the others go again without it", error=repr(error))
            return failed
        self.commits += 1
        self.committed += len(group)
        for member, result in zip(group, results, strict=True):
            member.resolve(result)
        return None

    async def _alone(self, member: _Member) -> None:
        if member.answer.done():  # its request is gone, and nothing of it was committed
            return
        try:
            member.resolve(await member.alone())
        except Exception as error:
            member.fail(error)
