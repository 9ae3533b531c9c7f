from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime
from platform_hub.protocol.registry import (
    IntegratedNumberBasis,
    MergeProposalStatus,
    ResidentStatus,
    person_reference,
)


class Person(Base):
    """A person of the registry: known city-wide by the 団体内統合宛名番号 once a 付番依頼 carrying the
    個人番号 issued one (or one was imported), by the internal person id ``P<id>`` until then.

    ``sqlite_autoincrement`` (and a sequence on PostgreSQL) means an id, and so the person id
    derived from it, is never handed out twice.
    """

    __tablename__ = "persons"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it as is

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    integrated_number: Mapped[str | None] = mapped_column(String(15), unique=True, doc="団体内統合宛名番号")
    integrated_number_basis: Mapped[IntegratedNumberBasis | None] = mapped_column(
        StrEnumType(IntegratedNumberBasis, 16), doc="how the person came by it"
    )
    my_number_key_id: Mapped[str | None] = mapped_column(String(16))
    my_number_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The keyed hash makes "one integrated number per My Number" a unique constraint.
    my_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    restricted_attributes: Mapped[list[str]] = mapped_column(JSON, default=list, doc="他業務参照不可")
    restricted_by_unit: Mapped[str | None] = mapped_column(String(3))
    support_measure: Mapped[bool] = mapped_column(
        default=False, server_default=text("false"), doc="DV等支援措置, as 住民基本台帳 sends it"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[PersonVersion]] = relationship(
        back_populates="person", order_by="PersonVersion.valid_from", lazy="selectin"
    )
    links: Mapped[list[AtenaLink]] = relationship(back_populates="person", lazy="selectin")

    @property
    def reference(self) -> str:
        """How the hub names the person (paths, records): the 団体内統合宛名番号, else the person id."""
        return person_reference(self.id, self.integrated_number)


class PersonVersion(Base):
    """The 基本4情報 and 住民状態 of a person from ``valid_from`` until ``valid_to`` (exclusive).

    The ``*_key`` columns hold the normalised forms that searches compare.
    """

    __tablename__ = "person_versions"
    __table_args__ = (
        Index("ix_person_versions_birth_name", "birth_date", "name_key"),
        Index("ix_person_versions_birth_kana", "birth_date", "kana_key"),
        Index("ix_person_versions_address", "address_key"),
        Index("ix_person_versions_birth_family", "birth_date", "family_key"),
        Index("ix_person_versions_birth_given", "birth_date", "given_key"),
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
    # The DA's 宛名 beyond the 基本4情報 (0018): null where not known.
    family_name: Mapped[str | None] = mapped_column(String(50), doc="氏")
    given_name: Mapped[str | None] = mapped_column(String(50), doc="名")
    family_name_kana: Mapped[str | None] = mapped_column(String(50))
    given_name_kana: Mapped[str | None] = mapped_column(String(50))
    foreign_name_alphabet: Mapped[str | None] = mapped_column(
        String(100), doc="外国人 氏名（アルファベット）"
    )
    foreign_name_kanji: Mapped[str | None] = mapped_column(String(100), doc="外国人 漢字氏名")
    alias: Mapped[str | None] = mapped_column(String(100), doc="通称")
    alias_kana: Mapped[str | None] = mapped_column(String(100))
    former_surname: Mapped[str | None] = mapped_column(String(50), doc="旧氏")
    former_surname_kana: Mapped[str | None] = mapped_column(String(50))
    birth_date_unknown: Mapped[bool] = mapped_column(
        default=False, server_default=text("false"), doc="生年月日不詳フラグ"
    )
    birth_date_notation: Mapped[str | None] = mapped_column(String(50), doc="生年月日不詳表記")
    town_code: Mapped[str | None] = mapped_column(String(7), doc="町字コード (ABR 町字ID)")
    # 他業務参照不可 in the DA's sense: a version obtained from 住基ネット for this 事務 serves it alone.
    jukinet_purpose: Mapped[str | None] = mapped_column(String(16))
    name_key: Mapped[str] = mapped_column(String(100))
    family_key: Mapped[str | None] = mapped_column(String(50))
    given_key: Mapped[str | None] = mapped_column(String(50))
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


class PersonMergeProposal(Base):
    """A 名寄せ the registry proposes — a record with a 個人番号 and one without whose 基本4情報 agree, or
    a 付番依頼 whose 個人番号 another record holds — until an operator accepts (a ``PersonMerge``
    follows) or rejects it. The registry never joins records of its own accord."""

    __tablename__ = "person_merge_proposals"
    __table_args__ = (Index("ix_person_merge_proposals_status", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    into_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    basis: Mapped[list[str]] = mapped_column(JSON, default=list, doc="what agreed: my_number, name, …")
    status: Mapped[MergeProposalStatus] = mapped_column(StrEnumType(MergeProposalStatus, 16))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    proposed_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    merge_id: Mapped[int | None] = mapped_column(ForeignKey("person_merges.id"))


class KeyCheck(Base):
    """A keyed hash of a constant, so a hub started with another key file notices before it writes."""

    __tablename__ = "key_checks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
