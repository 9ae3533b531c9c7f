from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Sex = Literal["0", "1", "2"]
Status = Literal["resident", "non_resident", "moved_out", "deceased"]
Attribute = Literal["name", "name_kana", "birth_date", "sex", "address"]
STATUS_JA = {"resident": "住民", "non_resident": "住登外者", "moved_out": "転出", "deceased": "死亡"}


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


class PersonRegistration(BasicInfo):
    """A person registered by a unit with its own 宛名番号 — typically a 住登外者."""

    unit_code: str = Field(pattern=r"^[0-9A-Z]{3}$")
    atena_number: str = Field(description="the unit's (住登外者)宛名番号: 15 digits with check digit")
    my_number: str | None = Field(
        default=None, repr=False, description="個人番号; stored encrypted, never echoed"
    )
    status: Status = "non_resident"
    valid_from: dt.date | None = None
    reason: str = Field(min_length=1, max_length=2000)


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_code: str = Field(pattern=r"^[0-9A-Z]{3}$")
    atena_number: str
    reason: str = Field(min_length=1, max_length=2000)


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
    """Search by My Number (exact), or by 基本4情報 (exact or partial), former versions included."""

    model_config = ConfigDict(extra="forbid")

    my_number: str | None = Field(default=None, repr=False)
    name: str | None = Field(default=None, max_length=100)
    name_kana: str | None = Field(default=None, max_length=100)
    birth_date: str | None = None
    sex: Sex | None = None
    address: str | None = Field(default=None, max_length=200)
    match: Literal["exact", "partial"] = "exact"
    include_history: bool = True
    limit: int = Field(default=20, ge=1, le=100)

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, value: str | None) -> str | None:
        return None if value is None else check_birth_date(value)

    @model_validator(mode="after")
    def _enough(self) -> SearchRequest:
        if self.my_number is not None:
            return self
        if not (self.name or self.name_kana):
            raise ValueError("search by my_number, or by name or name_kana with birth_date or address")
        if not (self.birth_date or self.address):
            raise ValueError("a name search needs birth_date or address as well (a name alone is too broad)")
        return self


class Attributes(BaseModel):
    """One version of the 基本4情報; attributes hidden by 他業務参照不可 are null."""

    name: str | None
    name_kana: str | None
    birth_date: str | None
    sex: str | None
    address: str | None
    municipality_code: str | None
    status: Status
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
        description="for a 番号利用事務 unit (with the scope) that handles the person",
    )


class CandidateLink(BaseModel):
    unit_code: str
    atena_number: str


class Candidate(BaseModel):
    """One search hit, enough for a clerk to choose; ``GET /addressees/{no}`` has the whole history."""

    integrated_number: str
    score: int
    matched: list[str] = Field(description="the attributes that matched")
    matched_former: bool = Field(description="matched only a former version (old address, old name)")
    current: Attributes
    links: list[CandidateLink] = Field(description="active 宛名番号; a unit sees only its own")
    has_my_number: bool
    my_number: str | None = Field(
        default=None,
        repr=False,
        description="for a 番号利用事務 unit (with the scope) that handles the person",
    )


# A 団体内統合宛名番号 in a path: 15 digits (a longer string would not even fit the columns that log it).
IntegratedNumberPath = Annotated[str, Path(pattern=r"^[0-9]{15}$", description="団体内統合宛名番号")]
