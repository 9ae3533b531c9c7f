from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime


class UnitMode(StrEnum):
    """A ``test`` unit sends and receives only MSGMode 1 messages, a ``production`` unit MSGMode 0."""

    PRODUCTION = "production"
    TEST = "test"

    @classmethod
    def of_message(cls, msg_mode: str) -> UnitMode:
        """The units a message with this MSGMode is for."""
        return cls.TEST if msg_mode == "1" else cls.PRODUCTION


class Unit(Base):
    """A business unit (業務ユニット) registered through its adapter."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organ: Mapped[str] = mapped_column(String(100), doc="機関: 市長, 教育委員会 …")
    base_url: Mapped[str] = mapped_column(String(500))
    mode: Mapped[UnitMode] = mapped_column(StrEnumType(UnitMode, 10), default=UnitMode.PRODUCTION)
    soap_faults: Mapped[str] = mapped_column(
        String(8), default="contract", doc="contract: the contract's HTTP status; wsi: 500 for every fault"
    )
    purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    interfaces: Mapped[list[UnitInterface]] = relationship(
        back_populates="unit", cascade="all, delete-orphan", lazy="selectin"
    )

    def interface_ids(self, relation: str) -> list[str]:
        return sorted(i.interface_id for i in self.interfaces if i.relation == relation)


class UnitInterface(Base):
    """A unit provides an interface (answers its queries, sends its notifications) or subscribes to it."""

    __tablename__ = "unit_interfaces"

    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), primary_key=True)
    interface_id: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(String(10), primary_key=True)

    unit: Mapped[Unit] = relationship(back_populates="interfaces")
