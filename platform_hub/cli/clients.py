"""``platform-hub clients``: the OAuth2 clients of staff."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.cli.answers import MISUSED, CliError
from platform_hub.cli.common import console, run_recorded

clients_app = typer.Typer(help="OAuth2 clients of staff (auditor, integrator, admin).", no_args_is_help=True)


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Argument(help="Who the client is for.")],
    role: Annotated[str, typer.Option(help="auditor, integrator or admin.")] = "auditor",
) -> None:
    """Create a staff client and print its credentials (the secret is shown only now)."""
    from platform_hub.auth import service

    if role not in {"auditor", "integrator", "admin"}:
        raise CliError(f"unknown role {role!r}: auditor, integrator or admin", MISUSED)
    client, secret = service.new_client(name, role)

    async def store(session: AsyncSession) -> None:
        session.add(client)

    run_recorded(store, "client.create", f"client {client.client_id}", role=role)
    console.print(f"client_id={client.client_id}\nclient_secret={secret}\nrole={role}", highlight=False)
