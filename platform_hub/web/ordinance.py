"""HTTP: the ordinance's rules as of a day, and loading a new version (admin)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from platform_hub.kit.clock import city_today
from platform_hub.ordinance import service
from platform_hub.ordinance.schemas import OrdinanceOut
from platform_hub.web.operations import Ops
from platform_hub.web.security import Admin, CurrentPrincipal
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
