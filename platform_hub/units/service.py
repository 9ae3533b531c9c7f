"""Registering units, their scopes, heartbeats, disable/enable."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.auth import service as auth
from platform_hub.kit.clock import utcnow
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import Binding, FileDelivery, FileEncoding, Unit, UnitInterface, generation
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import AlreadyExists, SchemaViolation, UnknownTarget
from platform_hub.protocol.specs import Pattern
from platform_hub.units import repository
from platform_hub.units.schemas import (
    AdapterCredentials,
    AdapterOut,
    AdapterRegistration,
    AdapterUpdate,
    FileLinkage,
    FileLinkageOut,
)


async def get_unit(session: AsyncSession, code: str) -> Unit:
    unit = await repository.get_unit(session, code)
    if unit is None:
        raise UnknownTarget(f"no unit {code!r} is registered")
    return unit


def check_registration(body: AdapterRegistration, catalog: Catalog) -> None:
    """What a unit provides and subscribes to must agree with the catalog."""
    problems = []
    for interface_id in body.provides:
        compiled = catalog.get(interface_id)
        if compiled is None:
            problems.append(f"provides: unknown interface {interface_id}")
        elif compiled.spec.provider != body.unit_code:
            problems.append(f"provides: {interface_id} is provided by unit {compiled.spec.provider}")
    for interface_id in body.subscribes:
        compiled = catalog.get(interface_id)
        if compiled is None:
            problems.append(f"subscribes: unknown interface {interface_id}")
        elif compiled.spec.pattern == Pattern.QUERY:
            problems.append(f"subscribes: {interface_id} is a query; only notifications and batches fan out")
        elif not compiled.spec.allows_consumer(body.unit_code):
            problems.append(f"subscribes: unit {body.unit_code} is not a consumer of {interface_id}")
    problems.extend(
        f"purposes: unknown 事務 {code}" for code in body.purposes if code not in catalog.purposes
    )
    for interface_id in body.rest:
        compiled = catalog.get(interface_id)
        relation = _received_as(compiled.spec.pattern) if compiled is not None else None
        if relation is None or interface_id not in getattr(body, relation):
            problems.append(
                f"rest: {interface_id} is neither a query the unit provides nor a notification it takes"
            )
    if problems:
        raise SchemaViolation("the registration does not agree with the interface catalog", details=problems)


async def register(
    session: AsyncSession, body: AdapterRegistration, catalog: Catalog, *, vault: MyNumberVault | None = None
) -> AdapterCredentials:
    check_registration(body, catalog)
    if await repository.get_unit(session, body.unit_code) is not None:
        raise AlreadyExists(f"unit {body.unit_code} is registered already")
    unit = Unit(
        code=body.unit_code,
        name=body.name,
        organ=body.organ,
        base_url=str(body.base_url).rstrip("/"),
        mode=body.mode,
        soap_faults=body.soap_faults,
        characters=body.characters,
        purposes=sorted(set(body.purposes)),
        enabled=True,
        registered_at=utcnow(),
        interfaces=[
            UnitInterface(interface_id=i, relation=relation, binding=_chosen(body, i, relation, catalog))
            for relation, ids in (("provides", body.provides), ("subscribes", body.subscribes))
            for i in sorted(set(ids))
        ],
    )
    session.add(unit)
    try:
        await session.flush()  # the unit first: the client's foreign key points at it
    except IntegrityError:  # registered concurrently
        raise AlreadyExists(f"unit {body.unit_code} is registered already") from None
    client, secret = await auth.create_client(session, body.name, "unit", unit.code, vault=vault)
    await generation.bump(session)  # every hub process routes to and from it from now on
    return AdapterCredentials(
        **adapter_out(unit).model_dump(), client_id=client.client_id, client_secret=secret
    )


def _received_as(pattern: Pattern) -> str | None:
    """The relation under which a unit receives an interface's messages from the hub, by a binding of
    its choice: a query's provider, a notification's subscriber (a batch goes as messages or a file)."""
    return {Pattern.QUERY: "provides", Pattern.NOTIFICATION: "subscribes"}.get(pattern)


def _chosen(body: AdapterRegistration, interface_id: str, relation: str, catalog: Catalog) -> Binding:
    compiled = catalog.get(interface_id)
    received = compiled is not None and _received_as(compiled.spec.pattern) == relation
    return Binding.REST if received and interface_id in body.rest else Binding.SOAP


def adapter_out(unit: Unit) -> AdapterOut:
    return AdapterOut(
        unit_code=unit.code,
        name=unit.name,
        organ=unit.organ,
        base_url=unit.base_url,
        mode=unit.mode,
        soap_faults=unit.soap_faults,
        characters=unit.characters,
        provides=unit.interface_ids("provides"),
        subscribes=unit.interface_ids("subscribes"),
        purposes=list(unit.purposes),
        file_linkage=[
            FileLinkageOut(
                interface_id=i.interface_id, relation=i.relation, encoding=i.encoding, delivery=i.delivery
            )
            for i in sorted(unit.interfaces, key=lambda i: (i.interface_id, i.relation))
            if i.encoding != FileEncoding.UTF_8_SIG or i.delivery != FileDelivery.MESSAGE
        ],
        rest=sorted(i.interface_id for i in unit.interfaces if i.binding == Binding.REST),
        sftp=bool(unit.ssh_keys),
        enabled=unit.enabled,
        last_heartbeat_at=unit.last_heartbeat_at,
        registered_at=unit.registered_at,
    )


async def list_adapters(session: AsyncSession) -> list[AdapterOut]:
    return [adapter_out(unit) for unit in await repository.list_units(session)]


async def heartbeat(session: AsyncSession, code: str) -> AdapterOut:
    unit = await get_unit(session, code)
    unit.last_heartbeat_at = utcnow()
    await session.flush()
    return adapter_out(unit)


async def set_enabled(session: AsyncSession, code: str, enabled: bool) -> AdapterOut:
    unit = await get_unit(session, code)
    unit.enabled = enabled
    await session.flush()
    await generation.bump(session)
    return adapter_out(unit)


async def update(session: AsyncSession, code: str, changes: AdapterUpdate) -> AdapterOut:
    """Change how the hub names and reaches a unit (a new address, a test unit put in production)."""
    unit = await get_unit(session, code)
    for column, value in changes.stored().items():
        setattr(unit, column, value)
    await session.flush()
    await generation.bump(session)  # every hub process routes to the new address
    return adapter_out(unit)


async def rotate_secret(
    session: AsyncSession, code: str, *, vault: MyNumberVault | None = None
) -> AdapterCredentials:
    """New client credentials for a unit that lost its own (its adapter's credentials file):
    registering again cannot give them, a registered code being E1004. The unit's client keeps its
    id and gets a new secret, shown only in this answer; the old secret works no more. Given the vault,
    the new secret is kept sealed too: a unit registered before migration 0011 gets client_secret_jwt."""
    unit = await get_unit(session, code)
    clients = list(await auth.clients_of_unit(session, code))
    if clients:
        client, secret = clients[0], await auth.rotate_secret(session, clients[0], vault=vault)
    else:  # none to rotate: it gets the client its registration would have made
        client, secret = await auth.create_client(session, unit.name, "unit", unit.code, vault=vault)
    for other in clients[1:]:  # only the credentials just shown act for the unit
        other.enabled = False
    await session.flush()
    return AdapterCredentials(
        **adapter_out(unit).model_dump(), client_id=client.client_id, client_secret=secret
    )


async def set_file_linkage(
    session: AsyncSession, code: str, interface_id: str, linkage: FileLinkage, catalog: Catalog
) -> AdapterOut:
    """How a unit exchanges a batch interface it provides or subscribes to as CSV files: their
    encoding, and (a subscriber) whether it takes the batch as a file rather than as messages."""
    unit = await get_unit(session, code)
    compiled = catalog.get(interface_id)
    if compiled is None or compiled.spec.pattern != Pattern.BATCH:
        raise SchemaViolation(f"{interface_id} is not a batch interface; only batches go as files")
    rows = [i for i in unit.interfaces if i.interface_id == interface_id]
    if not rows:
        raise SchemaViolation(f"unit {code} neither provides nor subscribes to {interface_id}")
    for row in rows:
        row.encoding = linkage.encoding
        row.delivery = linkage.delivery if row.relation == "subscribes" else FileDelivery.MESSAGE
    await session.flush()
    await generation.bump(session)  # every hub process reads and writes its files so from now on
    return adapter_out(unit)


async def set_binding(
    session: AsyncSession, code: str, interface_id: str, binding: Binding, catalog: Catalog
) -> AdapterOut:
    """How the hub sends the unit an interface: the queries it provides, or the notifications it
    subscribes to, by SOAP or by REST."""
    unit = await get_unit(session, code)
    compiled = catalog.get(interface_id)
    relation = _received_as(compiled.spec.pattern) if compiled is not None else None
    row = unit.interface(interface_id, relation) if relation is not None else None
    if row is None:
        raise SchemaViolation(
            f"{interface_id} is neither a query unit {code} provides nor a notification it subscribes to"
        )
    row.binding = binding
    await session.flush()
    await generation.bump(session)  # every hub process sends it so from now on
    return adapter_out(unit)


async def set_ssh_keys(session: AsyncSession, code: str, keys: str) -> AdapterOut:
    """The SSH public keys the unit's SFTP client signs in with (authorized_keys lines); each is
    parsed now, so a key the drop box could not read is refused here, not at the unit's first login."""
    import asyncssh

    unit = await get_unit(session, code)
    if keys.strip():
        try:
            asyncssh.import_authorized_keys(keys)
        except ValueError as exc:
            raise SchemaViolation(f"not SSH public keys in authorized_keys form: {exc}") from None
    unit.ssh_keys = keys.strip() or None
    await session.flush()
    await generation.bump(session)
    return adapter_out(unit)
