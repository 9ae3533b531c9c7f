"""HTTP: the auditors' read-only view of the transfer record and the operations record, their
verification and checkpoints. Every query is itself in the operations record."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import repository as addressees_repository
from platform_hub.addressees import service as addressees
from platform_hub.audit import export, repository, service, verification
from platform_hub.audit import operations as operations_record
from platform_hub.audit.ledgers import OPERATIONS
from platform_hub.audit.schemas import (
    Checkpoints,
    ComplianceReport,
    Disclosure,
    OperationOut,
    OperationPage,
    OperationSearch,
    TransferOut,
    TransferPage,
    VerifyOut,
)
from platform_hub.kit.database import unit_of_work
from platform_hub.models import OperationOutcome, TransferOutcome
from platform_hub.network.schemas import ProvisionRecordOut, ProvisionRecordsOut
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.service import FIRST_DAY, LAST_DAY
from platform_hub.protocol.errors import SchemaViolation
from platform_hub.protocol.registry import PERSON_REFERENCE_PATTERN
from platform_hub.web.addressees import IntegratedNumberPath
from platform_hub.web.operations import Ops
from platform_hub.web.parameters import DeclaredParametersOnly
from platform_hub.web.security import Auditor
from platform_hub.web.state import HubState, Session, State

# Every auditor endpoint refuses a query parameter it does not declare (E1002): a misspelt filter
# must not answer with the whole record.
router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[DeclaredParametersOnly])


# What a filter may hold: each value is checked before the database (or the operations record) sees
# it — a My Number typed into the person filter is refused, not kept.
IntegratedNumber = Annotated[
    str | None,
    Query(
        pattern=PERSON_REFERENCE_PATTERN, description="the person (団体内統合宛名番号, or P<id> without one)"
    ),
]
UnitCode = Annotated[
    str | None, Query(pattern=r"^[0-9A-Z]{3}$", description="a unit, requesting or providing")
]
Organ = Annotated[str | None, Query(min_length=1, max_length=100, description="an organ (機関)")]


class TransferFilter:
    """The filters of ``/audit/transfers`` (and its CSV), as query parameters."""

    def __init__(
        self,
        integrated_number: IntegratedNumber = None,
        unit: UnitCode = None,
        atena_number: Annotated[
            str | None, Query(pattern=r"^[0-9A-Z]{15}$", description="the person by this unit's 宛名番号")
        ] = None,
        organ: Organ = None,
        interface: Annotated[
            str | None,
            Query(
                pattern=r"^(IF_[A-Z]{3}_[0-9]{4}|ATENA_[A-Z]{1,10}|NWS_[A-Z]{1,10})$",
                description="インターフェイスID",
            ),
        ] = None,
        purpose: Annotated[
            str | None, Query(pattern=r"^[0-9A-Z][0-9A-Z\-]{0,15}$", description="事務 (purpose code)")
        ] = None,
        outcome: Annotated[TransferOutcome | None, Query()] = None,
        start: Annotated[dt.date | None, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)] = None,
        end: Annotated[
            dt.date | None, Query(alias="to", ge=FIRST_DAY, le=LAST_DAY, description="inclusive")
        ] = None,
    ) -> None:
        self.integrated_number, self.unit, self.atena_number, self.organ = (
            integrated_number,
            unit,
            atena_number,
            organ,
        )
        self.interface, self.purpose, self.outcome, self.start, self.end = (
            interface,
            purpose,
            outcome,
            start,
            end,
        )
        self.person = integrated_number

    def parameters(self) -> dict[str, str]:
        return {k: str(v) for k, v in vars(self).items() if v is not None and k != "person"}

    async def query(self, session: Session) -> repository.TransferQuery:
        """The filters as a query; a unit's 宛名番号 is resolved to the person it is linked to."""
        person, unit = self.integrated_number, self.unit
        if self.atena_number is not None:
            if self.unit is None:
                raise SchemaViolation("atena_number needs unit: a 宛名番号 is a unit's own")
            person = await addressees.linked_person(session, self.unit, self.atena_number) or "-"
            unit = None
        self.person = person  # whose data is looked at: what the access log names
        return repository.TransferQuery(
            person=person,
            unit=unit,
            organ=self.organ,
            interface=self.interface,
            purpose=self.purpose,
            outcome=self.outcome.value if self.outcome else None,
            start=ordinance.day_start(self.start) if self.start else None,
            end=ordinance.day_start(self.end + dt.timedelta(days=1)) if self.end else None,
        )


