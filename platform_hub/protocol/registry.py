from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platform_hub.protocol import normalize

Sex = Literal["0", "1", "2"]
Attribute = Literal["name", "name_kana", "birth_date", "sex", "address"]


class ResidentStatus(StrEnum):
    """住民状態: a 住民 of the city, a 住登外者 (a person a unit handles who is not registered here),
    転出 (moved away) or 死亡."""

    RESIDENT = "resident"
    NON_RESIDENT = "non_resident"
    MOVED_OUT = "moved_out"
    DECEASED = "deceased"

    @property
    def ja(self) -> str:
        return _STATUS_JA[self]


_STATUS_JA = {
    ResidentStatus.RESIDENT: "住民",
    ResidentStatus.NON_RESIDENT: "住登外者",
    ResidentStatus.MOVED_OUT: "転出",
    ResidentStatus.DECEASED: "死亡",
}


class IntegratedNumberBasis(StrEnum):
    """How a person came by their 団体内統合宛名番号: issued on a 付番依頼 that carried the 個人番号,
    imported from the city's former 団体内統合宛名 system (never renumbered), or issued by the hub
    before migration 0018, when a number went to every person (kept: a number once issued is never
    taken back or reused, and records name the person by it)."""

    ISSUED = "issued"
    IMPORTED = "imported"
    MIGRATED = "migrated"


class MergeProposalStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


PERSON_ID_PREFIX = "P"
# A person in a path or a record: a 団体内統合宛名番号 (15 digits), or the internal person id of one
# who has none (P and the registry's row id).
PERSON_REFERENCE_PATTERN = r"^([0-9]{15}|P[1-9][0-9]{0,13})$"


def person_reference(person_id: int, integrated_number: str | None) -> str:
    """How the hub names a person: the 団体内統合宛名番号 when they have one, else ``P<id>``."""
    return integrated_number or f"{PERSON_ID_PREFIX}{person_id}"


def internal_person_id(reference: str) -> int | None:
    """The row id a ``P<id>`` reference names; ``None`` for a 団体内統合宛名番号."""
    if reference.startswith(PERSON_ID_PREFIX) and reference[1:].isascii() and reference[1:].isdigit():
        return int(reference[1:])
    return None


def person_id_fits(person_id: int) -> bool:
    """Whether a row id could be one (the column is a 32-bit integer: a larger one names nobody)."""
    return 0 < person_id <= 2**31 - 1


def check_birth_date(value: str) -> str:
    """YYYY-MM-DD; YYYY-MM-00 when the day is unknown, YYYY-00-00 when the month is too (生年月日不詳)."""
    year, month, day = value[:4], value[5:7], value[8:]
    if len(value) != 10 or value[4] != "-" or value[7] != "-" or not (year + month + day).isdigit():
        raise ValueError("birth_date is YYYY-MM-DD (DD 00 when the day is unknown, MM-DD 00-00 the month)")
    if month == "00" and day != "00":
        raise ValueError("birth_date: a day without its month (YYYY-00-DD) is no date")
    dt.date(int(year), int(month) or 1, int(day) or 1)  # raises ValueError for an impossible date
    return value


def birth_date_is_unknown(value: str) -> bool:
    """Whether a part of the birth date is 不詳 (written 00)."""
    return value.endswith("-00")


FULL_SPACE = "\u3000"
# The name items beyond 氏名 itself, as the DA's 宛名 defines them: 氏・名 (日本人), 外国人 氏名 in the
# alphabet and in kanji, 通称 and 旧氏, each with its フリガナ.
NAME_PARTS = (
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "foreign_name_alphabet",
    "foreign_name_kanji",
    "alias",
    "alias_kana",
    "former_surname",
    "former_surname_kana",
)
# What a version carries beyond the 基本4情報, each optional (old clients send none of them).
DETAIL_FIELDS = (*NAME_PARTS, "birth_date_unknown", "birth_date_notation", "town_code")


def _joined(first: str | None, second: str | None) -> str | None:
    parts = [part for part in (first, second) if part]
    return FULL_SPACE.join(parts) if parts else None


