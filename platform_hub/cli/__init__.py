"""The ``platform-hub`` command line: the hub itself (serve, demo, db, interfaces, mock-unit) here,
and one sub-app per domain in a module of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from platform_hub.cli.addressees import addressees_app
from platform_hub.cli.answers import MISUSED, CliError, OneLineGroup
from platform_hub.cli.audit import audit_app
from platform_hub.cli.clients import clients_app
from platform_hub.cli.common import console, database_failures
from platform_hub.cli.deliveries import deliveries_app
from platform_hub.cli.keys import keys_app
from platform_hub.cli.ordinance import ordinance_app
from platform_hub.cli.units import units_app
from platform_hub.kit.settings import Settings

app = typer.Typer(
    name="platform-hub",
    cls=OneLineGroup,
    help="platform-hub: the municipal data-linkage hub.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
interfaces_app = typer.Typer(help="The interface catalog.", no_args_is_help=True)


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"platform-hub {version('platform-hub')}")  # what is installed, not what a file says
        raise typer.Exit()


@app.callback()
def hub(
    _: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the installed version."),
    ] = False,
) -> None:
    """platform-hub: the municipal data-linkage hub."""


app.add_typer(db_app, name="db")
app.add_typer(interfaces_app, name="interfaces")
app.add_typer(clients_app, name="clients")
app.add_typer(units_app, name="units")
app.add_typer(addressees_app, name="addressees")
app.add_typer(keys_app, name="keys")
app.add_typer(ordinance_app, name="ordinance")
app.add_typer(audit_app, name="audit")
app.add_typer(deliveries_app, name="deliveries")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    migrate: Annotated[
        bool,
        typer.Option(
            help="Apply the migrations first (--no-migrate: `db upgrade` applied them as the owner)."
        ),
    ] = True,
    tls_certfile: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this PEM certificate (PLATFORM_HUB_TLS_CERTFILE).")
    ] = None,
    tls_keyfile: Annotated[
        Path | None, typer.Option(help="The certificate's PEM private key (PLATFORM_HUB_TLS_KEYFILE).")
    ] = None,
) -> None:
    """Serve the hub, applying the database migrations first (as PLATFORM_HUB_MIGRATION_DATABASE_URL);
    HTTPS (TLS 1.2 or later) when given a certificate and its key."""
    import uvicorn

    from platform_hub.kit.tls import tls_options

    settings = Settings()
    try:
        tls = tls_options(tls_certfile or settings.tls_certfile, tls_keyfile or settings.tls_keyfile)
    except ValueError as exc:
        raise CliError(str(exc), MISUSED) from None
    if migrate:
        _migrate(settings)
    uvicorn.run(
        "platform_hub.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        **tls,
    )


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit after the scenario instead of serving on.")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep every database, key and log of the demo here (a new or empty folder)."),
    ] = None,
    residents: Annotated[int, typer.Option(help="Synthetic residents of the demo city.")] = 120,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic residents.")] = 2026,
) -> None:
    """The demo city on loopback — the hub and four business units on embedded SQLite — and the
    児童手当 認定請求 of three applicants, step by step; then the audit trail, compliance and chain."""
    from platform_hub_demo import demo as city_demo

    if not city_demo.run(console, data_dir, once=once, residents=residents, seed=seed):
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the migrations as PLATFORM_HUB_MIGRATION_DATABASE_URL (default: PLATFORM_HUB_DATABASE_URL)."""
    _migrate(Settings(), revision)
    console.print(f"database at revision {revision}")


def _migrate(settings: Settings, revision: str = "head") -> None:
    """Migrate as the schema owner: what may create the hub's database, and the only commands that do."""
    from alembic.util import CommandError

    from platform_hub.kit.migrations import upgrade

    try:
        with database_failures(as_owner=True, failing="cannot reach the database at {}"):
            upgrade(settings.sync_migration_database_url, revision, serving_url=settings.sync_database_url)
    except CommandError as exc:  # a revision these migrations do not have
        raise CliError(f"db upgrade: {exc}") from None


@interfaces_app.command("validate")
def interfaces_validate(
    directory: Annotated[Path | None, typer.Argument(help="Spec folder (default: the hub's).")] = None,
) -> None:
    """Check every interface spec and its derived XSD; report problems by file and item."""
    from platform_hub.protocol.catalog import load_catalog
    from platform_hub.protocol.specs import SpecError

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


@app.command("mock-unit")
def mock_unit(
    name: Annotated[
        str, typer.Argument(help="juki (001), zeimu (002), jidou-teate (011) or shugaku-enjo (051).")
    ],
    port: Annotated[int, typer.Option(help="Port the unit listens on (the hub delivers there).")],
    hub: Annotated[str, typer.Option(help="The hub's base URL.")] = "http://127.0.0.1:8000",
    host: Annotated[
        str, typer.Option(help="Address to listen on, and the one the hub is told.")
    ] = "127.0.0.1",
    database: Annotated[Path | None, typer.Option(help="The unit's SQLite file.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder for the unit's file (NAME.db).")] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the synthetic residents (the same in every unit).")
    ] = 2026,
    residents: Annotated[int, typer.Option(help="How many synthetic residents.")] = 120,
    integrator_id: Annotated[
        str | None,
        typer.Option(
            envvar="PLATFORM_HUB_INTEGRATOR_CLIENT_ID",
            help="The integrator client the unit registers itself with (an admin is one too).",
        ),
    ] = None,
    integrator_secret: Annotated[
        str | None,
        typer.Option(envvar="PLATFORM_HUB_INTEGRATOR_CLIENT_SECRET", help="Its secret.", show_default=False),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "warning",
) -> None:
    """Run one mock business unit of the demo city; it registers with the hub as it starts."""
    from platform_hub_demo.city import MOCK_UNITS, serve
    from platform_hub_demo.common import MockOptions
    from platform_hub_sdk import Credentials

    if name not in MOCK_UNITS:
        raise CliError(f"unknown mock unit {name!r}: one of {', '.join(MOCK_UNITS)}", MISUSED)
    file = database or (data_dir or Path()) / f"{name}.db"
    file.parent.mkdir(parents=True, exist_ok=True)
    integrator = (
        Credentials(integrator_id, integrator_secret) if integrator_id and integrator_secret else None
    )
    options = MockOptions(
        hub_url=hub,
        port=port,
        host=host,
        database=file,
        seed=seed,
        residents=residents,
        integrator=integrator,
    )
    serve(name, options, log_level)
