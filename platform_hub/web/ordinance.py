"""HTTP: the ordinance's rules as of a day, loading a new version (admin), and what a draft version
would have changed over a past period (条例改正の影響: the My Number office's admins, auditors)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from platform_hub.audit.impact import ordinance_impact
from platform_hub.auth.service import Principal
from platform_hub.kit.clock import city_today
from platform_hub.ordinance import service
from platform_hub.ordinance.impact import recorded_detail
from platform_hub.ordinance.schemas import ImpactReport, OrdinanceOut
from platform_hub.protocol.errors import SchemaViolation
from platform_hub.web.operations import Ops
from platform_hub.web.parameters import DeclaredParametersOnly
from platform_hub.web.security import Admin, CurrentPrincipal, require_role
from platform_hub.web.state import Session, State

router = APIRouter(prefix="/ordinance", tags=["ordinance"])


@router.get("/rules", response_model=OrdinanceOut)
async def rules(
    session: Session,
    _: CurrentPrincipal,
    at: Annotated[
        dt.date | None,
        Query(ge=service.FIRST_DAY, le=service.LAST_DAY, description="the day (default: today in the city)"),
    ] = None,
) -> OrdinanceOut:
    """The version in force on ``at``, with every rule."""
    return await service.rules_on(session, at or city_today())


@router.get("/versions", response_model=list[OrdinanceOut])
async def versions(session: Session, _: CurrentPrincipal) -> list[OrdinanceOut]:
    return await service.all_versions(session)


@router.post(
    "/versions",
    response_model=OrdinanceOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}
    },
)
async def load_version(
    request: Request, ops: Ops, state: State, session: Session, principal: Admin
) -> OrdinanceOut:
    """Load a new version (YAML or JSON, like ``interface_specs/ordinance/``); in force from its date."""
    ops.expect("ordinance.load")
    source = await request.body()
    ordinance = service.parse_ordinance(source, state.catalog)
    ops.expect("ordinance.load", version=ordinance.version, effective=ordinance.effective.isoformat())
    loaded = await service.load(session, ordinance, source, principal.client_id)
    await ops.record(session, detail=f"{len(ordinance.rules)} rules, source {loaded.source_digest}")
    return service.version_out(loaded)


# Who may see a draft's effect on the record: the My Number office (its clients are admins), auditors.
RecordReader = Annotated[Principal, Depends(require_role("admin", "auditor"))]
YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml")


@router.post(
    "/impact",
    response_model=ImpactReport,
    # ``?from=`` (the compliance report's name) for ``?start=`` is refused, not taken as a default.
    dependencies=[DeclaredParametersOnly],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {kind: {"schema": {"type": "string"}} for kind in YAML_TYPES[:2]},
        }
    },
)
async def impact(
    request: Request,
    ops: Ops,
    state: State,
    session: Session,
    _: RecordReader,
    start: Annotated[dt.date, Query(ge=service.FIRST_DAY, le=service.LAST_DAY)],
    end: Annotated[dt.date, Query(ge=service.FIRST_DAY, le=service.LAST_DAY, description="inclusive")],
) -> ImpactReport:
    """条例改正の影響: a draft version (YAML, like ``interface_specs/ordinance/``; neither stored nor in
    force) replayed over the period's transfer record — the transfers it would refuse that were
    allowed, those it would allow that the ordinance refused, per flow with a few examples — and the
    registry's flows it leaves without a rule or newly covers, against the version in force today."""
    ops.expect("ordinance.impact", start=start.isoformat(), end=end.isoformat())
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in YAML_TYPES:
        raise SchemaViolation(
            f"the draft is YAML: send it as application/yaml or text/yaml, not {kind or '-'}"
        )
    if end < start:
        raise SchemaViolation("end is before start")
    draft = service.parse_ordinance(await request.body(), state.catalog)
    ops.expect("ordinance.impact", version=draft.version)
    report = await ordinance_impact(session, state.catalog, draft, start, end)
    await ops.record(session, detail=recorded_detail(report))
    return report
