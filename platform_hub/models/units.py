from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
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


class FileEncoding(StrEnum):
    """How a unit's CSV files of an interface are encoded: ``utf-8`` (read with or without a BOM,
    written without), ``utf-8-sig`` (read likewise, written with a BOM: the default) or ``cp932``
    (Windows' Shift_JIS, for older systems)."""

    UTF_8 = "utf-8"
    UTF_8_SIG = "utf-8-sig"
    CP932 = "cp932"

    @property
    def reading(self) -> str:
        """The codec that decodes what the unit sends: UTF-8 with its BOM, if any, dropped."""
        return "cp932" if self is FileEncoding.CP932 else "utf-8-sig"


class FileDelivery(StrEnum):
    """How a subscriber takes a batch: as messages POSTed to it, or as a CSV file it fetches."""

    MESSAGE = "message"
    FILE = "file"


class Binding(StrEnum):
    """How the hub reaches a unit for an interface: the 地プラ's SOAP, or the Digital Agency's REST/JSON
    (protocol/rest.py), the unit's own choice per interface."""

    SOAP = "soap"
    REST = "rest"


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
    characters: Mapped[str] = mapped_column(
        String(8), default="mj", doc="mj: 行政事務標準文字; jisx0213: the hub falls back to JIS X 0213 for it"
    )
    purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The unit's SSH public keys (authorized_keys lines) for the hub's SFTP drop box; none: no drop box.
    ssh_keys: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    interfaces: Mapped[list[UnitInterface]] = relationship(
        back_populates="unit", cascade="all, delete-orphan", lazy="selectin"
    )

    def interface_ids(self, relation: str) -> list[str]:
        return sorted(i.interface_id for i in self.interfaces if i.relation == relation)

    def interface(self, interface_id: str, relation: str) -> UnitInterface | None:
        return next(
            (i for i in self.interfaces if i.interface_id == interface_id and i.relation == relation), None
        )

    def binding(self, interface_id: str, relation: str) -> Binding:
        """How the hub sends the unit this interface: SOAP unless the unit chose REST for it."""
        row = self.interface(interface_id, relation)
        return row.binding if row is not None else Binding.SOAP


class UnitInterface(Base):
    """A unit provides an interface (answers its queries, sends its notifications) or subscribes to it."""

    __tablename__ = "unit_interfaces"

    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), primary_key=True)
    interface_id: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(String(10), primary_key=True)
    # 一括 as files: the encoding of the CSV files the unit sends (provides) or takes (subscribes), and
    # whether a subscriber takes the batch as a file rather than as messages.
    encoding: Mapped[FileEncoding] = mapped_column(
        StrEnumType(FileEncoding, 10), default=FileEncoding.UTF_8_SIG, server_default="utf-8-sig"
    )
    delivery: Mapped[FileDelivery] = mapped_column(
        StrEnumType(FileDelivery, 8), default=FileDelivery.MESSAGE, server_default="message"
    )
    # How the hub sends the unit this interface's queries (a provider) or notifications (a subscriber).
    binding: Mapped[Binding] = mapped_column(
        StrEnumType(Binding, 4), default=Binding.SOAP, server_default="soap"
    )

    unit: Mapped[Unit] = relationship(back_populates="interfaces")