class BasicInfo(BaseModel):
    """基本4情報: 氏名 (with 読み仮名), 住所 (with 市区町村コード), 生年月日, 性別 — and the 宛名 items the
    DA adds: 氏・名 separately (``name`` is then derived: 氏　名), 外国人 names (alphabet, kanji), 通称
    and 旧氏 with フリガナ, 生年月日 不詳 (flag and 不詳表記), 町字コード (ABR 町字ID)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="氏名; derived from 氏・名 when not given")
    name_kana: str | None = Field(default=None, max_length=100)
    birth_date: str = Field(examples=["1985-04-01", "1950-07-00", "1945-00-00"])
    sex: Sex = Field(description="0 不明, 1 男, 2 女")
    address: str = Field(min_length=1, max_length=200)
    municipality_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    family_name: str | None = Field(default=None, max_length=50, description="氏")
    given_name: str | None = Field(default=None, max_length=50, description="名")
    family_name_kana: str | None = Field(default=None, max_length=50, description="氏フリガナ")
    given_name_kana: str | None = Field(default=None, max_length=50, description="名フリガナ")
    foreign_name_alphabet: str | None = Field(
        default=None, max_length=100, description="外国人 氏名（アルファベット）"
    )
    foreign_name_kanji: str | None = Field(default=None, max_length=100, description="外国人 漢字氏名")
    alias: str | None = Field(default=None, max_length=100, description="通称")
    alias_kana: str | None = Field(default=None, max_length=100, description="通称フリガナ")
    former_surname: str | None = Field(default=None, max_length=50, description="旧氏")
    former_surname_kana: str | None = Field(default=None, max_length=50, description="旧氏フリガナ")
    birth_date_unknown: bool = Field(
        default=False, description="生年月日不詳フラグ: the parts unknown are 00 in birth_date"
    )
    birth_date_notation: str | None = Field(
        default=None, max_length=50, description="生年月日不詳表記, as 住民票 writes it (昭和20年月日不詳)"
    )
    town_code: str | None = Field(default=None, pattern=r"^[0-9]{7}$", description="町字コード (ABR 町字ID)")

    _birth = field_validator("birth_date")(check_birth_date)

    @model_validator(mode="before")
    @classmethod
    def _derive_name(cls, data: object) -> object:
        """氏・名 given without 氏名: 氏名 is 氏　名 (and its 読み so), as existing answers carry it; a
        外国人 without a 氏名 is named by the kanji name, else the alphabet one."""
        if not isinstance(data, dict) or data.get("name"):
            return data
        name = _joined(data.get("family_name"), data.get("given_name"))
        name = name or data.get("foreign_name_kanji") or data.get("foreign_name_alphabet")
        kana = data.get("name_kana") or _joined(data.get("family_name_kana"), data.get("given_name_kana"))
        return {**data, **({"name": name} if name else {}), **({"name_kana": kana} if kana else {})}

    @model_validator(mode="after")
    def _keys_fit(self) -> BasicInfo:
        """The search keys are stored beside the values: NFKC can make them longer (㍿ is 株式会社)."""
        keys = {
            "name": (normalize.name_key(self.name), 100),
            "name_kana": (normalize.kana_key(self.name_kana or ""), 100),
            "address": (normalize.address_key(self.address), 200),
            "family_name": (normalize.name_key(self.family_name or ""), 50),
            "given_name": (normalize.name_key(self.given_name or ""), 50),
        }
        for field, (key, length) in keys.items():
            if len(key) > length:
                raise ValueError(f"{field} is longer than {length} characters once normalised")
        if not keys["name"][0] or not keys["address"][0]:
            raise ValueError("name and address need more than spaces")
        if birth_date_is_unknown(self.birth_date):
            self.birth_date_unknown = True  # YYYY-MM-00 always meant 日不詳
        elif self.birth_date_unknown:
            raise ValueError("birth_date_unknown: write the unknown parts of birth_date as 00")
        return self


# A 事務 a unit names for what it asks of the registry (interface_specs/purposes.yaml).
PurposeCode = Annotated[str, Field(pattern=r"^[0-9A-Z][0-9A-Z\-]{0,15}$", description="事務 (purpose code)")]


class PersonRegistration(BasicInfo):
    """A person registered by a unit with its own 宛名番号 — typically a 住登外者."""

    unit_code: str = Field(pattern=r"^[0-9A-Z]{3}$")
    atena_number: str = Field(description="the unit's (住登外者)宛名番号: 15 digits with check digit")
    my_number: str | None = Field(
        default=None, repr=False, description="個人番号; stored encrypted, never echoed"
    )
    status: ResidentStatus = Field(
        default=ResidentStatus.NON_RESIDENT, description="住民状態; units register 住登外者 only"
    )
    valid_from: dt.date | None = None
    reason: str = Field(min_length=1, max_length=2000)
    purpose_code: PurposeCode | None = Field(default=None, description="required of units")
    obtained_from_jukinet: bool = Field(
        default=False,
        description="本人確認情報 from 住基ネット (他業務参照不可): used for purpose_code's 事務 only",
    )


class LinkRequest(BaseModel):
    """A unit's 宛名番号 linked to a person, with the evidence the clerk has that it is them (required
    of units: the 個人番号, or 氏名 or its 読み with 生年月日) and the 事務 it is for."""

    model_config = ConfigDict(extra="forbid")

    unit_code: str = Field(pattern=r"^[0-9A-Z]{3}$")
    atena_number: str = Field(max_length=15)
    reason: str = Field(min_length=1, max_length=2000)
    purpose_code: PurposeCode | None = Field(default=None, description="required of units")
    my_number: str | None = Field(default=None, repr=False, max_length=12, description="evidence")
    name: str | None = Field(default=None, max_length=100, description="evidence")
    name_kana: str | None = Field(default=None, max_length=100, description="evidence")
    birth_date: str | None = Field(default=None, description="evidence")

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, value: str | None) -> str | None:
        return None if value is None else check_birth_date(value)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class MergeRequest(Reason):
    integrated_number: str = Field(
        pattern=PERSON_REFERENCE_PATTERN,
        description="the record (its person id) that is the same person as …",
    )
    into_integrated_number: str = Field(
        pattern=PERSON_REFERENCE_PATTERN, description="… this one; neither is renumbered"
    )


class NumberingRequest(BaseModel):
    """付番依頼: the 個人番号 of a person the registry knows without one (a 住登外者 known by 基本4情報);
    the 団体内統合宛名番号 is issued with it, or, when another record holds that 個人番号, a 名寄せ is
    proposed."""

    model_config = ConfigDict(extra="forbid")

    my_number: str = Field(repr=False, max_length=12, description="個人番号; stored encrypted, never echoed")
    reason: str = Field(min_length=1, max_length=2000)
    purpose_code: PurposeCode | None = Field(default=None, description="required of units")


class MergeProposalOut(BaseModel):
    """A 名寄せ the registry proposes, for an operator of the My Number office to accept or reject."""

    id: int
    person_id: str = Field(description="the record proposed to be joined …")
    into_person_id: str = Field(description="… to this one")
    basis: list[str] = Field(description="what agreed: my_number, or name, name_kana, birth_date, sex")
    status: MergeProposalStatus
    proposed_at: dt.datetime
    proposed_by: str
    decided_at: dt.datetime | None
    decided_by: str | None
    decision_reason: str | None
    merge_id: int | None


class NumberingOut(BaseModel):
    """What a 付番依頼 did: the person numbered, or (the 個人番号 is another record's) a 名寄せ proposed."""

    person: PersonOut
    merge_proposed: bool = Field(
        description="the 個人番号 is held by another record: a 名寄せ awaits an operator"
    )


class RestrictRequest(Reason):
    """他業務参照不可: these attributes are hidden from every unit but ``unit_code``."""

    unit_code: str = Field(pattern=r"^[0-9A-Z]{3}$")
    attributes: list[Attribute] = Field(max_length=5)


class SearchRequest(BaseModel):
    """Search by My Number (exact), or by 氏名 (or its 読み) and 生年月日, exact or partial, former
    versions included; 性別 and 住所 narrow it. Units name the 事務 they search for."""

    model_config = ConfigDict(extra="forbid")

    my_number: str | None = Field(default=None, repr=False, max_length=12)
    name: str | None = Field(default=None, max_length=100)
    name_kana: str | None = Field(default=None, max_length=100)
    family_name: str | None = Field(default=None, max_length=50, description="氏, compared on its own")
    given_name: str | None = Field(default=None, max_length=50, description="名, compared on its own")
    birth_date: str | None = None
    sex: Sex | None = None
    address: str | None = Field(default=None, max_length=200)
    match: Literal["exact", "partial"] = "exact"
    include_history: bool = True
    limit: int = Field(default=10, ge=1, le=20, description="candidates answered, at most 20")
    purpose_code: PurposeCode | None = Field(default=None, description="required of units")

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, value: str | None) -> str | None:
        return None if value is None else check_birth_date(value)

    @field_validator("name", "name_kana", "address", "family_name", "given_name")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        """Blanks are not values: a name of spaces asks for nothing."""
        return value if value is not None and normalize.name_key(value) else None

    @model_validator(mode="after")
    def _enough(self) -> SearchRequest:
        if self.my_number is not None:
            return self
        if not (self.name or self.name_kana or self.family_name or self.given_name) or not self.birth_date:
            raise ValueError(
                "search by my_number, or by name (or name_kana, family_name, given_name) with birth_date: "
                "anything less is too broad"
            )
        return self


