"""HTTP: search the registry, read a person, register 住登外者, link and unlink 宛名番号, 名寄せ and its
undo, 他業務参照不可 — each under the need-to-know rule of ``access``, each in the operations record,
each answer that carries a person's attributes a provision of 宛名情報 in the transfer record."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status

from platform_hub.addressees import access, repository, service, views
from platform_hub.addressees.access import Caller, Evidence, Provision
from platform_hub.models import Person
from platform_hub.protocol.errors import Forbidden, OrdinanceRefusal, UnknownTarget
from platform_hub.protocol.registry import (
    PERSON_REFERENCE_PATTERN,
    Candidate,
    LinkOut,
    LinkRequest,
    MergeOut,
    MergeProposalOut,
    MergeProposalStatus,
    MergeRequest,
    NumberingOut,
    NumberingRequest,
    PersonOut,
    PersonRegistration,
    PurposeCode,
    Reason,
    RestrictionOut,
    RestrictRequest,
    SearchRequest,
)
from platform_hub.web.operations import OperationLog, Ops
from platform_hub.web.security import Admin
from platform_hub.web.state import HubState, Session, State

IntegratedNumberPath = Annotated[
    str,
    Path(
        pattern=PERSON_REFERENCE_PATTERN,
        description="the person: their 団体内統合宛名番号, or the person id P<id> of one who has none",
    ),
]

router = APIRouter(prefix="/addressees", tags=["addressees"])


async def caller_of(state: HubState, ops: OperationLog, purpose: str | None) -> Caller:
    """Units with the registry scope, registered and enabled, and the My Number office (admin). Called
    before the request's session is used: the configuration snapshot may open a session of its own."""
    actor, principal_scopes = ops.actor, ops.principal.scopes
    configuration = await state.configuration.get()
    if ops.principal.acts_as("admin"):
        return Caller(client_id=actor.client_id, unit=None, rulebook=configuration.rulebook)
    code = actor.unit_code
    if actor.role != "unit" or code is None or f"{code}:addressees" not in principal_scopes:
        raise Forbidden("the addressee registry is for units (with the scope UNIT:addressees) and admins")
    unit = configuration.unit(code)
    if unit is None or not unit.enabled:
        raise Forbidden(f"unit {code} is not registered, or disabled")
    return Caller(
        client_id=actor.client_id,
        unit=unit,
        purpose=purpose,
        uses_numbers=f"{code}:mynumber" in principal_scopes,
        department=actor.department,
        clerk=actor.clerk,
        rulebook=configuration.rulebook,
    )


def acting_for(caller: Caller, unit_code: str) -> None:
    """A unit manages only its own 宛名番号; the office any unit's."""
    if caller.unit_code not in (None, unit_code):
        raise Forbidden(f"unit {caller.unit_code} may not act for unit {unit_code}")


async def _decided(
    state: HubState, caller: Caller, operation: str, subject: str | None = None
) -> Provision | None:
    """The ordinance's decision on giving this caller 宛名情報; a refusal is recorded, then raised."""
    holder = access.registry_holder(state.settings.registry_organ)
    try:
        return access.decide(caller, holder, operation)
    except OrdinanceRefusal as refusal:
        raise await access.refuse(state, caller, holder, operation, refusal, subject) from None


async def _person(session: Session, caller: Caller, integrated_number: str) -> Person:
    """The person, or to a unit the same E1003 whether nobody holds the number or the unit may not see
    the person."""
    try:
        return await service.get_person(session, integrated_number)
    except UnknownTarget:
        if caller.unit is None:
            raise
        raise access.unknown_to(caller, integrated_number) from None


@router.post("/search", response_model=list[Candidate])
async def search(body: SearchRequest, ops: Ops, state: State, session: Session) -> list[Candidate]:
    """By My Number (exact), or by 氏名 (or 読み) and 生年月日, exact or partial, former names and addresses
    included; 性別 and 住所 narrow it. At most 20 candidates, with what a clerk needs to choose."""
    by = (
        "my_number"
        if body.my_number is not None
        else ",".join(
            name for name in ("name", "name_kana", "birth_date", "sex", "address") if getattr(body, name)
        )
    )
    ops.expect("registry.search", by=by, match=body.match, purpose=body.purpose_code)
    caller = await caller_of(state, ops, body.purpose_code)
    if body.my_number is not None:
        caller.require_numbers(state.catalog)
    provision = await _decided(state, caller, "ATENA_SEARCH")
    vault = state.require_vault()
    candidates, shown = await views.search(session, vault, body, caller)
    answer = b"[" + b",".join(c.model_dump_json().encode() for c in candidates) + b"]"
    await access.record_provision(session, vault.record_key, provision, shown, answer)
    await ops.record(session, detail=f"{len(candidates)} candidates")
    return candidates


