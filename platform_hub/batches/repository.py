"""All queries of batches: their progress, chunks, refused records, and chunks delivered."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import (
    Batch,
    BatchChunk,
    BatchChunkDelivery,
    BatchResult,
    BatchStatus,
    Delivery,
    DeliveryStatus,
    Message,
    MessageStatus,
)


async def get_batch(session: AsyncSession, message_id: uuid.UUID) -> Batch | None:
    return await session.get(Batch, message_id)


async def by_reception_number(session: AsyncSession, reception_number: str) -> tuple[Message, Batch] | None:
    query = (
        select(Message, Batch)
        .join(Batch, Batch.message_id == Message.id)
        .where(Message.reception_number == reception_number)
    )
    row = (await session.execute(query)).one_or_none()
    return (row[0], row[1]) if row else None


async def refuse(session: AsyncSession, message_id: uuid.UUID) -> None:
    """A batch refused part-way (its XML broken, its tail invalid): forget what it had received, so the
    refusal is all that is kept, and the same MSGID sent again starts over."""
    await session.execute(delete(BatchChunk).where(BatchChunk.message_id == message_id))
    await session.execute(delete(BatchResult).where(BatchResult.message_id == message_id))
    await session.execute(
        update(Batch)
        .where(Batch.message_id == message_id)
        .values(
            status=BatchStatus.REFUSED, chunks=0, records_received=0, records_accepted=0, records_refused=0
        )
    )
    await session.execute(
        update(Message).where(Message.id == message_id).values(status=MessageStatus.REFUSED)
    )


async def add_chunk(
    session: AsyncSession,
    chunk: BatchChunk,
    refused: list[dict[str, object]],
    *,
    received: int,
    digest: str,
    now: datetime,
) -> None:
    """Keep one chunk and its refused records, and move the batch's progress past it."""
    session.add(chunk)
    await add_results(session, refused)
    await session.execute(
        update(Batch)
        .where(Batch.message_id == chunk.message_id)
        .values(
            chunks=Batch.chunks + 1,
            records_received=Batch.records_received + received,
            records_accepted=Batch.records_accepted + len(chunk.persons),
            records_refused=Batch.records_refused + len(refused),
            records_digest=digest,
            updated_at=now,
        )
    )


async def add_results(session: AsyncSession, refused: list[dict[str, object]]) -> None:
    if refused:
        await session.execute(insert(BatchResult), refused)


async def get_chunk(session: AsyncSession, message_id: uuid.UUID, chunk_no: int) -> BatchChunk | None:
    return await session.get(BatchChunk, (message_id, chunk_no))


async def results(
    session: AsyncSession, message_id: uuid.UUID, *, after: int = 0, limit: int = 1000
) -> Sequence[BatchResult]:
    """The refused records, in the order they were refused (intake first), a page after ``after``."""
    query = (
        select(BatchResult)
        .where(BatchResult.message_id == message_id, BatchResult.id > after)
        .order_by(BatchResult.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def delivered_chunks(session: AsyncSession, delivery_id: int) -> set[int]:
    query = select(BatchChunkDelivery.chunk_no).where(BatchChunkDelivery.delivery_id == delivery_id)
    return set((await session.scalars(query)).all())


async def hold_lease(session: AsyncSession, delivery_id: int, attempt: int, until: datetime) -> bool:
    """Keep a long batch delivery leased chunk after chunk; ``False`` when it is no longer ours."""
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.attempts == attempt,
        )
        .values(next_attempt_at=until)
        .returning(Delivery.id)
    )
    return result.scalar_one_or_none() is not None


async def delivery_progress(
    session: AsyncSession, message_id: uuid.UUID
) -> list[tuple[Delivery, int, int, int]]:
    """Each delivery of a batch with its chunks done and its records delivered and refused."""
    done = (
        select(
            BatchChunkDelivery.delivery_id,
            func.count().label("chunks"),
            func.sum(BatchChunkDelivery.delivered).label("delivered"),
            func.sum(BatchChunkDelivery.refused).label("refused"),
        )
        .group_by(BatchChunkDelivery.delivery_id)
        .subquery()
    )
    query = (
        select(Delivery, done.c.chunks, done.c.delivered, done.c.refused)
        .outerjoin(done, done.c.delivery_id == Delivery.id)
        .where(Delivery.message_id == message_id)
        .order_by(Delivery.id)
    )
    return [
        (d, chunks or 0, delivered or 0, refused or 0)
        for d, chunks, delivered, refused in await session.execute(query)
    ]
