"""All queries of the audit domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import (
    AuditAccess,
    ChainLink,
    Checkpoint,
    OrdinanceRule,
    OrdinanceVersion,
    TransferRecord,
)

SEALER_LOCK = 0x5EA1  # the PostgreSQL advisory lock only one sealer at a time holds
_SWEEP_WINDOW = 100_000  # entries committed this far behind the newest sealed one are still found


async def take_sealer_lock(session: AsyncSession) -> bool:
    """On PostgreSQL, the transaction-scoped advisory lock; SQLite has one writer anyway."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEALER_LOCK}))


async def chain_head(session: AsyncSession) -> ChainLink | None:
    return (await session.scalars(select(ChainLink).order_by(ChainLink.seq.desc()).limit(1))).first()


async def unsealed(session: AsyncSession, after_id: int, limit: int) -> Sequence[Any]:
    """Entries not yet in the chain, oldest first. Only a window behind the last sealed id is looked
    at, so the query stays an index range scan however long the record grows."""
    query = (
        select(TransferRecord.id, TransferRecord.entry_digest)
        .outerjoin(ChainLink, ChainLink.entry_id == TransferRecord.id)
        .where(TransferRecord.id > after_id - _SWEEP_WINDOW, ChainLink.entry_id.is_(None))
        .order_by(TransferRecord.id)
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def last_checkpoint(session: AsyncSession) -> Checkpoint | None:
    return (await session.scalars(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1))).first()


async def checkpoints(session: AsyncSession) -> Sequence[Checkpoint]:
    return (await session.scalars(select(Checkpoint).order_by(Checkpoint.id))).all()


async def chain_with_entries(
    session: AsyncSession, batch: int = 5000
) -> AsyncGenerator[tuple[ChainLink, Any]]:
    """Every chain link in order with its entry (``None`` when the entry is gone), streamed."""
    query = (
        select(ChainLink, TransferRecord)
        .outerjoin(TransferRecord, TransferRecord.id == ChainLink.entry_id)
        .order_by(ChainLink.seq)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(query)
    try:
        async for link, entry in result:
            yield link, entry
    finally:
        await result.close()  # also when the caller stops early: no server-side cursor left open


async def unsealed_before(session: AsyncSession, moment: dt.datetime) -> Sequence[int]:
    query = (
        select(TransferRecord.id)
        .outerjoin(ChainLink, ChainLink.entry_id == TransferRecord.id)
        .where(ChainLink.entry_id.is_(None), TransferRecord.recorded_at < moment)
        .order_by(TransferRecord.id)
    )
    return (await session.scalars(query.limit(10))).all()


async def transfers(
    session: AsyncSession, conditions: list[ColumnElement[bool]], before_id: int | None, limit: int
) -> Sequence[TransferRecord]:
    query = select(TransferRecord).where(*conditions)
    if before_id is not None:
        query = query.where(TransferRecord.id < before_id)
    return (await session.scalars(query.order_by(TransferRecord.id.desc()).limit(limit))).all()


async def articles(session: AsyncSession, rule_ids: set[str]) -> dict[str, str]:
    """``{"2026-04/U-03": "別表第2 第6項"}`` for the rules transfer records name."""
    pairs = [rule_id.split("/", 1) for rule_id in rule_ids if "/" in rule_id]
    if not pairs:
        return {}
    query = (
        select(OrdinanceVersion.version, OrdinanceRule.code, OrdinanceRule.article)
        .join(OrdinanceRule.version)
        .where(
            OrdinanceVersion.version.in_({p[0] for p in pairs}), OrdinanceRule.code.in_({p[1] for p in pairs})
        )
    )
    return {f"{v}/{c}": article for v, c, article in await session.execute(query)}


async def count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(TransferRecord)) or 0


def log_access(
    session: AsyncSession, client_id: str, action: str, subject: str | None, parameters: dict[str, str]
) -> None:
    session.add(
        AuditAccess(
            client_id=client_id, action=action, subject_integrated_number=subject, parameters=parameters
        )
    )


async def transfers_between(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, outcomes: Sequence[str]
) -> AsyncIterator[TransferRecord]:
    query = (
        select(TransferRecord)
        .where(
            TransferRecord.requested_at >= start,
            TransferRecord.requested_at < end,
            TransferRecord.outcome.in_(list(outcomes)),
        )
        .order_by(TransferRecord.id)
        .execution_options(yield_per=5000)
    )
    result = await session.stream_scalars(query)
    try:
        async for entry in result:
            yield entry
    finally:
        await result.close()
