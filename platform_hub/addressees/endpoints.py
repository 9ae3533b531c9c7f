"""HTTP: search the registry, register 住登外者, link and unlink 宛名番号, 名寄せ and its undo."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Path, status

from platform_hub.addressees import service
from platform_hub.addressees.schemas import (
    Candidate,
    IntegratedNumberPath,
    LinkOut,
    LinkRequest,
    MergeOut,
    MergeRequest,
    PersonOut,
    PersonRegistration,
    Reason,
    RestrictRequest,
    SearchRequest,
)
from platform_hub.auth.dependencies import Admin, CurrentPrincipal
from platform_hub.auth.service import Principal
from platform_hub.kit.errors import Forbidden
from platform_hub.kit.state import Session, State

router = APIRouter(prefix="/addressees", tags=["addressees"])


def viewer_of(principal: Principal) -> service.Viewer:
    """Units with the registry scope, and the My Number office (admin), may use the registry."""
    if principal.acts_as("admin"):
        return service.Viewer(unit_code=None)
    code = principal.unit_code
    if principal.role != "unit" or code is None or f"{code}:addressees" not in principal.scopes:
        raise Forbidden("the addressee registry is for units (with the scope UNIT:addressees) and admins")
    return service.Viewer(unit_code=code, may_see_my_number=f"{code}:mynumber" in principal.scopes)


def acting_for(principal: Principal, unit_code: str) -> service.Viewer:
    """A unit manages only its own 宛名番号; admins any unit's. Changes answer without the My Number
    (the caller has it, or has no need of it): only a lookup shows it."""
    viewer = viewer_of(principal)
    if viewer.unit_code not in (None, unit_code):
        raise Forbidden(f"unit {viewer.unit_code} may not act for unit {unit_code}")
    return viewer


@router.post("/search", response_model=list[Candidate])
async def search(
    body: SearchRequest, state: State, session: Session, principal: CurrentPrincipal
) -> list[Candidate]:
    """By My Number (exact), or by 基本4情報 exact or partial, former names and addresses included."""
    return await service.search(session, state.require_vault(), body, viewer_of(principal))


@router.get("/{integrated_number}", response_model=PersonOut)
async def get_person(
    integrated_number: IntegratedNumberPath, state: State, session: Session, principal: CurrentPrincipal
) -> PersonOut:
    person = await service.get_person(session, integrated_number)
    return await service.person_out(session, state.require_vault(), person, viewer_of(principal))


@router.post("", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
async def register_person(
    body: PersonRegistration, state: State, session: Session, principal: CurrentPrincipal
) -> PersonOut:
    """Register a person with the unit's own 宛名番号 — a 住登外者 (non-resident) as a rule."""
    viewer = acting_for(principal, body.unit_code)
    if body.my_number is not None:
        service.require_number_use(viewer)
    vault = state.require_vault()
    person = await service.register_person(session, vault, body, actor=principal.client_id)
    return await service.person_out(session, vault, person, replace(viewer, may_see_my_number=False))


@router.post("/{integrated_number}/links", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
async def link(
    integrated_number: IntegratedNumberPath,
    body: LinkRequest,
    state: State,
    session: Session,
    principal: CurrentPrincipal,
) -> PersonOut:
    viewer = acting_for(principal, body.unit_code)
    person = await service.get_person(session, integrated_number)
    await service.link(
        session, person, body.unit_code, body.atena_number, reason=body.reason, actor=principal.client_id
    )
    return await service.person_out(
        session, state.require_vault(), person, replace(viewer, may_see_my_number=False)
    )


@router.post("/links/{unit_code}/{atena_number}/unlink", response_model=LinkOut)
async def unlink(
    unit_code: str, atena_number: str, body: Reason, session: Session, principal: CurrentPrincipal
) -> LinkOut:
    acting_for(principal, unit_code)
    found = await service.unlink(
        session, unit_code, atena_number, reason=body.reason, actor=principal.client_id
    )
    return LinkOut.model_validate(found, from_attributes=True)


@router.post("/{integrated_number}/restrictions", response_model=PersonOut)
async def restrict(
    integrated_number: IntegratedNumberPath,
    body: RestrictRequest,
    state: State,
    session: Session,
    principal: CurrentPrincipal,
) -> PersonOut:
    """他業務参照不可: hide attributes from every unit but ``unit_code`` (e.g. a DV victim's address)."""
    viewer = acting_for(principal, body.unit_code)
    person = await service.get_person(session, integrated_number)
    await service.restrict(session, person, body.unit_code, list(body.attributes))
    return await service.person_out(
        session, state.require_vault(), person, replace(viewer, may_see_my_number=False)
    )


@router.post("/merges", response_model=MergeOut, status_code=status.HTTP_201_CREATED)
async def merge(body: MergeRequest, session: Session, principal: Admin) -> MergeOut:
    """名寄せ: record that two records are one person, renumbering neither."""
    record = await service.merge(
        session,
        body.integrated_number,
        body.into_integrated_number,
        reason=body.reason,
        actor=principal.client_id,
    )
    return await service.merge_out(session, record)


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
async def undo_merge(
    merge_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: Reason, session: Session, principal: Admin
) -> MergeOut:
    record = await service.undo_merge(session, merge_id, reason=body.reason, actor=principal.client_id)
    return await service.merge_out(session, record)
