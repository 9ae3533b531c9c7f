"""Engine, sessions and the one place that commits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_

T = TypeVar("T")
SQLITE_BUSY_SECONDS = 30  # how long a SQLite writer waits for its turn before "database is locked"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes writers queue instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _OneWriter:
    """SQLite's writers of this process queue here, in order, from their first write to the end of
    their transaction.

    SQLite has one writer; the others wait in its busy handler, which polls with sleeps growing to
    100 ms: under load a message waited seconds for a lock that was free most of that time. Reads
    never queue (WAL lets them run beside the writer). Other processes (the CLI, a second replica)
    still meet the busy handler, as before.
    """

    _HOLDS = "platform_hub.writing"  # in the connection's info while it holds the turn
    _WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")

    def __init__(self, engine: AsyncEngine, wait_seconds: float) -> None:
        self._turn = asyncio.Lock()
        self._wait_seconds = wait_seconds
        event.listen(engine.sync_engine, "before_cursor_execute", self._before_execute)
        # The turn goes back with the connection, its transaction over (committed or not): given
        # back at the commit event instead, it would find the COMMIT still under way.
        event.listen(engine.sync_engine.pool, "checkin", self._release)

    def _before_execute(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        context: DefaultExecutionContext | None,
        _executemany: bool,
    ) -> None:
        if conn.info.get(self._HOLDS) or not self._writes(statement, context):
            return
        await_(self._take_turn())  # this runs in SQLAlchemy's greenlet: it may wait on the event loop
        conn.info[self._HOLDS] = True

    def _writes(self, statement: str, context: DefaultExecutionContext | None) -> bool:
        compiled = context is not None and (context.isinsert or context.isupdate or context.isdelete)
        return compiled or statement.lstrip()[:7].upper().startswith(self._WRITES)

    async def _take_turn(self) -> None:
        try:
            async with asyncio.timeout(self._wait_seconds):
                await self._turn.acquire()
        except TimeoutError:  # as SQLite's own busy timeout would answer
            raise sqlite3.OperationalError("database is locked") from None

    def _release(self, _dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if record.info.pop(self._HOLDS, False):
            self._turn.release()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # Japanese item names stay readable in the database


def create_database_file(path: str | os.PathLike[str]) -> None:
    """Create a SQLite database file readable by its owner only, before SQLite opens it: SQLite would
    create it under the process umask (0644 as a rule), and gives its -wal and -shm files its mode.

    Only a file that does not exist is opened (O_EXCL): closing a descriptor of a database file drops
    every POSIX lock this process holds on it, SQLite's among them, which corrupts the database."""
    if str(path) in {"", ":memory:"}:
        return
    # It exists already, or its folder is missing or not ours: SQLite opens it, or says so, as it would.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_database_file_of(url: str) -> None:
    """``create_database_file`` for a SQLite URL's file; nothing for another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and "uri" not in parsed.query:
        create_database_file(parsed.database)


def create_engine(async_url: str) -> AsyncEngine:
    if async_url.startswith("sqlite"):
        engine = create_async_engine(
            async_url, connect_args={"timeout": SQLITE_BUSY_SECONDS}, json_serializer=_json
        )
        event.listen(engine.sync_engine, "do_connect", lambda *_: create_database_file_of(async_url))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _OneWriter(engine, SQLITE_BUSY_SECONDS)
        return engine
    # Connections kept open for as many requests and deliveries as run at once: an overflow
    # connection is closed when returned, and opening one costs PostgreSQL a new backend process.
    return create_async_engine(
        async_url, pool_size=20, max_overflow=10, pool_pre_ping=True, json_serializer=_json
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """The one place that commits: services only ``flush()``; an exception rolls everything back."""
    async with sessions() as session, session.begin():
        yield session


async def run_once(async_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One unit of work on an engine of its own: for CLI commands and scripts, not the service."""
    engine = create_engine(async_url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()
