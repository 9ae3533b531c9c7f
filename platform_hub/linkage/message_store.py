"""The message path's reads and writes, each one short step of its own: a query's message claimed
under its MSGID; a 宛名番号 translated (a read); a query's answer (or its refusal or failure), or a
notification's delivery, stored with the record's entries at once.

``SessionStore`` runs them through SQLAlchemy on any database. ``PostgresStore`` runs the same SQL on
asyncpg — compiled once from the SQLAlchemy statements, prepared once per connection by asyncpg —
and stores a query's answer in one statement (the UPDATE in a CTE beside the entries' INSERT): on the
message path SQLAlchemy's session and psycopg cost about four times asyncpg's CPU per statement
(docs/performance.md). Everything else in the hub stays on SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
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
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import repository
from platform_hub.models import DeliveryStatus, Message, MessageStatus
from platform_hub.protocol.errors import database_unavailable


class MessageStore(Protocol):
    async def claim(self, message: Message) -> bool:
        """Insert the message; ``False`` when a send of its MSGID holds it already."""

    async def lookup(self, from_unit: str, atena: str, to_unit: str | None) -> tuple[str, str | None]:
        """``addressees.translation.translate``, outside any transaction."""

    async def finish_query(
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

    async def finish_delivery(
        self,
        delivery_id: int,
        attempt: int,
        status: DeliveryStatus,
        refusal: str | None,
        facts: TransferFacts,
        subjects: Sequence[str | None],
        *,
        record_key: bytes,
        record_if_lost: bool,
    ) -> bool:
        """Mark a leased delivery delivered or refused, and record it, atomically; ``False`` when the
        lease was lost meanwhile (then it is recorded only ``record_if_lost``)."""

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

    async def finish_query(
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

    async def finish_delivery(
        self,
        delivery_id: int,
        attempt: int,
        status: DeliveryStatus,
        refusal: str | None,
        facts: TransferFacts,
        subjects: Sequence[str | None],
        *,
        record_key: bytes,
        record_if_lost: bool,
    ) -> bool:
        async with unit_of_work(self._sessions) as session:
            finished = await repository.finish_delivery(session, delivery_id, attempt, status, refusal)
            if finished or record_if_lost:
                await record_entries(session, facts, subjects, record_key)
        return finished

    async def close(self) -> None:
        return None


_MESSAGES = cast(Table, Message.__table__)
_DIALECT = AsyncpgDialect(  # type: ignore[no-untyped-call]
    json_serializer=functools.partial(json.dumps, ensure_ascii=False)
)
_DRIVER_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


class _Compiled:
    """A SQLAlchemy statement compiled once for asyncpg: its SQL ($1, $2 …) and its arguments in that
    order from named values (the statement's own literals filled in)."""

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.sql: str = compiled.string
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._literals = {name: value for name, value in compiled.params.items() if value is not None}

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        return [values[name] if name in values else self._literals[name] for name in self._names]


_CLAIM = _Compiled(
    pg_insert(_MESSAGES)
    .values({column.name: bindparam(column.name, type_=column.type) for column in _MESSAGES.c})
    .on_conflict_do_nothing(index_elements=["source_unit", "msgid"])
    .returning(_MESSAGES.c.id)
)
_TRANSLATED, _LINKED_PERSON = _Compiled(translation_query(True)), _Compiled(translation_query(False))
_COMPLETE_MESSAGE = _Compiled(repository.COMPLETE_MESSAGE)
_FINISH_DELIVERY = _Compiled(repository.FINISH_DELIVERY)


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
        values = {column.name: getattr(message, column.name) for column in _MESSAGES.c}
        with _unavailable_on_driver_errors():
            return await self._pool.fetchval(_CLAIM.sql, *_CLAIM.arguments(values)) is not None

    async def lookup(self, from_unit: str, atena: str, to_unit: str | None) -> tuple[str, str | None]:
        asked = {"unit_code": from_unit, "atena_number": atena}
        with _unavailable_on_driver_errors():
            if to_unit is None:
                rows = await self._pool.fetch(_LINKED_PERSON.sql, *_LINKED_PERSON.arguments(asked))
            else:
                arguments = _TRANSLATED.arguments({**asked, "to_unit": to_unit})
                rows = await self._pool.fetch(_TRANSLATED.sql, *arguments)
        return translation.interpret(rows, from_unit, atena, to_unit)

    async def finish_query(
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
        completed = {"message_id": message_id, "to_status": status.value, "answer": answer, "at": at}
        arguments = _COMPLETE_MESSAGE.arguments({**completed, "answer_digest": digest})
        columns, rows = entry_rows(facts, subjects, record_key, _DIALECT)
        entries = _insert_entries(tuple(columns), len(rows), first=len(arguments) + 1)
        with _unavailable_on_driver_errors():
            await self._pool.execute(
                f"WITH completed AS ({_COMPLETE_MESSAGE.sql}) {entries}",
                *arguments,
                *(value for row in rows for value in row),
            )

    async def finish_delivery(
        self,
        delivery_id: int,
        attempt: int,
        status: DeliveryStatus,
        refusal: str | None,
        facts: TransferFacts,
        subjects: Sequence[str | None],
        *,
        record_key: bytes,
        record_if_lost: bool,
    ) -> bool:
        at = utcnow() if status == DeliveryStatus.DELIVERED else None
        columns, rows = entry_rows(facts, subjects, record_key, _DIALECT)
        lease = {"delivery_id": delivery_id, "attempt": attempt, "to_status": status.value, "at": at}
        arguments = _FINISH_DELIVERY.arguments({**lease, "error": refusal})
        values = [value for row in rows for value in row]
        if record_if_lost:  # recorded whatever became of the lease: one statement, as a query's answer
            entries = _insert_entries(tuple(columns), len(rows), first=len(arguments) + 1)
            counted = "RETURNING (SELECT count(*) FROM finished)"
            finish = f"WITH finished AS ({_FINISH_DELIVERY.sql}) {entries} {counted}"
            with _unavailable_on_driver_errors():
                return bool(await self._pool.fetchval(finish, *arguments, *values))
        with _unavailable_on_driver_errors():
            async with self._pool.acquire() as connection, connection.transaction():
                finished = await connection.fetchval(_FINISH_DELIVERY.sql, *arguments) is not None
                if finished:
                    entries = _insert_entries(tuple(columns), len(rows), first=1)
                    await connection.execute(entries, *values)
        return finished

    async def close(self) -> None:
        await self._pool.close()


@contextlib.contextmanager
def _unavailable_on_driver_errors() -> Iterator[None]:
    """asyncpg's failures to reach the database as E5001, as SQLAlchemy's are answered elsewhere."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise database_unavailable(exc) from exc


async def _left_as_it_was(_: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing. The store's statements leave no
    transaction open and set, lock and listen to nothing; asyncpg's own reset would cost a round trip
    after every one of them."""


@functools.lru_cache(maxsize=64)  # one per household size seen: asyncpg prepares each once
def _insert_entries(columns: tuple[str, ...], rows: int, *, first: int) -> str:
    """The INSERT of ``rows`` entries, their parameters numbered from ``$first``."""
    width = len(columns)
    values = ", ".join(
        "(" + ", ".join(f"${first + row * width + k}" for k in range(width)) + ")" for row in range(rows)
    )
    return f"INSERT INTO transfer_records ({', '.join(columns)}) VALUES {values}"  # noqa: S608 - our columns


async def open_store(url: str, sessions: async_sessionmaker[AsyncSession]) -> MessageStore:
    """asyncpg's store on PostgreSQL (a pool as large as SQLAlchemy's), SQLAlchemy's elsewhere."""
    if make_url(url).get_backend_name() == "postgresql":
        return await PostgresStore.open(url, size=20)
    return SessionStore(sessions)
