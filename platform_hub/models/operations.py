from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class OperationOutcome(StrEnum):
    """What became of a call: done (``ok``), ``refused`` (its role, the ordinance, a bad request), or
    ``failed`` (the hub could not do it)."""

    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"

    @property
    def ja(self) -> str:
        """結果 as people read it (the CSV)."""
        return {"ok": "成功", "refused": "拒否", "failed": "失敗"}[self.value]


class Operation(Base):
    """One entry of the operations record (操作ログ): who did what, to which person, when, with what
    outcome — token issues and refusals (認証ログ), registry searches, reads, links and My Number
    reveals, changes of units, clients, keys and the ordinance (設定変更ログ), and every auditor query.

    Append-only and chained like the transfer record; never a value of a person's attributes, never a
    My Number. ``parameters`` is canonical JSON text (sorted keys), so the digest reads it as stored.
    """

    __tablename__ = "operations"
    __table_args__ = (
        Index("ix_operations_at", "at"),
        Index("ix_operations_subject", "subject_integrated_number", "at"),
        Index("ix_operations_client", "client_id", "at"),
        Index("ix_operations_action", "action", "at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_id: Mapped[str] = mapped_column(String(64), doc="the OAuth client, or cli:… for the command line")
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(String(3))
    department: Mapped[str | None] = mapped_column(String(16), doc="部署, when the caller names it")
    clerk: Mapped[str | None] = mapped_column(String(32), doc="操作者ID, when the caller names it")
    action: Mapped[str] = mapped_column(String(32), doc="registry.read, token.issue, audit.transfers …")
    subject_integrated_number: Mapped[str | None] = mapped_column(String(15))
    outcome: Mapped[OperationOutcome] = mapped_column(StrEnumType(OperationOutcome, 16))
    detail: Mapped[str | None] = mapped_column(Text)
    parameters: Mapped[str] = mapped_column(Text, doc="canonical JSON of what was asked")
    entry_digest: Mapped[str] = mapped_column(String(64))
    entry_mac: Mapped[str] = mapped_column(
        String(64), doc="keyed BLAKE2s of the digest: the record key's MAC"
    )


class OperationLink(Base):
    """The hash chain over the operations record (as ``transfer_chain`` over the transfer record)."""

    __tablename__ = "operation_chain"

    seq: Mapped[int] = mapped_column(_ID, primary_key=True)
    entry_id: Mapped[int] = mapped_column(_ID, unique=True)
    entry_digest: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OperationCheckpoint(Base):
    """A signed statement of the operations chain's head."""

    __tablename__ = "operation_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(_ID, index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