Filter = Annotated[TransferFilter, Depends()]
_CSV_DESCRIPTION = (
    'UTF-8 with BOM, Japanese headers; codes as ="…" text, times on the city\'s clock, items joined by ；'
)


@router.get("/transfers", response_model=TransferPage)
async def transfers(
    filters: Filter,
    ops: Ops,
    session: Session,
    _: Auditor,
    cursor: Annotated[str | None, Query(max_length=64, description="from next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TransferPage:
    """The record, newest first, filtered by person, unit, organ, interface, 事務, outcome and period."""
    ops.expect("audit.transfers", **filters.parameters())
    after = _position(cursor)
    entries = await service.transfer_page(session, await filters.query(session), after, limit + 1)
    await ops.record(session, subject=filters.person)
    more = len(entries) > limit
    return TransferPage(
        items=[TransferOut.model_validate(e) for e in entries[:limit]],
        next_cursor=repository.Position.of(entries[limit - 1]).token() if more else None,
    )


@router.get(
    "/transfers.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": _CSV_DESCRIPTION}},
)
async def transfers_csv(
    filters: Filter, ops: Ops, state: State, session: Session, _: Auditor
) -> StreamingResponse:
    """The same entries as CSV that Excel opens as it is (UTF-8 with BOM), streamed a page at a time.
    The access is recorded (the request's session commits) before the first byte goes out."""
    ops.expect("audit.transfers_csv", **filters.parameters())
    query = await filters.query(session)
    await ops.record(session, subject=filters.person)

    async def page(reading: AsyncSession, after: repository.Position | None) -> Sequence[Any]:
        return await service.transfer_page(reading, query, after, 1000)

    return _csv_response(state, "transfers", page, "requested_at")


def _csv_response(
    state: HubState, record: export.Record, page: export.Page, moment: str
) -> StreamingResponse:
    """Entries of ``record`` as CSV that Excel and LibreOffice open as they are (audit/export.py)."""
    return StreamingResponse(
        export.csv_text(state.sessions, record, page, moment),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{record}.csv"'},
    )


@router.get("/persons/{integrated_number}", response_model=Disclosure)
async def person(
    integrated_number: IntegratedNumberPath, ops: Ops, state: State, session: Session, _: Auditor
) -> Disclosure:
    """The person's disclosure: who received which categories about them, when, for which 事務, on which
    article — the city's internal transfers too, which マイナポータル's やりとり履歴 does not show."""
    ops.expect("audit.person", subject=integrated_number)
    # The records name a person as they were named then: by the person id before a 付番依頼 issued
    # their 団体内統合宛名番号, by the number since. The history shows both.
    known = await addressees_repository.by_reference(session, integrated_number)
    names = {integrated_number} | ({known.reference, f"P{known.id}"} if known else set())
    disclosure = await service.disclosure(session, state.catalog, integrated_number, sorted(names))
    await ops.record(session)
    return disclosure


@router.get("/persons/{integrated_number}/provisions", response_model=ProvisionRecordsOut)
async def provision_records(
    integrated_number: IntegratedNumberPath, ops: Ops, state: State, session: Session, _: Auditor
) -> ProvisionRecordsOut:
    """The person's 情報提供等の記録 (番号法 第23条) from the city's 中間サーバー, newest first: each
    情報照会 the city made or answered through the network — what マイナポータル shows the person."""
    ops.expect("audit.provisions", subject=integrated_number)
    if state.national is None:  # a hub without the network has none to show: said, not an error
        await ops.record(session, detail="not connected")
        return ProvisionRecordsOut(connected=False, records=[])
    found = await state.national.chukan.records(integrated_number)
    await ops.record(session, detail=f"{len(found)} records")
    records = [ProvisionRecordOut.model_validate(record, from_attributes=True) for record in found]
    return ProvisionRecordsOut(connected=True, records=records)


@router.get("/compliance", response_model=ComplianceReport)
async def compliance(
    ops: Ops,
    state: State,
    session: Session,
    _: Auditor,
    start: Annotated[dt.date, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)],
    end: Annotated[dt.date, Query(alias="to", ge=FIRST_DAY, le=LAST_DAY)],
) -> ComplianceReport:
    """Every transfer of the period re-checked against the ordinance as it was at its time."""
    ops.expect("audit.compliance", start=start.isoformat(), end=end.isoformat())
    if end < start:
        raise SchemaViolation("to is before from")
    report = await service.compliance(session, state.catalog, start, end)
    await ops.record(session, detail=f"{report.checked} checked, {len(report.violations)} violations")
    return report


