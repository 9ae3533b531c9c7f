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


# --- 条例改正の影響: a draft replayed over a past period (ordinance.impact) -------------------------


class DraftOut(BaseModel):
    """The draft as its file names it (not stored, not in force)."""

    version: str
    title: str
    enacted: dt.date
    effective: dt.date
    rules: int = Field(description="how many rules it has")


class FlowOut(BaseModel):
    """A flow: the receiving unit gets the interface's category from the holding unit, for its 事務."""

    receiving_unit: str
    receiving_organ: str
    interface_id: str
    purposes: list[str] = Field(description="the recorded 事務; for a registry flow, every 事務 of the unit")
    category: str = Field(description="情報の種別")
    holding_unit: str
    holding_organ: str


class ImpactExample(BaseModel):
    """One transfer of a change, as the record names it (never whom it was about)."""

    entry_id: int
    reception_number: str
    requested_at: dt.datetime


class FlowChangeOut(BaseModel):
    change: str = Field(
        description="would_refuse: allowed then, no rule in the draft; would_allow: refused by the "
        "ordinance then, a rule in the draft"
    )
    flow: FlowOut
    entries: int = Field(description="the period's transfers of this flow the draft changes")
    rules_before: list[str] = Field(description="the rules that allowed them (version/code)")
    rules_after: list[str] = Field(description="the draft's rules that would allow them")
    reasons: list[str] = Field(description="why the draft would refuse them, or why they were refused")
    examples: list[ImpactExample] = Field(description="a few of the transfers, oldest first")


class CoverageOut(BaseModel):
    """A flow the registry sets up, as today's ordinance and the draft decide it."""

    flow: FlowOut
    rule_before: str | None = Field(description="the rule in force today that covers it")
    rule_after: str | None = Field(description="the draft's rule that covers it")
    reason: str | None = Field(description="why the draft covers it not")


class RuleChangeOut(BaseModel):
    code: str
    change: str = Field(description="added, removed or changed, against the version in force today")
    kind: str
    receiving_organ: str
    purpose: str | None
    category: str | None
    holding_organ: str
    holding_unit: str | None
    article: str
    text: str


class ImpactReport(BaseModel):
    """What the draft would have changed over the period, per flow; and what it changes in the rules and
    in the registry's flows against the version in force today."""

    model_config = ConfigDict(populate_by_name=True)

    draft: DraftOut
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    compared_with: str | None = Field(description="the version in force today")
    checked: int = Field(description="the period's transfers replayed (provided, delivered or refused)")
    would_refuse: int = Field(description="transfers allowed then that the draft would refuse")
    would_allow: int = Field(description="transfers the ordinance refused that the draft would allow")
    changes: list[FlowChangeOut]
    uncovered: list[CoverageOut] = Field(description="the registry's flows the draft leaves without a rule")
    covered: list[CoverageOut] = Field(description="the registry's flows the draft newly covers")
    rules: list[RuleChangeOut] = Field(description="the draft's rules against the version in force today")
    units: list[str] = Field(description="the units the changes reach, receiving or holding")
    purposes: list[str] = Field(description="the 事務 the changes reach")
