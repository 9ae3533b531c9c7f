from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class TransferOut(BaseModel):
    """One entry of the transfer record (item names only, the person by integrated number)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    reception_number: str
    msgid: str
    interface_id: str
    pattern: str
    requesting_unit: str
    requesting_organ: str
    requesting_department: str | None
    requesting_user: str | None
    providing_unit: str
    providing_organ: str
    purpose_code: str
    ordinance_rule_id: str | None
    refusal_reason: str | None
    information_category: str
    item_names: list[str]
    subject_integrated_number: str | None
    requested_at: dt.datetime
    provided_at: dt.datetime | None
    outcome: str
    body_digest: str
    entry_digest: str


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


class DisclosureItem(BaseModel):
    """やりとり履歴: who got which information about the person, when, for which 事務, on which article."""

    at: dt.datetime
    received_by_unit: str
    received_by_organ: str
    provided_by_unit: str
    provided_by_organ: str
    purpose_code: str
    purpose_name: str | None
    information_category: str
    item_names: list[str]
    ordinance_rule_id: str | None
    article: str | None
    outcome: str
    refusal_reason: str | None


class Disclosure(BaseModel):
    integrated_number: str
    transfers: list[DisclosureItem]


class Violation(BaseModel):
    entry_id: int
    reception_number: str
    requested_at: dt.datetime
    reason: str


class Uncovered(BaseModel):
    interface_id: str
    unit_code: str
    reason: str


class ComplianceReport(BaseModel):
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    checked: int
    violations: list[Violation]
    uncovered: list[Uncovered] = Field(
        description="interfaces a registered receiver may not get under any rule"
    )

    model_config = ConfigDict(populate_by_name=True)


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    checkpoints: int
    problems: list[str]


class CheckpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int
    head_hash: str
    created_at: dt.datetime
    key_id: str
    signature: str


class Checkpoints(BaseModel):
    """Keep this outside the hub: ``platform-hub audit verify --checkpoint FILE`` checks the hub with it."""

    public_key_pem: str | None
    key_id: str | None
    checkpoints: list[CheckpointOut]