class NameDetails(BaseModel):
    """The 宛名 items beyond the 基本4情報 (null when not known, or hidden with the attribute they
    belong to: the name parts with 氏名, the 不詳 items with 生年月日, 町字コード with 住所)."""

    family_name: str | None = None
    given_name: str | None = None
    family_name_kana: str | None = None
    given_name_kana: str | None = None
    foreign_name_alphabet: str | None = None
    foreign_name_kanji: str | None = None
    alias: str | None = None
    alias_kana: str | None = None
    former_surname: str | None = None
    former_surname_kana: str | None = None
    birth_date_unknown: bool | None = None
    birth_date_notation: str | None = None
    town_code: str | None = None


class Attributes(NameDetails):
    """One version of the 基本4情報; attributes hidden by 他業務参照不可 are null."""

    name: str | None
    name_kana: str | None
    birth_date: str | None
    sex: str | None
    address: str | None
    municipality_code: str | None
    obtained_from_jukinet: bool = Field(
        default=False, description="from 住基ネット: shown only for the 事務 it was obtained for"
    )
    status: ResidentStatus
    status_ja: str
    valid_from: dt.date
    valid_to: dt.date | None
    reason: str | None


class LinkOut(BaseModel):
    unit_code: str
    atena_number: str
    non_resident: bool
    linked_at: dt.datetime
    linked_by: str
    link_reason: str
    unlinked_at: dt.datetime | None
    unlinked_by: str | None
    unlink_reason: str | None


