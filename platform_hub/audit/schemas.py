"""What auditors read. Every time is UTC-aware (``AwareDatetime``: a naive one is an error, never a
guess) and goes out in UTC with ``Z``; the CSV shows the city's clock (docs/time.md)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from platform_hub.models import OperationOutcome, TransferOutcome, TransferPattern
from platform_hub.ordinance.service import FIRST_DAY, LAST_DAY
from platform_hub.protocol.registry import PERSON_REFERENCE_PATTERN

if TYPE_CHECKING:
    from platform_hub.audit.verification import Verification


class TransferOut(BaseModel):
    """One entry of the transfer record (item names only, the person by integrated number)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    reception_number: str
    msgid: str
    interface_id: str
    pattern: TransferPattern
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
    requested_at: AwareDatetime
    provided_at: AwareDatetime | None
    outcome: TransferOutcome
    body_digest: str
    binding: str | None = Field(description="soap, rest or file; none: a registry answer, or older")
    onward_binding: str | None = Field(
        default=None,
        description="how the hub passed it on to the provider or the subscriber: soap, rest or file",
    )
    entry_digest: str


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


class DisclosureItem(BaseModel):
    """やりとり履歴: who got which information about the person, when, for which 事務, on which article."""

    at: AwareDatetime
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
    outcome: TransferOutcome
    refusal_reason: str | None


class Disclosure(BaseModel):
    integrated_number: str
    transfers: list[DisclosureItem]


class Violation(BaseModel):
    entry_id: int
    reception_number: str
    requested_at: AwareDatetime
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
    """Both records verified: the transfer record (``entries``, ``checkpoints``) and the operations
    record (``operations``, ``operation_checkpoints``); problems of either make ``ok`` false."""

    ok: bool
    entries: int
    checkpoints: int
    operations: int
    operation_checkpoints: int
    problems: list[str]
    warnings: list[str]

    @classmethod
    def of(cls, results: dict[str, Verification]) -> VerifyOut:
        transfers, operations = results["transfers"], results["operations"]
        return cls(
            ok=transfers.ok and operations.ok,
            entries=transfers.entries,
            checkpoints=transfers.checkpoints,
            operations=operations.entries,
            operation_checkpoints=operations.checkpoints,
            problems=[*transfers.problems, *(f"operations record: {p}" for p in operations.problems)],
            warnings=[*transfers.warnings, *(f"operations record: {w}" for w in operations.warnings)],
        )


class CheckpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int
    head_hash: str
    created_at: AwareDatetime
    key_id: str
    signature: str


class Checkpoints(BaseModel):
    """Keep this outside the hub: ``platform-hub audit verify --checkpoint FILE`` checks the hub with it."""

    public_key_pem: str | None
    key_id: str | None
    checkpoints: list[CheckpointOut] = Field(description="the transfer record's")
    operation_checkpoints: list[CheckpointOut] = Field(
        default_factory=list, description="the operations record's"
    )


class OperationOut(BaseModel):
    """One entry of the operations record (操作ログ)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: AwareDatetime
    client_id: str
    role: str
    unit_code: str | None
    department: str | None
    clerk: str | None
    action: str
    subject_integrated_number: str | None
    outcome: OperationOutcome
    detail: str | None
    parameters: str = Field(description="what was asked, as JSON")
    entry_digest: str


class OperationSearch(BaseModel):
    """What the operations record is narrowed to from the command line: the filters of
    ``GET /audit/operations``, checked as it checks them before the database — or the record of the
    reading — sees them (a My Number typed as the person is refused, not kept)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    integrated_number: str | None = Field(default=None, pattern=PERSON_REFERENCE_PATTERN)
    client_id: str | None = Field(default=None, pattern=r"^[!-~]{1,64}$")
    unit: str | None = Field(default=None, pattern=r"^[0-9A-Z]{3}$")
    action: str | None = Field(default=None, pattern=r"^[a-z_]{1,16}(\.[a-z_]{1,16})?$")
    outcome: OperationOutcome | None = None
    start: dt.date | None = Field(default=None, alias="from", ge=FIRST_DAY, le=LAST_DAY)
    end: dt.date | None = Field(default=None, alias="to", ge=FIRST_DAY, le=LAST_DAY, description="inclusive")

    @property
    def parameters(self) -> dict[str, str]:
        """What the reading's own entry keeps, named as the HTTP filters are."""
        return {key: str(value) for key, value in self.model_dump(by_alias=True, exclude_none=True).items()}


class OperationPage(BaseModel):
    items: list[OperationOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


class OffHoursAccess(BaseModel):
    """One client's entries in one hour outside the city's working hours: at night (22:00–06:00 on the
    city's clock), on a weekend, a national holiday or the year-end closing (12/29–1/3)."""

    client_id: str
    hour: AwareDatetime = Field(description="the hour's start")
    why: str = Field(description="night, weekend or holiday")
    day_name: str | None = Field(description="the holiday's name (祝日), 土曜日 or 日曜日")
    entries: int
    actions: list[str]


class BulkAccess(BaseModel):
    """A client that searched or read the registry more than the threshold in one hour."""

    client_id: str
    hour: AwareDatetime = Field(description="the hour's start")
    searches: int
    reads: int


class RevealCount(BaseModel):
    """How often a client was shown a 個人番号 (``registry.reveal``), and of how many persons."""

    client_id: str
    reveals: int
    persons: int


class OperationReports(BaseModel):
    """What the PPC's guideline has the operations record checked for, over a period of days in the
    city: access outside working hours, bulk searches of the registry, and who was shown My Numbers."""

    model_config = ConfigDict(populate_by_name=True)

    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to", description="inclusive")
    bulk_threshold: int = Field(description="registry searches and reads per client per hour")
    off_hours: list[OffHoursAccess]
    bulk: list[BulkAccess]
    reveals: list[RevealCount]
