"""HTTP: register, list and manage units' adapters."""

from __future__ import annotations

from fastapi import APIRouter, status

from platform_hub.protocol.errors import Forbidden
from platform_hub.units import service
from platform_hub.units.schemas import (
    AdapterCredentials,
    AdapterOut,
    AdapterRegistration,
    FileLinkage,
    InterfaceBinding,
    SshKeys,
)
from platform_hub.web.operations import Ops
from platform_hub.web.security import CurrentPrincipal, Integrator
from platform_hub.web.state import Session, State

router = APIRouter(prefix="/adapters", tags=["adapters"])


@router.post("", response_model=AdapterCredentials, status_code=status.HTTP_201_CREATED)
async def register_adapter(
    body: AdapterRegistration, ops: Ops, state: State, session: Session, _: Integrator
) -> AdapterCredentials:
    """Register a unit's adapter; its client credentials are returned only in this answer."""
    ops.expect("unit.register", unit=body.unit_code, organ=body.organ, purposes=",".join(body.purposes))
    registered = await service.register(session, body, state.catalog, vault=state.require_vault())
    await ops.record(session, detail=f"client {registered.client_id}")
    return registered


@router.get("", response_model=list[AdapterOut])
async def list_adapters(session: Session, _: Integrator) -> list[AdapterOut]:
    return await service.list_adapters(session)


@router.get("/{code}", response_model=AdapterOut)
async def get_adapter(code: str, session: Session, _: Integrator) -> AdapterOut:
    return service.adapter_out(await service.get_unit(session, code))


@router.post("/{code}/heartbeat", response_model=AdapterOut)
async def heartbeat(code: str, session: Session, principal: CurrentPrincipal) -> AdapterOut:
    """A unit tells the hub it is alive; only the unit itself (or an integrator) may."""
    if principal.unit_code != code and not principal.acts_as("integrator"):
        raise Forbidden(f"only unit {code} or an integrator may send its heartbeat")
    return await service.heartbeat(session, code)


@router.post("/{code}/secret", response_model=AdapterCredentials)
async def rotate_secret(
    code: str, ops: Ops, state: State, session: Session, _: Integrator
) -> AdapterCredentials:
    """New client credentials for a unit that lost its own (registering again is E1004): its client
    keeps its id and gets a new secret, returned only in this answer; the old secret works no more."""
    ops.expect("unit.rotate_secret", unit=code)
    rotated = await service.rotate_secret(session, code, vault=state.require_vault())
    await ops.record(session, detail=f"client {rotated.client_id}")
    return rotated


@router.post("/{code}/disable", response_model=AdapterOut)
async def disable(code: str, ops: Ops, session: Session, _: Integrator) -> AdapterOut:
    """Stop routing to and from the unit; its notifications wait until it is enabled again."""
    ops.expect("unit.disable", unit=code)
    out = await service.set_enabled(session, code, False)
    await ops.record(session)
    return out


@router.post("/{code}/enable", response_model=AdapterOut)
async def enable(code: str, ops: Ops, session: Session, _: Integrator) -> AdapterOut:
    ops.expect("unit.enable", unit=code)
    out = await service.set_enabled(session, code, True)
    await ops.record(session)
    return out


@router.put("/{code}/files/{interface_id}", response_model=AdapterOut)
async def set_file_linkage(
    code: str, interface_id: str, body: FileLinkage, ops: Ops, state: State, session: Session, _: Integrator
) -> AdapterOut:
    """How the unit exchanges a batch interface as CSV files: their encoding (utf-8, utf-8-sig,
    cp932), and for a subscriber whether it takes each batch as a file in its outbox."""
    ops.expect(
        "unit.files", unit=code, interface=interface_id, encoding=body.encoding, delivery=body.delivery
    )
    out = await service.set_file_linkage(session, code, interface_id, body, state.catalog)
    await ops.record(session)
    return out


@router.put("/{code}/bindings/{interface_id}", response_model=AdapterOut)
async def set_binding(
    code: str,
    interface_id: str,
    body: InterfaceBinding,
    ops: Ops,
    state: State,
    session: Session,
    _: Integrator,
) -> AdapterOut:
    """How the hub sends the unit an interface — the queries it provides, the notifications it
    subscribes to: by SOAP, or by the Digital Agency's REST/JSON binding."""
    ops.expect("unit.binding", unit=code, interface=interface_id, binding=body.binding)
    out = await service.set_binding(session, code, interface_id, body.binding, state.catalog)
    await ops.record(session)
    return out


@router.put("/{code}/ssh-keys", response_model=AdapterOut)
async def set_ssh_keys(code: str, body: SshKeys, ops: Ops, session: Session, _: Integrator) -> AdapterOut:
    """The SSH public keys the unit signs in to the SFTP drop box with (empty: none)."""
    ops.expect("unit.ssh_keys", unit=code)
    out = await service.set_ssh_keys(session, code, body.keys)
    await ops.record(session)
    return out
