from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

from platform_hub.models import RuleKind

# What a ``blanket`` row stores as its 事務 and category: any that the network table allows.
ANY = "*"


class RuleIn(BaseModel):
    """One row of the ordinance's tables, or one of its clauses (``blanket``), or a statute (``statute``)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9A-Za-z\-]{1,32}$")
    kind: RuleKind = Field(
        description="use: 番号法 第9条第2項 (same organ); provide: 第19条第11号 (between organs); "
        "blanket: the ordinance's clause for 法定事務 (same organ, bounded by the 第19条第8号 table); "
        "statute: a flow another statute requires"
    )
    receiving_organ: str = Field(min_length=1, max_length=100)
    purpose: str | None = Field(
        default=None, min_length=1, max_length=16, description="the 事務 (purpose code) that receives"
    )
    category: str | None = Field(default=None, min_length=1, max_length=64, description="情報の種別")
    holding_organ: str = Field(min_length=1, max_length=100)
    holding_unit: str | None = Field(default=None, pattern=r"^[0-9A-Z]{3}$")
    article: str = Field(min_length=1, max_length=100, examples=["別表第2 第5項", "第4条第3項"])
    text: str = Field(min_length=1, description="the 事務 (or the clause, or the statute) as enacted")

    @model_validator(mode="after")
    def _kind_matches_organs(self) -> RuleIn:
        same = self.receiving_organ == self.holding_organ
        if self.kind in (RuleKind.USE, RuleKind.BLANKET) and not same:
            raise ValueError(
                f"rule {self.code}: '{self.kind}' is within one organ (第9条第2項); "
                "between organs is 'provide'"
            )
        if self.kind == RuleKind.PROVIDE and same:
            raise ValueError(
                f"rule {self.code}: 'provide' (第19条第11号) is between organs; within one is 'use'"
            )
        named = self.purpose is not None and self.category is not None
        if self.kind == RuleKind.BLANKET and (self.purpose, self.category, self.holding_unit) != (None,) * 3:
            raise ValueError(
                f"rule {self.code}: 'blanket' names no 事務, category nor unit: the 法定事務 and the "
                "information are the 番号法 / 主務省令 table's (第19条第8号)"
            )
        if self.kind != RuleKind.BLANKET and not named:
            raise ValueError(f"rule {self.code}: '{self.kind}' names its purpose and its category")
        return self


class OrdinanceIn(BaseModel):
    """A version of the ordinance's tables, as enacted, with the day it takes effect."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=r"^[0-9A-Za-z.\-]{1,32}$")
    title: str = Field(min_length=1)
    enacted: dt.date
    effective: dt.date
    rules: list[RuleIn] = Field(max_length=5000)

    @model_validator(mode="after")
    def _consistent(self) -> OrdinanceIn:
        if self.effective < self.enacted:
            raise ValueError("a version cannot take effect before it is enacted")
        codes = [rule.code for rule in self.rules]
        if len(codes) != len(set(codes)):
            raise ValueError("rule codes repeat within the version")
        return self


class RuleOut(RuleIn):
    rule_id: str = Field(description="version/code: what transfer records name")


class OrdinanceOut(BaseModel):
    version: str
    title: str
    enacted: dt.date
    effective: dt.date
    loaded_at: dt.datetime
    loaded_by: str
    rules: list[RuleOut]


class VersionSummary(BaseModel):
    """A loaded version without its rules: what an operator checks after loading one."""

    version: str
    title: str
    enacted: dt.date
    effective: dt.date
    loaded_at: dt.datetime
    loaded_by: str
    rules: int = Field(description="how many rules it has")
    in_force: bool = Field(description="the version in force today (in the city)")
