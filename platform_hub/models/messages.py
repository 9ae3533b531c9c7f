from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime
from platform_hub.protocol.specs import Pattern


class MessageStatus(StrEnum):
    """Where a message stands. A query is ``forwarding`` until ``answered`` or ``failed`` (``refused``
    when the registry or the ordinance stopped it first); a notification is ``accepted`` at once; a
    batch is ``receiving`` until ``accepted`` (or ``refused``)."""

    FORWARDING = "forwarding"
    ANSWERED = "answered"
    FAILED = "failed"
    REFUSED = "refused"
    ACCEPTED = "accepted"
    RECEIVING = "receiving"


class DeliveryStatus(StrEnum):
    """A delivery is ``pending`` (waiting or leased) until ``delivered``, ``refused`` (the registry or
    the ordinance let nothing go to that subscriber) or ``dead`` (out of attempts or too old)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    REFUSED = "refused"
    DEAD = "dead"


class Message(Base):
    """A linkage message the hub accepted, keyed by the sender's MSGID for idempotency."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("source_unit", "msgid"),
        # The query answers still kept, oldest first: what the answer retention drops.
        Index(
            "ix_messages_answers_kept",
            "completed_at",
            postgresql_where=text("response_xml IS NOT NULL AND pattern = 'query'"),
            sqlite_where=text("response_xml IS NOT NULL AND pattern = 'query'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reception_number: Mapped[str] = mapped_column(String(32), unique=True)
    source_unit: Mapped[str] = mapped_column(ForeignKey("units.code"))
    msgid: Mapped[str] = mapped_column(String(64))
    interface_id: Mapped[str] = mapped_column(String(16), index=True)
    pattern: Mapped[Pattern] = mapped_column(StrEnumType(Pattern, 16))
    mode: Mapped[str] = mapped_column(String(1))
    destination_unit: Mapped[str | None] = mapped_column(String(3))
    purpose_code: Mapped[str] = mapped_column(String(16))
    body_digest: Mapped[str] = mapped_column(String(64))
    request_xml: Mapped[bytes]
    response_xml: Mapped[bytes | None]
    response_digest: Mapped[str | None] = mapped_column(
        String(64), doc="SHA-256 of a query's answer: what is kept once the answer itself is dropped"
    )
    status: Mapped[MessageStatus] = mapped_column(StrEnumType(MessageStatus, 16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    binding: Mapped[str] = mapped_column(String(8), default="soap", server_default="soap")

    deliveries: Mapped[list[Delivery]] = relationship(back_populates="message")


class Delivery(Base):
    """One notification to one subscriber: the durable delivery queue."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_queue_heads", "status", "subscriber_unit", "id"),
        Index("ix_deliveries_person_queue", "status", "subscriber_unit", "ordering_key", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    subscriber_unit: Mapped[str] = mapped_column(ForeignKey("units.code"))
    ordering_key: Mapped[str | None] = mapped_column(
        String(32), doc="the person (integrated number) whose notifications go in order; None: all of them"
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        StrEnumType(DeliveryStatus, 16), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    message: Mapped[Message] = relationship(back_populates="deliveries", lazy="joined", innerjoin=True)