async def _shown(
    state: HubState,
    session: Session,
    ops: OperationLog,
    caller: Caller,
    person: Person,
    provision: Provision | None,
    *,
    my_number: bool = False,
) -> PersonOut:
    """The person's view for the caller, recorded as the provision the ordinance decided (decided
    before anything was written: a refusal is recorded in a transaction of its own)."""
    vault = state.require_vault()
    view, shown = await views.person_out(session, vault, person, caller, my_number=my_number)
    await access.record_provision(
        session, vault.record_key, provision, [shown], view.model_dump_json().encode()
    )
    if view.my_number is not None:
        await ops.record(session, action="registry.reveal", subject=person.reference)
    return view


@router.get("/merge-proposals", response_model=list[MergeProposalOut])
async def merge_proposals(
    ops: Ops,
    session: Session,
    _: Admin,
    status: Annotated[
        Literal["proposed", "accepted", "rejected", "all"], Query(description="which to list")
    ] = "proposed",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MergeProposalOut]:
    """名寄せ the registry proposes (a record known by 基本4情報 and one that came with a 個人番号),
    for the My Number office to accept or reject."""
    ops.expect("registry.proposals", status=status)
    wanted = None if status == "all" else MergeProposalStatus(status)
    found = [await views.proposal_out(session, p) for p in await repository.proposals(session, wanted, limit)]
    await ops.record(session, detail=f"{len(found)} proposals")
    return found


async def _decide(
    proposal_id: int, body: Reason, ops: OperationLog, session: Session, actor: str, *, accept: bool
) -> MergeProposalOut:
    ops.expect("registry.accept_merge" if accept else "registry.reject_merge", proposal=proposal_id)
    proposal = await service.decide_proposal(
        session, proposal_id, accept=accept, reason=body.reason, actor=actor
    )
    out = await views.proposal_out(session, proposal)
    await ops.record(session, subject=out.person_id, detail=f"into {out.into_person_id}")
    return out


ProposalPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/merge-proposals/{proposal_id}/accept", response_model=MergeProposalOut)
async def accept_merge(
    proposal_id: ProposalPath, body: Reason, ops: Ops, session: Session, principal: Admin
) -> MergeProposalOut:
    """Accept a proposed 名寄せ: the records are merged (neither renumbered), as ``POST /merges`` does."""
    return await _decide(proposal_id, body, ops, session, principal.client_id, accept=True)


@router.post("/merge-proposals/{proposal_id}/reject", response_model=MergeProposalOut)
async def reject_merge(
    proposal_id: ProposalPath, body: Reason, ops: Ops, session: Session, principal: Admin
) -> MergeProposalOut:
    """Reject a proposed 名寄せ: the records stay apart, and the pair is not proposed again."""
    return await _decide(proposal_id, body, ops, session, principal.client_id, accept=False)


@router.get("/{integrated_number}", response_model=PersonOut)
async def get_person(
    integrated_number: IntegratedNumberPath,
    ops: Ops,
    state: State,
    session: Session,
    purpose: Annotated[PurposeCode | None, Query(description="the 事務 it is read for (units)")] = None,
    with_my_number: Annotated[
        bool, Query(description="show the 個人番号 (a 個人番号利用事務 unit that handles the person)")
    ] = False,
) -> PersonOut:
    """A person the caller handles, whole: current and former versions, the caller's own links."""
    ops.expect("registry.read", subject=integrated_number, purpose=purpose, with_my_number=with_my_number)
    caller = await caller_of(state, ops, purpose)
    if with_my_number:
        if caller.unit is None:
            raise Forbidden("the My Number office administers the registry without seeing My Numbers")
        caller.require_numbers(state.catalog)
    person = await _person(session, caller, integrated_number)
    await access.require_handled(session, caller, person.id, integrated_number)
    provision = await _decided(state, caller, "ATENA_READ", integrated_number)
    view = await _shown(state, session, ops, caller, person, provision, my_number=with_my_number)
    await ops.record(session)
    return view


