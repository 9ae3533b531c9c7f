"""HTTP: the network gateway for units — 符号取得 and 情報照会 through the 情報提供ネットワークシステム, in
the unit's own 宛名番号 (``platform_hub.network``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from platform_hub.kit.database import unit_of_work
from platform_hub.models import NetworkInquiry
from platform_hub.national.juki_net import BasicInfo, JukiNet
from platform_hub.network import identity, service
from platform_hub.network.schemas import (
    AddressAsked,
    AddressOut,
    CodeAsked,
    CodeOut,
    IdentityAsked,
    IdentityOut,
    InquiryAsked,
    InquiryOut,
    VerificationAsked,
    VerificationOut,
)
from platform_hub.network.service import Asker, NationalSystems
from platform_hub.protocol.errors import Forbidden, OrdinanceRefusal, ServiceUnavailable
from platform_hub.web.operations import OperationLog, Ops
from platform_hub.web.state import HubState, Session, State

router = APIRouter(prefix="/network", tags=["network (情報提供ネットワークシステム)"])
ProcessNumber = Annotated[str, Path(pattern=r"^[0-9A-Za-z\-]{1,64}$", description="処理通番")]


def systems_of(state: HubState) -> NationalSystems:
    if state.national is None:
        raise ServiceUnavailable("the hub is not connected to a 中間サーバー and 住基ネット")
    return state.national


async def asker_of(state: HubState, ops: OperationLog, purpose: str) -> Asker:
    """A registered unit of a 個人番号利用事務 (its token carries UNIT:mynumber)."""
    actor = ops.actor
    code = actor.unit_code
    if actor.role != "unit" or code is None or f"{code}:mynumber" not in ops.principal.scopes:
        raise Forbidden("the network is for units of a 個人番号利用事務 (with the scope UNIT:mynumber)")
    unit = (await state.configuration.get()).unit(code)
    if unit is None or not unit.enabled:
        raise Forbidden(f"unit {code} is not registered, or disabled")
    return Asker(unit, purpose, actor.department, actor.clerk)


async def juki_asker(state: HubState, ops: OperationLog, purpose: str, interface: str) -> Asker:
    """The asker, for a 個人番号利用事務 of theirs: any other is refused before 住基ネット is asked, and
    recorded (in a transaction of its own: the request's rolls back with the refusal)."""
    asker = await asker_of(state, ops, purpose)
    reason = identity.number_use_refusal(state.catalog, asker)
    if reason is not None:
        async with unit_of_work(state.sessions) as own:
            await identity.record_refusal(own, state.require_vault().record_key, asker, interface, reason)
        raise OrdinanceRefusal(reason)
    return asker


def juki_net_of(state: HubState) -> JukiNet:
    return systems_of(state).juki_net


@router.post("/verifications", response_model=VerificationOut)
async def verify(body: VerificationAsked, ops: Ops, state: State, session: Session) -> VerificationOut:
    """個人番号の真正性確認 through 住基ネット (番号法 第14条第2項): is this 個人番号 the person of these
    基本4情報? The answer never repeats the number; the call is recorded."""
    ops.expect("network.verification", purpose=body.purpose)  # never the 個人番号
    asker = await juki_asker(state, ops, body.purpose, identity.VERIFY)
    info = BasicInfo(body.name, body.birth_date, body.sex, body.address)
    vault = state.require_vault()
    found = await identity.verify(
        session, juki_net_of(state), vault, vault.record_key, asker, body.my_number, info
    )
    await ops.record(session, detail="authentic" if found.authentic else "not authentic")
    return VerificationOut(authentic=found.authentic, known=found.known, differing=list(found.differing))


@router.post("/identities", response_model=IdentityOut)
async def identity_of(body: IdentityAsked, ops: Ops, state: State, session: Session) -> IdentityOut:
    """本人確認情報照会 by the person's 個人番号 (the hub's, never sent by the unit); with ``refresh``, the
    本人確認情報の最新化 of a 住登外者 in the registry. The 住民票コード stays in the hub."""
    ops.expect("network.identity", atena=body.atena_no, purpose=body.purpose, refresh=body.refresh)
    asker = await juki_asker(state, ops, body.purpose, identity.IDENTITY)
    vault = state.require_vault()
    found = await identity.identity(
        session, juki_net_of(state), vault, vault.record_key, asker, body.atena_no, refresh=body.refresh
    )
    await ops.record(session, detail="refreshed" if found.refreshed else None)
    person = found.identity
    return IdentityOut(
        name=person.name,
        birth_date=person.birth_date,
        sex=person.sex,
        address=person.address,
        municipality_code=person.municipality_code,
        refreshed=found.refreshed,
        changed=list(found.changed),
    )


@router.post("/addresses", response_model=AddressOut)
async def address_on(body: AddressAsked, ops: Ops, state: State, session: Session) -> AddressOut:
    """The person's 住所 on the 基準日 ``on``, from 住基ネット: its 市町村コード says whether the
    information is the city's own (庁内照会) or another municipality's (a 情報照会 to it)."""
    ops.expect("network.address", atena=body.atena_no, purpose=body.purpose, on=body.on.isoformat())
    asker = await juki_asker(state, ops, body.purpose, identity.ADDRESS)
    vault = state.require_vault()
    found = await identity.address_on(
        session, juki_net_of(state), vault, vault.record_key, asker, body.atena_no, body.on
    )
    await ops.record(session, detail=found.municipality_code if found else "none")
    if found is None:
        return AddressOut(on=body.on, found=False)
    return AddressOut(
        on=body.on,
        found=True,
        municipality_code=found.municipality_code,
        address=found.address,
        since=found.from_date,
        until=found.to_date,
    )


@router.post("/codes", response_model=CodeOut, status_code=status.HTTP_201_CREATED)
async def obtain_code(body: CodeAsked, ops: Ops, state: State, session: Session) -> CodeOut:
    """符号取得 for the person (資料8): the hub gives the 中間サーバー the 個人番号 it holds and 住基ネット
    the 住民票コード with the 処理通番; the 符号 is linked inside the 中間サーバー and never shown."""
    ops.expect("network.code", atena=body.atena_no, purpose=body.purpose)
    asker = await asker_of(state, ops, body.purpose)  # who asks, before whether the hub can
    systems = systems_of(state)
    request = await service.obtain_code(session, systems, state.require_vault(), asker, body.atena_no)
    await ops.record(session, subject=request.integrated_number, detail=f"処理通番 {request.process_number}")
    return CodeOut(process_number=request.process_number, status=request.status, linked=request.linked)


@router.post("/inquiries", response_model=InquiryOut, status_code=status.HTTP_202_ACCEPTED)
async def ask(body: InquiryAsked, ops: Ops, state: State, session: Session) -> InquiryOut:
    """情報照会 to another organisation: checked against the 番号法 table (第19条第8号) before anything
    leaves — a refusal is recorded — then asked; the answer comes under the 処理通番."""
    ops.expect("network.inquiry", atena=body.atena_no, provider=body.provider, information=body.information)
    asker = await asker_of(state, ops, body.purpose)  # who asks, before whether the hub can
    systems = systems_of(state)
    try:
        rule = service.allowed(asker, body.information, (await state.configuration.get()).rulebook)
    except OrdinanceRefusal as refusal:
        await _record_refusal(state, asker, body, refusal.message)
        raise
    inquiry = await service.ask(
        session,
        systems,
        asker,
        body.atena_no,
        provider=body.provider,
        category=body.information,
        period=body.period,
        rule=rule,
    )
    await ops.record(session, subject=inquiry.integrated_number, detail=f"処理通番 {inquiry.process_number}")
    return _out(inquiry)


@router.get("/inquiries/{process_number}", response_model=InquiryOut)
async def answer(process_number: ProcessNumber, ops: Ops, state: State, session: Session) -> InquiryOut:
    """The answer of the unit's own 照会 so far: ``sent``, ``pending`` (自動応答不可), or done — provided
    with its data, 不開示, not found, refused. The record entry is written when it is done."""
    ops.expect("network.answer", process_number=process_number)
    unit = (await asker_of(state, ops, "")).unit
    systems = systems_of(state)
    inquiry, found = await service.answer(
        session, systems, state.require_vault().record_key, unit, process_number
    )
    await ops.record(session, subject=inquiry.integrated_number, detail=found.status)
    return _out(inquiry, found.data)


def _out(inquiry: NetworkInquiry, data: dict[str, Any] | None = None) -> InquiryOut:
    return InquiryOut(
        process_number=inquiry.process_number,
        atena_no=inquiry.atena_number,
        provider=inquiry.provider,
        information=inquiry.category,
        period=inquiry.period,
        article=inquiry.article,
        status=inquiry.status,
        data=data,
        reason=inquiry.reason,
    )


async def _record_refusal(state: HubState, asker: Asker, body: InquiryAsked, reason: str) -> None:
    """In a transaction of its own: the request's rolls back with the refusal."""
    async with unit_of_work(state.sessions) as own:
        await service.record_refusal(
            own,
            state.require_vault().record_key,
            asker,
            body.atena_no,
            provider=body.provider,
            category=body.information,
            period=body.period,
            reason=reason,
        )
