from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, UTCDateTime


class NetworkInquiry(Base):
    """A 情報照会 a unit asked through the hub (the city's 団体内統合宛名 gateway) and the 中間サーバー: who
    asked about whom in its own 宛名番号, for which 事務 and information, under which 番号法 row, and
    whether its answer is recorded yet. Only the asking unit reads the answer."""

    __tablename__ = "network_inquiries"

    process_number: Mapped[str] = mapped_column(
        String(64), primary_key=True, doc="the 中間サーバー's 処理通番"
    )
    unit_code: Mapped[str] = mapped_column(String(3), index=True)
    atena_number: Mapped[str] = mapped_column(String(15), doc="the person in the asking unit's numbering")
    integrated_number: Mapped[str] = mapped_column(String(15), index=True)
    purpose_code: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64), doc="the 特定個人情報 asked for")
    provider: Mapped[str] = mapped_column(String(6), doc="the providing organisation's 団体コード")
    period: Mapped[str] = mapped_column(String(16), doc="the 年度 or 基準日 it is asked for")
    article: Mapped[str] = mapped_column(String(64), doc="the 番号法 row that allows it")
    department: Mapped[str | None] = mapped_column(String(16))
    user: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="sent")
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded: Mapped[bool] = mapped_column(Boolean, default=False, doc="its record entry is written")
    reason: Mapped[str | None] = mapped_column(Text)


class NetworkDuplicate(Base):
    """A 副本 a unit registered through the hub in the city's 中間サーバー: which unit holds what the city
    provides about the person, for which information and period. The 中間サーバー and its 第23条 records
    speak in 団体内統合宛名番号 only; this is how the hub knows, for each 提供 it made, whose it was.
    One per person × information × period, kept current as the 中間サーバー keeps the 副本."""

    __tablename__ = "network_duplicates"
    __table_args__ = (UniqueConstraint("integrated_number", "category", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    integrated_number: Mapped[str] = mapped_column(String(15))
    category: Mapped[str] = mapped_column(String(64), doc="the 特定個人情報 the 副本 holds")
    period: Mapped[str] = mapped_column(String(16), doc="the 年度 or 基準日 it is for")
    unit_code: Mapped[str] = mapped_column(String(3), index=True, doc="the unit that registered it")
    atena_number: Mapped[str] = mapped_column(String(15), doc="the person in that unit's numbering")
    purpose_code: Mapped[str] = mapped_column(String(16), doc="the unit's 事務 it registered under")
    item_names: Mapped[list[str]] = mapped_column(JSON, default=list, doc="the 副本's items, never values")
    data_digest: Mapped[str] = mapped_column(String(64), doc="an HMAC of its data under the record key")
    undisclosed: Mapped[bool] = mapped_column(Boolean, default=False, doc="不開示")
    no_auto_answer: Mapped[bool] = mapped_column(Boolean, default=False, doc="自動応答不可")
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NetworkProvision(Base):
    """A 照会 from another organisation that reached the city's 中間サーバー, as the hub learnt of it
    from the 第23条 provider-side records (or released it): once its answer is final it is recorded
    in the transfer record, exactly once — the NWS's inquiry id is the key."""

    __tablename__ = "network_provisions"

    inquiry_id: Mapped[str] = mapped_column(String(32), primary_key=True, doc="the NWS's")
    integrated_number: Mapped[str] = mapped_column(String(15), index=True)
    requester: Mapped[str] = mapped_column(String(6), doc="the asking organisation's 団体コード")
    affair: Mapped[str] = mapped_column(String(20), doc="the requester's 事務")
    category: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(String(3), doc="whose 副本 answered; none: no 副本")
    result: Mapped[str] = mapped_column(String(16), doc="pending, provided, undisclosed, not_found")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    provided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded: Mapped[bool] = mapped_column(Boolean, default=False, doc="final, and recorded if a 提供")
