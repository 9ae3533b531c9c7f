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


def check_birth_date(value: str) -> str:
    """YYYY-MM-DD, or YYYY-MM-00 when the day is unknown (生年月日の日不詳)."""
    year, month, day = value[:4], value[5:7], value[8:]
    if len(value) != 10 or value[4] != "-" or value[7] != "-" or not (year + month + day).isdigit():
        raise ValueError("birth_date is YYYY-MM-DD (DD 00 when the day is unknown)")
    dt.date(int(year), int(month), int(day) or 1)  # raises ValueError for an impossible date
    return value


class BasicInfo(BaseModel):
    """基本4情報: 氏名 (with 読み仮名), 住所 (with 市区町村コード), 生年月日, 性別."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    name_kana: str | None = Field(default=None, max_length=100)
    birth_date: str = Field(examples=["1985-04-01", "1950-07-00"])
    sex: Sex = Field(description="0 不明, 1 男, 2 女")
    address: str = Field(min_length=1, max_length=200)
    municipality_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")

    _birth = field_validator("birth_date")(check_birth_date)

    @model_validator(mode="after")
    def _keys_fit(self) -> BasicInfo:
        """The search keys are stored beside the values: NFKC can make them longer (㍿ is 株式会社)."""
        keys = {
            "name": (normalize.name_key(self.name), 100),
            "name_kana": (normalize.kana_key(self.name_kana or ""), 100),
            "address": (normalize.address_key(self.address), 200),
        }
        for field, (key, length) in keys.items():
            if len(key) > length:
                raise ValueError(f"{field} is longer than {length} characters once normalised")
        if not keys["name"][0] or not keys["address"][0]:
            raise ValueError("name and address need more than spaces")
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
    integrated_number: str = Field(description="the record that is the same person as …")
    into_integrated_number: str = Field(description="… this one; neither is renumbered")


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

    @field_validator("name", "name_kana", "address")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        """Blanks are not values: a name of spaces asks for nothing."""
        return value if value is not None and normalize.name_key(value) else None

    @model_validator(mode="after")
    def _enough(self) -> SearchRequest:
        if self.my_number is not None:
            return self
        if not (self.name or self.name_kana) or not self.birth_date:
            raise ValueError(
                "search by my_number, or by name (or name_kana) with birth_date: anything less is too broad"
            )
        return self


class Attributes(BaseModel):
    """One version of the 基本4情報; attributes hidden by 他業務参照不可 are null."""

    name: str | None
    name_kana: str | None
    birth_date: str | None
    sex: str | None
    address: str | None
    municipality_code: str | None
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
    integrated_number: str
    into_integrated_number: str
    merged_at: dt.datetime
    merged_by: str
    reason: str
    undone_at: dt.datetime | None
    undone_by: str | None
    undo_reason: str | None


class PersonOut(BaseModel):
    integrated_number: str
    current: Attributes
    history: list[Attributes]
    restricted: list[str]
    links: list[LinkOut] = Field(description="a unit sees only its own")
    merges: list[MergeOut]
    has_my_number: bool
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
    """What a clerk needs to tell candidates apart: the current 基本4情報 and 住民状態, nothing more."""

    name: str | None
    name_kana: str | None
    birth_date: str | None
    sex: str | None
    address: str | None
    status: ResidentStatus
    status_ja: str


class Candidate(BaseModel):
    """One search hit, enough for a clerk to choose; a unit that handles the person has the rest
    from ``GET /addressees/{no}``. Never a My Number."""

    integrated_number: str
    score: int
    matched: list[str] = Field(description="the attributes that matched")
    matched_former: bool = Field(description="matched only a former version (old address, old name)")
    current: CandidateAttributes
    links: list[CandidateLink] = Field(description="active 宛名番号; a unit sees only its own")
    has_my_number: bool


class RestrictionOut(BaseModel):
    integrated_number: str
    restricted: list[str]
    restricted_by_unit: str | None


# A 団体内統合宛名番号 in a path: 15 digits (a longer string would not even fit the columns that log it).
