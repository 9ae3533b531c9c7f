"""Where a query's message and its record are written, each step one short write of its own: the
message claimed under its MSGID; the 宛名番号 translated (a read); the answer, or the refusal or failure,
stored with the record's entries, at once.

``SessionStore`` runs them through SQLAlchemy on any database. ``PostgresStore`` runs the same SQL on
asyncpg — compiled once from the SQLAlchemy statements, prepared once per connection by asyncpg —
and makes the last step one statement (the UPDATE in a CTE beside the entries' INSERT): on the message
path SQLAlchemy's session and psycopg cost about four times asyncpg's CPU per statement
(docs/performance.md). Everything else in the hub stays on SQLAlchemy.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import Table, bindparam, make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as AsyncpgDialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_hub.addressees import translation
from platform_hub.addressees.repository import translation_query
from platform_hub.audit.service import TransferFacts, entry_rows, record_entries
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import repository
from platform_hub.models import Message, MessageStatus
from platform_hub.protocol.errors import database_unavailable


class QueryStore(Protocol):
    async def claim(self, message: Message) -> bool:
        """Insert the message; ``False`` when a send of its MSGID holds it already."""

    async def lookup(self, from_unit: str, atena: str, to_unit: str | None) -> tuple[str, str | None]:
        """``addressees.translation.translate``, outside any transaction."""

    async def finish(
        self,
        message_id: uuid.UUID,
        status: MessageStatus,
        answer: bytes | None,
        at: datetime,
        facts: TransferFacts,
        subjects: Sequence[str | None],
        *,
        record_key: bytes,
    ) -> None:
        """Store the answer (``None``: a refusal or a failure) and the record's entries, atomically."""

    async def close(self) -> None: ...


class SessionStore:
    """Every database, through SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, message: Message) -> bool:
        try:
            async with unit_of_work(self._sessions) as session:
                await repository.add_message(session, message)
        except IntegrityError:
            return False
        return True

    async def lookup(self, from_unit: str, atena: str, to_unit: str | None) -> tuple[str, str | None]:
        async with self._sessions() as session:
            return await translation.translate(session, from_unit, atena, to_unit)

    async def finish(
        self,
        message_id: uuid.UUID,
        status: MessageStatus,
        answer: bytes | None,
        at: datetime,
        facts: TransferFacts,
        subjects: Sequence[str | None],
        *,
        record_key: bytes,
    ) -> None:
        async with unit_of_work(self._sessions) as session:
            await repository.complete_message(session, message_id, status, answer, at)
            await record_entries(session, facts, subjects, record_key)

    async def close(self) -> None:
        return None


_MESSAGES = cast(Table, Message.__table__)
_DIALECT = AsyncpgDialect(  # type: ignore[no-untyped-call]
    json_serializer=functools.partial(json.dumps, ensure_ascii=False)
)
_DRIVER_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


def _compiled(statement: Any) -> tuple[str, tuple[str, ...]]:
    """The statement's SQL for asyncpg ($1, $2 …) and its parameters' names in that order."""
    compiled = statement.compile(dialect=_DIALECT)
    return compiled.string, tuple(compiled.positiontup or ())


_CLAIM = _compiled(
    pg_insert(_MESSAGES)
    .values({column.name: bindparam(column.name, type_=column.type) for column in _MESSAGES.c})
    .on_conflict_do_nothing(index_elements=["source_unit", "msgid"])
    .returning(_MESSAGES.c.id)
)
_TRANSLATED, _LINKED_PERSON = _compiled(translation_query(True)), _compiled(translation_query(False))
_FINISH = """WITH completed AS (
    UPDATE messages SET status = $1, response_xml = $2, response_digest = $3, completed_at = $4
    WHERE id = $5
) """


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as asyncpg takes it (no driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresStore:
    """PostgreSQL, on an asyncpg pool of its own."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, size: int) -> PostgresStore:
        # No connection is made before the first message: a hub starts while its database is away.
        pool = asyncpg.create_pool(asyncpg_dsn(url), min_size=0, max_size=size, reset=_left_as_it_was)
        return cls(await pool)

    async def claim(self, message: Message) -> bool:
        sql, names = _CLAIM
        values = {column.name: getattr(message, column.name) for column in _MESSAGES.c}
        return await self._fetchval(sql, *(values[name] for name in names)) is not None

    async def lookup(self, from_unit: str, atena: str, to_unit: str | None) -> tuple[str, str | None]:
        if to_unit is None:
            rows = await self._fetch(_LINKED_PERSON[0], from_unit, atena)
        else:
            rows = await self._fetch(_TRANSLATED[0], from_unit, atena, to_unit)
        return translation.interpret(rows, from_unit, atena, to_unit)

    async def finish(
        self,
        message_id: uuid.UUID,
        status: MessageStatus,
        answer: bytes | None,
        at: datetime,
        facts: TransferFacts,
        subjects: Sequence[str | None],
        *,
        record_key: bytes,
    ) -> None:
        digest = hashlib.sha256(answer).hexdigest() if answer is not None else None
        columns, rows = entry_rows(facts, subjects, record_key, _DIALECT)
        await self._execute(
            _finish_statement(tuple(columns), len(rows)),
            status.value,
            answer,
            digest,
            at,
            message_id,
            *(value for row in rows for value in row),
        )

    async def close(self) -> None:
        await self._pool.close()

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            return cast(list[Any], await self._pool.fetch(sql, *args))
        except _DRIVER_ERRORS as exc:
            raise database_unavailable(exc) from exc

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self._pool.fetchval(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise database_unavailable(exc) from exc

    async def _execute(self, sql: str, *args: Any) -> None:
        try:
            await self._pool.execute(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise database_unavailable(exc) from exc


async def _left_as_it_was(_: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing. The store's statements run one
    at a time, outside transactions, and set, lock and listen to nothing; asyncpg's own reset would
    cost a round trip after every one of them."""


@functools.lru_cache(maxsize=64)  # one per household size seen: asyncpg prepares each once
def _finish_statement(columns: tuple[str, ...], rows: int) -> str:
    """The answer's UPDATE and its ``rows`` entries' INSERT, one statement (their parameters $6 on)."""
    width = len(columns)
    values = ", ".join(
        "(" + ", ".join(f"${6 + row * width + k}" for k in range(width)) + ")" for row in range(rows)
    )
    return _FINISH + f"INSERT INTO transfer_records ({', '.join(columns)}) VALUES {values}"  # noqa: S608 - our columns


async def open_store(url: str, sessions: async_sessionmaker[AsyncSession]) -> QueryStore:
    """asyncpg's store on PostgreSQL (a pool as large as SQLAlchemy's), SQLAlchemy's elsewhere."""
    if make_url(url).get_backend_name() == "postgresql":
        return await PostgresStore.open(url, size=20)
    return SessionStore(sessions)
