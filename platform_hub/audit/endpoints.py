"""HTTP: the auditors' read-only view of the transfer record. Every query is itself recorded."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from platform_hub.addressees import repository as addressees
from platform_hub.addressees.schemas import IntegratedNumberPath
from platform_hub.audit import repository, service, verification
from platform_hub.audit.schemas import (
    CheckpointOut,
    Checkpoints,
    ComplianceReport,
    Disclosure,
    TransferOut,
    TransferPage,
    VerifyOut,
)
from platform_hub.auth.dependencies import Auditor
from platform_hub.auth.service import Principal
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.errors import SchemaViolation
from platform_hub.kit.state import Session, State
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.service import FIRST_DAY, LAST_DAY

router = APIRouter(prefix="/audit", tags=["audit"])

CSV_COLUMNS = {  # column → Japanese header, in the order Excel shows them
    "id": "記録番号",
    "reception_number": "受付番号",
    "msgid": "MSGID",
    "interface_id": "インターフェイスID",
    "pattern": "方式",
    "requesting_unit": "照会元ユニット",
    "requesting_organ": "照会元機関",
    "requesting_department": "照会元部署",
    "requesting_user": "照会者",
    "providing_unit": "提供元ユニット",
    "providing_organ": "提供元機関",
    "purpose_code": "事務",
    "ordinance_rule_id": "条例の根拠",
    "refusal_reason": "拒否・失敗の理由",
    "information_category": "情報の種別",
    "item_names": "項目",
    "subject_integrated_number": "団体内統合宛名番号",
    "requested_at": "照会日時",
    "provided_at": "提供日時",
    "outcome": "結果",
    "body_digest": "電文ダイジェスト",
    "entry_digest": "記録ダイジェスト",
}


class TransferFilter:
    """The filters of ``/audit/transfers`` (and its CSV), as query parameters."""

    def __init__(
        self,
        integrated_number: Annotated[str | None, Query(description="the person (団体内統合宛名番号)")] = None,
        unit: Annotated[str | None, Query(description="a unit, requesting or providing")] = None,
        atena_number: Annotated[str | None, Query(description="the person by this unit's 宛名番号")] = None,
        organ: Annotated[str | None, Query(description="an organ (機関), requesting or providing")] = None,
        interface: Annotated[str | None, Query()] = None,
        purpose: Annotated[str | None, Query(description="事務 (purpose code)")] = None,
        outcome: Annotated[str | None, Query(description="provided, delivered, refused, failed")] = None,
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
            link = await addressees.active_link(session, self.unit, self.atena_number)
            person, unit = (link.person.integrated_number if link else "-"), None
        self.person = person  # whose data is looked at: what the access log names
        return repository.TransferQuery(
            person=person,
            unit=unit,
            organ=self.organ,
            interface=self.interface,
            purpose=self.purpose,
            outcome=self.outcome,
            start=ordinance.day_start(self.start) if self.start else None,
            end=ordinance.day_start(self.end + dt.timedelta(days=1)) if self.end else None,
        )


Filter = Annotated[TransferFilter, Depends()]


def _log(
    session: Session, principal: Principal, action: str, subject: str | None, parameters: dict[str, str]
) -> None:
    repository.log_access(session, principal.client_id, action, subject, parameters)


@router.get("/transfers", response_model=TransferPage)
async def transfers(
    filters: Filter,
    session: Session,
    principal: Auditor,
    cursor: Annotated[str | None, Query(description="from next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TransferPage:
    """The record, newest first, filtered by person, unit, organ, interface, 事務, outcome and period."""
    try:
        after = repository.Position.parse(cursor) if cursor else None
    except (ValueError, OverflowError):
        raise SchemaViolation("cursor is not a next_cursor this endpoint gave") from None
    entries = await repository.transfers(session, await filters.query(session), after, limit + 1)
    _log(session, principal, "transfers", filters.person, filters.parameters())
    more = len(entries) > limit
    return TransferPage(
        items=[TransferOut.model_validate(e) for e in entries[:limit]],
        next_cursor=repository.Position.of(entries[limit - 1]).token() if more else None,
    )


@router.get(
    "/transfers.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "UTF-8 with BOM, Japanese headers"}},
)
async def transfers_csv(
    filters: Filter, state: State, session: Session, principal: Auditor
) -> StreamingResponse:
    """The same entries as CSV that Excel opens as it is (UTF-8 with BOM), streamed a page at a time.
    The access is recorded (the request's session commits) before the first byte goes out."""
    query = await filters.query(session)
    _log(session, principal, "transfers.csv", filters.person, filters.parameters())

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS.values())
        yield codecs.BOM_UTF8.decode() + buffer.getvalue()
        after: repository.Position | None = None
        while True:
            async with unit_of_work(state.sessions) as reading:
                entries = await repository.transfers(reading, query, after, 1000)
            if not entries:
                return
            buffer.seek(0)
            buffer.truncate()
            for entry in entries:
                writer.writerow(_csv_value(getattr(entry, column)) for column in CSV_COLUMNS)
            yield buffer.getvalue()
            after = repository.Position.of(entries[-1])

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="transfers.csv"'},
    )


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # senders write some of these fields: never let Excel run one as a formula
    if isinstance(value, list):
        return "・".join(map(str, value))
    if isinstance(value, dt.datetime):
        return value.astimezone(ordinance.JST).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


@router.get("/persons/{integrated_number}", response_model=Disclosure)
async def person(
    integrated_number: IntegratedNumberPath, state: State, session: Session, principal: Auditor
) -> Disclosure:
    """The person's disclosure: who received which categories about them, when, for which 事務, on which
    article — the city's internal transfers too, which マイナポータル's やりとり履歴 does not show."""
    _log(session, principal, "person", integrated_number, {})
    return await service.disclosure(session, state.catalog, integrated_number)


@router.get("/compliance", response_model=ComplianceReport)
async def compliance(
    state: State,
    session: Session,
    principal: Auditor,
    start: Annotated[dt.date, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)],
    end: Annotated[dt.date, Query(alias="to", ge=FIRST_DAY, le=LAST_DAY)],
) -> ComplianceReport:
    """Every transfer of the period re-checked against the ordinance as it was at its time."""
    if end < start:
        raise SchemaViolation("to is before from")
    _log(session, principal, "compliance", None, {"from": str(start), "to": str(end)})
    return await service.compliance(session, state.catalog, start, end)


@router.get("/verify", response_model=VerifyOut)
async def verify(state: State, session: Session, principal: Auditor) -> VerifyOut:
    """Recompute the whole chain and every checkpoint; names the first entry that no longer matches.
    One verification at a time; the access is recorded (and committed) first, so the long read that
    follows holds no write lock (on SQLite that would stop message intake meanwhile)."""
    async with unit_of_work(state.sessions) as logging:
        _log(logging, principal, "verify", None, {})
    key = state.signing_key
    async with state.verifying:
        result = await verification.verify(session, key.public_pem if key else None)
    return VerifyOut(
        ok=result.ok, entries=result.entries, checkpoints=result.checkpoints, problems=result.problems
    )


@router.get("/checkpoints", response_model=Checkpoints)
async def checkpoints(state: State, session: Session, principal: Auditor) -> Checkpoints:
    """The signed checkpoints and the public key: keep them outside the hub."""
    _log(session, principal, "checkpoints", None, {})
    key = state.signing_key
    return Checkpoints(
        public_key_pem=key.public_pem if key else None,
        key_id=key.key_id if key else None,
        checkpoints=[CheckpointOut.model_validate(c) for c in await repository.checkpoints(session)],
    )
