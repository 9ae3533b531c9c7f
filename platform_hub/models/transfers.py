from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime


class TransferOutcome(StrEnum):
    """What became of a transfer: a query's answer or a registry answer ``provided``, a notification
    or batch record ``delivered``, ``refused`` (the registry or the ordinance), or ``failed`` (the
    provider failed, or a delivery went dead)."""

    PROVIDED = "provided"
    DELIVERED = "delivered"
    REFUSED = "refused"
    FAILED = "failed"

    @property
    def ja(self) -> str:
        """結果 as people read it (the CSV): an answer and a delivery are both a 提供."""
        return {"provided": "提供", "delivered": "提供", "refused": "拒否", "failed": "失敗"}[self.value]


class TransferPattern(StrEnum):
    """How the information went: an interface's pattern, ``registry`` for an answer of the addressee
    registry (統一宛名), ``network`` for a 情報照会 through the 情報提供ネットワークシステム, ``juki_net`` for
    本人確認情報 from the 機構 through 住基ネット."""

    QUERY = "query"
    NOTIFICATION = "notification"
    BATCH = "batch"
    REGISTRY = "registry"
    NETWORK = "network"
    JUKI_NET = "juki_net"

    @property
    def by_statute(self) -> bool:
        """Decided by the 番号法 itself (the network's table, 第14条 for 住基ネット), not by the
        ordinance: the entry's rule is the article, and compliance re-checks it by that law."""
        return self in (TransferPattern.NETWORK, TransferPattern.JUKI_NET)

    @property
    def ja(self) -> str:
        """方式 as people read it (the CSV)."""
        return {
            "query": "照会",
            "notification": "通知",
            "batch": "一括",
            "registry": "宛名照会",
            "network": "情報照会（ネットワーク）",
            "juki_net": "本人確認情報（住基ネット）",
        }[self.value]


JUKI_NET_UNIT = "JLS"  # the providing unit of a ``juki_net`` entry: J-LIS (the 機構), through 住基ネット


class TransferRecord(Base):
    """One transfer of specified personal information (特定個人情報) about one person.

    Item names only, never values; the subject by integrated number, never the My Number. The
    database refuses UPDATE and DELETE (triggers from the migrations); the sealer chains the entries.
    On PostgreSQL the table is partitioned by the city's month of ``requested_at`` (migration 0010,
    ``audit.partitions``): this is the logical table, whose primary key there is (id, requested_at).
    """

    __tablename__ = "transfer_records"
    __table_args__ = (
        Index("ix_transfer_records_subject", "subject_integrated_number", "requested_at"),
        # A period counted by outcome (the chart, the totals) is read from the index alone.
        Index("ix_transfer_records_requested_at_outcome", "requested_at", "outcome"),
        # The auditors' usual filters, each with the period.
        Index("ix_transfer_records_interface", "interface_id", "requested_at"),
        Index("ix_transfer_records_requesting_unit", "requesting_unit", "requested_at"),
        Index("ix_transfer_records_providing_unit", "providing_unit", "requested_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    reception_number: Mapped[str] = mapped_column(String(32), index=True)
    msgid: Mapped[str] = mapped_column(String(64))
    interface_id: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[TransferPattern] = mapped_column(StrEnumType(TransferPattern, 16))
    requesting_unit: Mapped[str] = mapped_column(String(3))
    requesting_organ: Mapped[str] = mapped_column(String(100))
    requesting_department: Mapped[str | None] = mapped_column(String(16), doc="部署")
    requesting_user: Mapped[str | None] = mapped_column(String(32), doc="the clerk")
    providing_unit: Mapped[str] = mapped_column(String(3))
    providing_organ: Mapped[str] = mapped_column(String(100))
    purpose_code: Mapped[str] = mapped_column(String(16))
    ordinance_rule_id: Mapped[str | None] = mapped_column(String(64))
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    information_category: Mapped[str] = mapped_column(String(64))
    item_names: Mapped[list[str]] = mapped_column(JSON)
    subject_integrated_number: Mapped[str | None] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    provided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[TransferOutcome] = mapped_column(StrEnumType(TransferOutcome, 16))
    body_digest: Mapped[str] = mapped_column(String(64))
    # soap, rest (the Digital Agency's binding) or file (a CSV batch); none for a registry answer and for
    # entries written before bindings were recorded (chain.LATER_FIELDS keeps their digests).
    binding: Mapped[str | None] = mapped_column(String(8))
    # How the hub passed it on: to the provider it asked (a query) or to the subscriber (a notification):
    # soap, rest or file; none for a registry answer and for entries written before it was recorded.
    onward_binding: Mapped[str | None] = mapped_column(String(8))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    entry_digest: Mapped[str] = mapped_column(
        String(64), doc="SHA-256 of the canonical content, set at insert"
    )
    # Only the hub holds the record key (in its key file, outside the database): a row written by SQL
    # alone cannot carry a MAC that verifies.
    entry_mac: Mapped[str] = mapped_column(
        String(64), doc="keyed BLAKE2s of the digest: the record key's MAC"
    )


class ChainLink(Base):
    """The hash chain over the transfer record, in the order the sealer sealed the entries.

    ``requested_at`` is the entry's own, copied by the sealer (no part of the hash): on PostgreSQL the
    chain is partitioned by it as the record is, so a month's links go with its entries' partition."""

    __tablename__ = "transfer_chain"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), unique=True)
    entry_digest: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(
        String(64), doc="SHA-256(previous chain_hash ‖ entry id ‖ entry digest)"
    )
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, doc="the entry's: the partition key")


class Checkpoint(Base):
    """A signed statement of the chain's head: auditors keep these outside the hub."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    key_id: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the public key")
    signature: Mapped[str] = mapped_column(Text, doc="Ed25519 over the canonical statement, base64")


class Purge(Base):
    """A retention removal: whole periods before ``before``; the chain goes on from the anchor."""

    __tablename__ = "audit_purges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    before: Mapped[datetime] = mapped_column(UTCDateTime)
    entries_removed: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    anchor_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    anchor_hash: Mapped[str] = mapped_column(String(64), doc="chain_hash of the last removed link")
    anchor_entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    purged_by: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(64), doc="the checkpoint key that signed it")
    signature: Mapped[str | None] = mapped_column(Text, doc="Ed25519 over chain.purge_statement")


class PurgePermit(Base):
    """A row that exists only inside a purge's transaction: the append-only triggers let DELETE
    through while it is there (no other transaction ever sees it)."""

    __tablename__ = "audit_purge_permits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
