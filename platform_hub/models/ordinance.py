from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime


class RuleKind(StrEnum):
    """What a rule allows, on which basis:

    - ``use``: within one organ, a row of the ordinance's tables (番号法 第9条第2項, 条例 別表第2);
    - ``provide``: between two organs, a row of its tables (第19条第11号, 別表第3);
    - ``blanket``: the ordinance's clause for 法定事務 — an organ's 特定個人番号利用事務 may use, within
      the organ, the 利用特定個人情報 it holds, that is what the 番号法 / 主務省令 table (第19条第8号) lets
      the 事務 obtain through the network; the row names neither 事務 nor information;
    - ``statute``: a flow another statute requires (e.g. 住民基本台帳法; the 個人番号 in it is provided
      under 第19条第7号), within one organ or between two.
    """

    USE = "use"
    PROVIDE = "provide"
    BLANKET = "blanket"
    STATUTE = "statute"

    @property
    def ja(self) -> str:
        """The basis as the console names it."""
        return {
            "use": "利用（第9条第2項）",
            "provide": "提供（第19条第11号）",
            "blanket": "法定事務（包括規定）",
            "statute": "法律",
        }[self.value]


class OrdinanceVersion(Base):
    """One enacted version of the city's My Number ordinance tables (条例 別表), in force from
    ``effective_on`` until the next version's; older versions are kept for the compliance re-check."""

    __tablename__ = "ordinance_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(Text)
    enacted_on: Mapped[date] = mapped_column(Date)
    effective_on: Mapped[date] = mapped_column(Date, index=True)
    source_digest: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the loaded file")
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(64))

    rules: Mapped[list[OrdinanceRule]] = relationship(
        back_populates="version",
        lazy="raise",
        order_by="OrdinanceRule.id",  # decisions never need them all
    )


class OrdinanceRule(Base):
    """One row: the receiving organ may, for a 事務, use (第9条第2項) or be provided (第19条第11号) an
    information category held by an organ (and unit), or may on another statute (``statute``); a
    ``blanket`` row stores ``*`` as its 事務 and category (the network table decides them)."""

    __tablename__ = "ordinance_rules"
    __table_args__ = (
        UniqueConstraint("version_id", "code"),
        Index("ix_ordinance_rules_lookup", "version_id", "receiving_organ", "purpose_code", "category"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("ordinance_versions.id"))
    code: Mapped[str] = mapped_column(String(32), doc="the rule's id within its version")
    kind: Mapped[RuleKind] = mapped_column(StrEnumType(RuleKind, 8))
    receiving_organ: Mapped[str] = mapped_column(String(100))
    purpose_code: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64))
    holding_organ: Mapped[str] = mapped_column(String(100))
    holding_unit: Mapped[str | None] = mapped_column(String(3), doc="empty: any unit of the holding organ")
    article: Mapped[str] = mapped_column(String(100), doc="e.g. 別表第2 第5項, 第4条第3項")
    text: Mapped[str] = mapped_column(Text, doc="the 事務 as enacted")

    version: Mapped[OrdinanceVersion] = relationship(back_populates="rules", lazy="joined", innerjoin=True)
