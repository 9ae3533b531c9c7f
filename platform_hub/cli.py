"""The ``platform-hub`` command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from platform_hub.kit.settings import Settings

app = typer.Typer(help="platform-hub: the municipal data-linkage hub.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
interfaces_app = typer.Typer(help="The interface catalog.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth2 clients of staff (auditor, integrator, admin).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(interfaces_app, name="interfaces")
app.add_typer(clients_app, name="clients")
console = Console()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the hub, applying the database migrations first."""
    import uvicorn

    from platform_hub.kit.migrations import upgrade

    settings = Settings()
    upgrade(settings.sync_database_url)
    uvicorn.run(
        "platform_hub.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the migrations to PLATFORM_HUB_DATABASE_URL."""
    from platform_hub.kit.migrations import upgrade

    upgrade(Settings().sync_database_url, revision)
    console.print(f"database at revision {revision}")


@interfaces_app.command("validate")
def interfaces_validate(
    directory: Annotated[Path | None, typer.Argument(help="Spec folder (default: the hub's).")] = None,
) -> None:
    """Check every interface spec and its derived XSD; report problems by file and item."""
    from platform_hub.linkage.catalog import SpecError, load_catalog

    folder = directory or Settings().interface_specs_dir
    try:
        catalog = load_catalog(folder)
    except SpecError as exc:
        for problem in exc.problems:
            console.print(f"[red]✗[/red] {problem}", highlight=False)
        raise typer.Exit(1) from None
    for spec in catalog.specs():
        console.print(
            f"[green]✓[/green] {spec.id} {spec.name} ({spec.pattern}, {len(spec.all_items())} items)",
            highlight=False,
        )


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Argument(help="Who the client is for.")],
    role: Annotated[str, typer.Option(help="auditor, integrator or admin.")] = "auditor",
) -> None:
    """Create a staff client and print its credentials (the secret is shown only now)."""
    from platform_hub.auth import service
    from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work

    if role not in {"auditor", "integrator", "admin"}:
        console.print(f"[red]unknown role {role!r}[/red]: auditor, integrator or admin")
        raise typer.Exit(2)
    client, secret = service.new_client(name, role)

    async def store() -> None:
        engine = create_engine(Settings().async_database_url)
        async with unit_of_work(create_sessionmaker(engine)) as session:
            session.add(client)
        await engine.dispose()

    asyncio.run(store())
    console.print(f"client_id={client.client_id}\nclient_secret={secret}\nrole={role}", highlight=False)


if __name__ == "__main__":
    app()