class MergeOut(BaseModel):
    id: int
    integrated_number: str = Field(description="the person id of the record joined (P<id> without a number)")
    into_integrated_number: str
    merged_at: dt.datetime
    merged_by: str
    reason: str
    undone_at: dt.datetime | None
    undone_by: str | None
    undo_reason: str | None


class PersonOut(BaseModel):
    person_id: str = Field(
        description="how the hub names the person: the 団体内統合宛名番号 when issued, else P<id>"
    )
    integrated_number: str | None = Field(
        description="団体内統合宛名番号: issued only on a 付番依頼 carrying the 個人番号 (or imported)"
    )
    integrated_number_basis: IntegratedNumberBasis | None
    current: Attributes
    history: list[Attributes]
    restricted: list[str]
    links: list[LinkOut] = Field(description="a unit sees only its own")
    merges: list[MergeOut]
    has_my_number: bool
    support_measure: bool = Field(
        default=False,
        description="DV等支援措置 (from 住民基本台帳): handle the person with care; not hidden from units",
    )
    my_number: str | None = Field(
        default=None,
        repr=False,
        description="only when asked (with_my_number), to a unit that handles the person, for a "
        "個人番号利用事務, with the scope UNIT:mynumber",
    )


class CandidateLink(BaseModel):
    unit_code: str
    atena_number: str


class CandidateAttributes(BaseModel):
    """What a clerk needs to tell candidates apart: the current 基本4情報 and 住民状態, nothing more
    (氏・名 beside 氏名 when the registry has them)."""

    name: str | None
    family_name: str | None = None
    given_name: str | None = None
    name_kana: str | None
    birth_date: str | None
    sex: str | None
    address: str | None
    status: ResidentStatus
    status_ja: str


class Candidate(BaseModel):
    """One search hit, enough for a clerk to choose; a unit that handles the person has the rest
    from ``GET /addressees/{no}``. Never a My Number."""

    person_id: str = Field(description="the 団体内統合宛名番号 when issued, else P<id>")
    integrated_number: str | None
    score: int
    matched: list[str] = Field(description="the attributes that matched")
    matched_former: bool = Field(description="matched only a former version (old address, old name)")
    current: CandidateAttributes
    links: list[CandidateLink] = Field(description="active 宛名番号; a unit sees only its own")
    has_my_number: bool
    support_measure: bool = Field(default=False, description="DV等支援措置 (from 住民基本台帳)")


class RestrictionOut(BaseModel):
    integrated_number: str
    restricted: list[str]
    restricted_by_unit: str | None


# A 団体内統合宛名番号 in a path: 15 digits (a longer string would not even fit the columns that log it).
