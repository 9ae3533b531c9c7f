"""一括: a batch's progress, its records in chunks, and the records it could not pass on."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime


class BatchStatus(StrEnum):
    """A batch is ``receiving`` until every record is kept and it is ``received`` (its message then
    ``accepted``), or ``refused`` whole (what it had received is dropped; the same MSGID starts over)."""

    RECEIVING = "receiving"
    RECEIVED = "received"
    REFUSED = "refused"


class Batch(Base):
    """A batch message being received or received: what an interrupted upload resumes from.

    The message row holds the MSGID, the reception number and the batch's head (the envelope without
    its records); the records are kept in chunks of ``chunk_records``, each committed on its own.
    """

    __tablename__ = "batches"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    status: Mapped[BatchStatus] = mapped_column(StrEnumType(BatchStatus, 16))
    chunk_records: Mapped[int] = mapped_column(Integer)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    records_received: Mapped[int] = mapped_column(Integer, default=0)
    records_accepted: Mapped[int] = mapped_column(Integer, default=0)
    records_refused: Mapped[int] = mapped_column(Integer, default=0)
    records_digest: Mapped[str] = mapped_column(
        String(64), doc="SHA-256 chained over the chunks received: a resumed upload must repeat them"
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BatchChunk(Base):
    """Up to ``chunk_records`` consecutive records: the accepted ones, in the sender's numbering."""

    __tablename__ = "batch_chunks"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    chunk_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    records: Mapped[bytes] = mapped_column(LargeBinary, doc="the accepted record elements, one after another")
    persons: Mapped[list[list[int | str]]] = mapped_column(
        JSON, doc="per accepted record: [sequence number, person id, integrated number]"
    )


class BatchResult(Base):
    """A record refused: at intake (no subscriber) or for one subscriber when it was delivered."""

    __tablename__ = "batch_record_results"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer, doc="the record's place in the batch, from 1")
    record_no: Mapped[str | None] = mapped_column(String(16), doc="the sender's レコード番号")
    subscriber_unit: Mapped[str | None] = mapped_column(String(3))
    code: Mapped[str] = mapped_column(String(5))
    message: Mapped[str] = mapped_column(Text)


class BatchChunkDelivery(Base):
    """A chunk delivered (or refused whole) to one subscriber, recorded in the same transaction as
    its records' transfer entries: a resumed delivery skips it, so nothing is recorded twice."""

    __tablename__ = "batch_chunk_deliveries"

    delivery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("deliveries.id"), primary_key=True
    )
    chunk_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivered: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
