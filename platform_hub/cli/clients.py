"""``platform-hub clients``: the OAuth2 clients of staff."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.cli.answers import MISUSED, CliError
from platform_hub.cli.common import console, run_in_database, run_recorded, vault
from platform_hub.cli.listing import Cell, JsonOption, print_listing
from platform_hub.kit.settings import Settings

clients_app = typer.Typer(
    help="OAuth2 clients: staff's (auditor, integrator, admin, monitor) and the units'.", no_args_is_help=True
)
# auth.service.ROLES, without importing it at start
ROLES = ("unit", "auditor", "integrator", "admin", "monitor")
STAFF_ROLES = ROLES[1:]
ClientId = Annotated[str, typer.Argument(help="The client's id (clients list names them).")]


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Argument(help="Who the client is for.")],
    role: Annotated[str, typer.Option(help="auditor, integrator, admin or monitor.")] = "auditor",
) -> None:
    """Create a staff client and print its credentials (the secret is shown only now)."""
    from platform_hub.auth import service

    if role not in STAFF_ROLES:
        raise CliError(f"unknown role {role!r}: {', '.join(STAFF_ROLES)}", MISUSED)
    client, secret = service.new_client(name, role, vault=vault())

    async def store(session: AsyncSession) -> None:
        session.add(client)

    run_recorded(store, "client.create", f"client {client.client_id}", role=role)
    console.print(f"client_id={client.client_id}\nclient_secret={secret}\nrole={role}", highlight=False)


@clients_app.command("list")
def clients_list(
    role: Annotated[str | None, typer.Option(help="unit, auditor, integrator, admin or monitor.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every client, oldest first, with its role, unit and whether it may get tokens (never a secret)."""
    from platform_hub.auth import service
    from platform_hub.auth.schemas import ClientOut

    if role is not None and role not in ROLES:
        raise CliError(f"unknown role {role!r}: {', '.join(ROLES)}", MISUSED)

    async def listed(session: AsyncSession) -> list[dict[str, object]]:
        return [ClientOut.model_validate(c).model_dump() for c in await service.list_clients(session, role)]

    print_listing(run_in_database(listed), CLIENT_COLUMNS, as_json=as_json)


CLIENT_COLUMNS: dict[str, Cell] = {
    "client_id": "client_id",
    "name": "name",
    "role": "role",
    "unit": "unit_code",
    "enabled": "enabled",
    "created": "created_at",
}


@clients_app.command("disable")
def clients_disable(client_id: ClientId) -> None:
    """Refuse the client new tokens (a leaked secret, a clerk who left); `clients enable` undoes it."""
    _set_enabled(client_id, False)
    ttl = Settings().token_ttl_seconds
    console.print(
        f"client {client_id} disabled: no new tokens; those it holds expire within {ttl} s", highlight=False
    )


@clients_app.command("enable")
def clients_enable(client_id: ClientId) -> None:
    """Let a disabled client get tokens again."""
    _set_enabled(client_id, True)
    console.print(f"client {client_id} enabled", highlight=False)


def _set_enabled(client_id: str, enabled: bool) -> None:
    from platform_hub.auth import service

    _not_the_settings_admin(client_id)

    async def change(session: AsyncSession) -> None:
        await service.set_client_enabled(session, client_id, enabled)

    action = "client.enable" if enabled else "client.disable"
    run_recorded(change, action, f"client {client_id}")


@clients_app.command("rotate")
def clients_rotate(client_id: ClientId) -> None:
    """Give the client a new secret, printed only now; the old one works no more (tokens it got
    before expire with their TTL)."""
    from platform_hub.auth import service

    _not_the_settings_admin(client_id)

    keys = vault()

    async def rotate(session: AsyncSession) -> tuple[str, str]:
        client = await service.get_client(session, client_id)
        return await service.rotate_secret(session, client, vault=keys), client.role

    secret, role = run_recorded(rotate, "client.rotate", f"client {client_id}")
    console.print(f"client_id={client_id}\nclient_secret={secret}\nrole={role}", highlight=False)


def _not_the_settings_admin(client_id: str) -> None:
    if client_id == Settings().admin_client_id:  # not a row: the settings hold it
        raise CliError(
            f"{client_id} is the settings' admin: change PLATFORM_HUB_ADMIN_CLIENT_SECRET (or _ID) instead",
            MISUSED,
        )