@router.post("", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
async def register_person(body: PersonRegistration, ops: Ops, state: State, session: Session) -> PersonOut:
    """Register a person with the unit's own 宛名番号: a 住登外者 (units), anyone (the office)."""
    ops.expect("registry.register", unit=body.unit_code, status=body.status, purpose=body.purpose_code)
    caller = await caller_of(state, ops, body.purpose_code)
    acting_for(caller, body.unit_code)
    provision = await _decided(state, caller, "ATENA_REGISTER")
    person = await service.register_person(
        session,
        state.require_vault(),
        state.catalog,
        body,
        caller,
        remainder_one=state.settings.atena_check_digit_remainder_one,
    )
    view = await _shown(state, session, ops, caller, person, provision)
    await ops.record(session, subject=person.reference)
    return view


@router.post("/{integrated_number}/my-number", response_model=NumberingOut)
async def request_numbering(
    integrated_number: IntegratedNumberPath, body: NumberingRequest, ops: Ops, state: State, session: Session
) -> NumberingOut:
    """付番依頼: the 個人番号 of a person known without one (a unit that handles them, for a
    個人番号利用事務, with UNIT:mynumber; or the office). The 団体内統合宛名番号 is issued with it —
    unless another record holds that 個人番号: then a 名寄せ is proposed to the My Number office."""
    ops.expect("registry.number", subject=integrated_number, purpose=body.purpose_code)
    caller = await caller_of(state, ops, body.purpose_code)
    person = await _person(session, caller, integrated_number)
    provision = await _decided(state, caller, "ATENA_NUMBER", integrated_number)
    proposed = await service.request_numbering(
        session,
        state.require_vault(),
        state.catalog,
        person,
        caller,
        body.my_number,
        remainder_one=state.settings.atena_check_digit_remainder_one,
    )
    view = await _shown(state, session, ops, caller, person, provision)
    await ops.record(session, subject=person.reference, detail="名寄せ proposed" if proposed else "numbered")
    return NumberingOut(person=view, merge_proposed=proposed)


@router.post("/{integrated_number}/links", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
async def link(
    integrated_number: IntegratedNumberPath, body: LinkRequest, ops: Ops, state: State, session: Session
) -> PersonOut:
    """Link the unit's own 宛名番号 to a person, on the evidence the clerk has (a unit then handles them)."""
    evidence = Evidence(body.my_number, body.name, body.name_kana, body.birth_date)
    ops.expect(
        "registry.link",
        subject=integrated_number,
        unit=body.unit_code,
        purpose=body.purpose_code,
        evidence="my_number" if body.my_number else "basic_info" if evidence.given() else "none",
    )
    caller = await caller_of(state, ops, body.purpose_code)
    acting_for(caller, body.unit_code)
    person = await _person(session, caller, integrated_number)
    provision = await _decided(state, caller, "ATENA_LINK", integrated_number)
    await service.link_with_evidence(
        session,
        state.require_vault(),
        state.catalog,
        person,
        caller,
        body.unit_code,
        body.atena_number,
        reason=body.reason,
        evidence=evidence,
        remainder_one=state.settings.atena_check_digit_remainder_one,
    )
    view = await _shown(state, session, ops, caller, person, provision)
    await ops.record(session)
    return view


@router.post("/links/{unit_code}/{atena_number}/unlink", response_model=LinkOut)
async def unlink(
    unit_code: Annotated[str, Path(pattern=r"^[0-9A-Z]{3}$")],
    atena_number: Annotated[str, Path(pattern=r"^[0-9A-Z]{15}$")],
    body: Reason,
    ops: Ops,
    state: State,
    session: Session,
) -> LinkOut:
    ops.expect("registry.unlink", unit=unit_code, atena_number=atena_number)
    caller = await caller_of(state, ops, None)
    acting_for(caller, unit_code)
    found = await service.unlink(session, unit_code, atena_number, reason=body.reason, actor=caller.client_id)
    await ops.record(session, subject=found.person.reference)
    return LinkOut.model_validate(found, from_attributes=True)


@router.post("/{integrated_number}/restrictions", response_model=RestrictionOut)
async def restrict(
    integrated_number: IntegratedNumberPath, body: RestrictRequest, ops: Ops, state: State, session: Session
) -> RestrictionOut:
    """他業務参照不可: hide attributes from every unit but ``unit_code`` (e.g. a DV victim's address);
    set by a unit that handles the person (or the office), lifted by the same (or the office)."""
    ops.expect(
        "registry.restrict",
        subject=integrated_number,
        unit=body.unit_code,
        attributes=",".join(body.attributes),
    )
    caller = await caller_of(state, ops, None)
    acting_for(caller, body.unit_code)
    person = await _person(session, caller, integrated_number)
    await service.restrict(session, person, caller, body.unit_code, list(body.attributes))
    await ops.record(session)
    return RestrictionOut(
        integrated_number=person.reference,
        restricted=sorted(person.restricted_attributes),
        restricted_by_unit=person.restricted_by_unit,
    )


@router.post("/merges", response_model=MergeOut, status_code=status.HTTP_201_CREATED)
async def merge(body: MergeRequest, ops: Ops, session: Session, principal: Admin) -> MergeOut:
    """名寄せ: record that two records are one person, renumbering neither (the My Number office)."""
    ops.expect("registry.merge", subject=body.integrated_number, into=body.into_integrated_number)
    record = await service.merge(
        session,
        body.integrated_number,
        body.into_integrated_number,
        reason=body.reason,
        actor=principal.client_id,
    )
    await ops.record(session)
    return await views.merge_out(session, record)


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
async def undo_merge(
    merge_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: Reason,
    ops: Ops,
    session: Session,
    principal: Admin,
) -> MergeOut:
    ops.expect("registry.unmerge", merge=merge_id)
    record = await service.undo_merge(session, merge_id, reason=body.reason, actor=principal.client_id)
    out = await views.merge_out(session, record)
    await ops.record(session, subject=out.integrated_number)
    return out