@router.get("/verify", response_model=VerifyOut)
async def verify(ops: Ops, state: State, session: Session, _: Auditor) -> VerifyOut:
    """Recompute both records — the transfer record and the operations record — every entry's digest
    and MAC, the chains and every checkpoint; names the first entry of each that no longer matches.
    One verification at a time; the access is recorded (and committed) first, so the long read that
    follows holds no write lock (on SQLite that would stop message intake meanwhile)."""
    ops.expect("audit.verify")
    async with unit_of_work(state.sessions) as logging:
        await ops.record(logging)
    key = state.signing_key
    async with state.verifying:
        results = await verification.verify_all(
            session,
            key.public_pem if key else None,
            record_key=state.require_vault().record_key,
            overdue=verification.checkpoints_overdue(state.settings.checkpoint_interval_seconds),
        )
    verified = VerifyOut.of(results)
    state.metrics.verification_at.set(time.time())
    state.metrics.verification_ok.set(1 if verified.ok else 0)
    return verified


@router.get("/checkpoints", response_model=Checkpoints)
async def checkpoints(ops: Ops, state: State, session: Session, _: Auditor) -> Checkpoints:
    """The signed checkpoints of both records and the public key: keep them outside the hub
    (``platform-hub audit checkpoints pull DIR``)."""
    ops.expect("audit.checkpoints")
    key = state.signing_key
    kept = Checkpoints(
        public_key_pem=key.public_pem if key else None,
        key_id=key.key_id if key else None,
        checkpoints=await service.checkpoints(session),
        operation_checkpoints=await service.checkpoints(session, OPERATIONS),
    )
    await ops.record(session)
    return kept


def _position(cursor: str | None) -> repository.Position | None:
    try:
        return repository.Position.parse(cursor) if cursor else None
    except (ValueError, OverflowError):
        raise SchemaViolation("cursor is not a next_cursor this endpoint gave") from None


# --- the operations record ---------------------------------------------------------------------


class OperationFilter:
    """The filters of ``/audit/operations`` (and its CSV)."""

    def __init__(
        self,
        integrated_number: IntegratedNumber = None,
        client_id: Annotated[str | None, Query(pattern=r"^[!-~]{1,64}$")] = None,
        unit: UnitCode = None,
        action: Annotated[str | None, Query(pattern=r"^[a-z_]{1,16}(\.[a-z_]{1,16})?$")] = None,
        outcome: Annotated[OperationOutcome | None, Query()] = None,
        start: Annotated[dt.date | None, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)] = None,
        end: Annotated[dt.date | None, Query(alias="to", ge=FIRST_DAY, le=LAST_DAY)] = None,
    ) -> None:
        search = OperationSearch(
            integrated_number=integrated_number,
            client_id=client_id,
            unit=unit,
            action=action,
            outcome=outcome,
            start=start,
            end=end,
        )
        self.query = operations_record.operation_query(search)
        self.parameters = search.parameters


Operations = Annotated[OperationFilter, Depends()]


@router.get("/operations", response_model=OperationPage)
async def operations(
    filters: Operations,
    ops: Ops,
    session: Session,
    _: Auditor,
    cursor: Annotated[str | None, Query(max_length=64, description="from next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OperationPage:
    """The operations record (操作ログ), newest first: who did what, to whom, when, with what outcome."""
    ops.expect("audit.operations", **filters.parameters)
    entries = await service.operation_page(session, filters.query, _position(cursor), limit + 1)
    await ops.record(session, subject=filters.query.person)
    more = len(entries) > limit
    return OperationPage(
        items=[OperationOut.model_validate(e) for e in entries[:limit]],
        next_cursor=repository.Position(entries[limit - 1].at, entries[limit - 1].id).token()
        if more
        else None,
    )


@router.get(
    "/operations.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": _CSV_DESCRIPTION}},
)
async def operations_csv(
    filters: Operations, ops: Ops, state: State, session: Session, _: Auditor
) -> StreamingResponse:
    """The operations record as CSV that Excel opens as it is, streamed a page at a time."""
    ops.expect("audit.operations_csv", **filters.parameters)
    await ops.record(session, subject=filters.query.person)

    async def page(reading: AsyncSession, after: repository.Position | None) -> Sequence[Any]:
        return await service.operation_page(reading, filters.query, after, 1000)

    return _csv_response(state, "operations", page, "at")
