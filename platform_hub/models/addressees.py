from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime
from platform_hub.protocol.registry import ResidentStatus


class Person(Base):
    """A person of the registry, known city-wide by the 団体内統合宛名番号.

    ``sqlite_autoincrement`` (and a sequence on PostgreSQL) means an id, and so the integrated
    number derived from it, is never handed out twice.
    """

    __tablename__ = "persons"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it as is

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    integrated_number: Mapped[str] = mapped_column(String(15), unique=True)
    my_number_key_id: Mapped[str | None] = mapped_column(String(16))
    my_number_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The keyed hash makes "one integrated number per My Number" a unique constraint.
    my_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    restricted_attributes: Mapped[list[str]] = mapped_column(JSON, default=list, doc="他業務参照不可")
    restricted_by_unit: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[PersonVersion]] = relationship(
        back_populates="person", order_by="PersonVersion.valid_from", lazy="selectin"
    )
    links: Mapped[list[AtenaLink]] = relationship(back_populates="person", lazy="selectin")


class PersonVersion(Base):
    """The 基本4情報 and 住民状態 of a person from ``valid_from`` until ``valid_to`` (exclusive).

    The ``*_key`` columns hold the normalised forms that searches compare.
    """

    __tablename__ = "person_versions"
    __table_args__ = (
        Index("ix_person_versions_birth_name", "birth_date", "name_key"),
        Index("ix_person_versions_birth_kana", "birth_date", "kana_key"),
        Index("ix_person_versions_address", "address_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100), doc="氏名")
    name_kana: Mapped[str | None] = mapped_column(String(100), doc="読み仮名")
    birth_date: Mapped[str] = mapped_column(String(10), doc="YYYY-MM-DD; DD 00 when the day is unknown")
    sex: Mapped[str] = mapped_column(String(1), doc="0 不明, 1 男, 2 女")
    address: Mapped[str] = mapped_column(String(200))
    municipality_code: Mapped[str | None] = mapped_column(String(6), doc="市区町村コード")
    status: Mapped[ResidentStatus] = mapped_column(StrEnumType(ResidentStatus, 16), doc="住民状態")
    name_key: Mapped[str] = mapped_column(String(100))
    kana_key: Mapped[str | None] = mapped_column(String(100))
    address_key: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text, doc="what changed: 転居, 氏名変更 …")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship(back_populates="versions")


class AtenaLink(Base):
    """A unit's 宛名番号 linked to a person; unlinking keeps the row with who, when and why."""

    __tablename__ = "atena_links"
    __table_args__ = (
        Index(
            "uq_atena_links_active",
            "unit_code",
            "atena_number",
            unique=True,
            postgresql_where=text("unlinked_at IS NULL"),
            sqlite_where=text("unlinked_at IS NULL"),
        ),
        Index("ix_atena_links_person_unit", "person_id", "unit_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    unit_code: Mapped[str] = mapped_column(String(3))
    atena_number: Mapped[str] = mapped_column(String(15))
    non_resident: Mapped[bool] = mapped_column(default=False, doc="a 住登外者宛名番号")
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    linked_by: Mapped[str] = mapped_column(String(64))
    link_reason: Mapped[str] = mapped_column(Text)
    unlinked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unlinked_by: Mapped[str | None] = mapped_column(String(64))
    unlink_reason: Mapped[str | None] = mapped_column(Text)

    person: Mapped[Person] = relationship(back_populates="links", lazy="raise")  # load it when asked


class PersonMerge(Base):
    """名寄せ: ``person_id`` is the same person as ``into_person_id``; neither is renumbered."""

    __tablename__ = "person_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    into_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    merged_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str | None] = mapped_column(String(64))
    undo_reason: Mapped[str | None] = mapped_column(Text)


class KeyCheck(Base):
    """A keyed hash of a constant, so a hub started with another key file notices before it writes."""

    __tablename__ = "key_checks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
