"""HTTP: the providing side of the network for units — 副本登録, and the 自動応答不可 提供 each unit
decides, in its own 宛名番号 — and the sync that puts every 提供 of the 中間サーバー in the transfer
record (``platform_hub.network.provision``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from platform_hub.kit.database import unit_of_work
from platform_hub.models import Unit
from platform_hub.national.chukan import PendingProvision
from platform_hub.network import provision
from platform_hub.network.provision import Duplicate
from platform_hub.network.schemas import (
    DuplicateOut,
    DuplicateRegistered,
    PendingList,
    PendingOut,
    ReleasedOut,
    SyncOut,
)
from platform_hub.protocol.errors import OrdinanceRefusal
from platform_hub.web.network import asker_of, systems_of
from platform_hub.web.operations import Ops
from platform_hub.web.security import Admin
from platform_hub.web.state import HubState, Session, State

router = APIRouter(prefix="/network", tags=["network (情報提供ネットワークシステム)"])
InquiryId = Annotated[str, Path(pattern=r"^[0-9A-Za-z\-]{1,32}$", description="the NWS's inquiry id")]


@router.post("/duplicates", response_model=DuplicateOut, status_code=status.HTTP_201_CREATED)
async def register_duplicate(
    body: DuplicateRegistered, ops: Ops, state: State, session: Session
) -> DuplicateOut:
    """副本登録: what the city answers other organisations' 照会 with, for the person — only of
    information the unit holds (it provides an interface of that category). Registering is not a 提供:
    it goes to the operations record, each 提供 from it to the transfer record."""
    ops.expect("network.duplicate", atena=body.atena_no, information=body.information, period=body.period)
    asker = await asker_of(state, ops, body.purpose)  # who asks, before whether the hub can
    systems = systems_of(state)
    duplicate = Duplicate(body.information, body.period, body.data, body.undisclosed, body.no_auto_answer)
    row, replaced = await provision.register(
        session, systems, state.catalog, state.require_vault().record_key, asker, body.atena_no, duplicate
    )
    await ops.record(session, subject=row.integrated_number, detail="replaced" if replaced else "registered")
    return DuplicateOut(
        atena_no=row.atena_number,
        information=row.category,
        period=row.period,
        undisclosed=row.undisclosed,
        no_auto_answer=row.no_auto_answer,
        replaced=replaced,
    )


@router.get("/provisions", response_model=PendingList)
async def pending(ops: Ops, state: State, session: Session) -> PendingList:
    """The 照会 from other organisations waiting on the unit's own 自動応答不可 副本, the person in its
    宛名番号."""
    ops.expect("network.provisions")
    unit = (await asker_of(state, ops, "")).unit
    systems = systems_of(state)
    waiting = await provision.pending(session, systems, unit)
    await ops.record(session, detail=f"{len(waiting)} pending")
    return PendingList(
        provisions=[
            PendingOut(
                inquiry_id=found.inquiry_id,
                atena_no=duplicate.atena_number,
                requester=found.requester,
                affair=found.affair,
                information=found.information,
                period=found.period,
            )
            for found, duplicate in waiting
        ]
    )


@router.post("/provisions/{inquiry_id}/release", response_model=ReleasedOut)
async def release(inquiry_id: InquiryId, ops: Ops, state: State, session: Session) -> ReleasedOut:
    """The unit releases a pending 提供: checked first against the 番号法 table (the city answers as
    市町村長) — a refusal is recorded and nothing leaves — then answered, and recorded once."""
    ops.expect("network.release", inquiry_id=inquiry_id)
    unit = (await asker_of(state, ops, "")).unit
    systems = systems_of(state)
    configuration = await state.configuration.get()
    waiting = await provision.waiting_for(session, systems, unit, inquiry_id)
    try:
        rule = provision.release_allowed(configuration.rulebook, waiting)
    except OrdinanceRefusal as refusal:
        await _record_refusal(state, unit, waiting, refusal.message)
        raise
    record_key = state.require_vault().record_key
    answered = await provision.release(session, systems, record_key, configuration.rulebook, waiting)
    await ops.record(session, subject=waiting.integrated_number, detail=answered.value)
    return ReleasedOut(inquiry_id=inquiry_id, status=answered.value, article=rule.article)


@router.post("/provisions/sync", response_model=SyncOut)
async def sync(ops: Ops, state: State, session: Session, _: Admin) -> SyncOut:
    """Read the 中間サーバー's 第23条 provider-side records now (the hub does every
    ``network_sync_seconds``): each 提供 not recorded yet is written to the transfer record. A hub not
    connected to a 中間サーバー answers so, rather than 503: it has nothing to record."""
    ops.expect("network.provisions.sync")
    if state.national is None:  # no 中間サーバー, no 提供: nothing is wrong, and nothing to do
        await ops.record(session, detail="not connected")
        return SyncOut(connected=False, recorded=0)
    book = (await state.configuration.get()).rulebook
    written = await provision.sync_provisions(session, state.national, state.require_vault().record_key, book)
    await ops.record(session, detail=f"{written} recorded")
    return SyncOut(connected=True, recorded=written)


async def _record_refusal(state: HubState, unit: Unit, waiting: PendingProvision, reason: str) -> None:
    """In a transaction of its own: the request's rolls back with the refusal."""
    async with unit_of_work(state.sessions) as own:
        await provision.record_refused_release(own, state.require_vault().record_key, unit, waiting, reason)
