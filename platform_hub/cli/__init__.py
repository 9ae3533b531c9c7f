"""The ``platform-hub`` command line: the hub itself (serve, demo, db, interfaces, mock-unit,
mock-national) here, and one sub-app per domain in a module of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from platform_hub.cli.accounts import accounts_app
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
app.add_typer(accounts_app, name="accounts")
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
    database_url: Annotated[
        str | None,
        typer.Option(
            help="The hub's database, an empty one (PostgreSQL …); default: SQLite in the data dir."
        ),
    ] = None,
) -> None:
    """The demo city on loopback — the hub, four business units and the mock national systems, on
    embedded SQLite — and the 児童手当 認定請求 of three applicants, step by step, through 住基ネット and
    the 情報提供ネットワークシステム; then the audit trails, the 第23条 record, compliance and chain."""
    from platform_hub_demo import demo as city_demo

    run = city_demo.run
    if not run(console, data_dir, once=once, residents=residents, seed=seed, database_url=database_url):
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


@app.command("mock-national")
def mock_national(
    name: Annotated[
        str, typer.Argument(help="juki-net (住基ネット), nws (情報提供NWS) or chukan (中間サーバー).")
    ],
    port: Annotated[int, typer.Option(help="Port it listens on.")],
    config: Annotated[
        Path, typer.Option(help="The mock network's file (YAML or JSON): organisations, URLs, keys.")
    ],
    database: Annotated[
        str | None, typer.Option(help="Its SQLAlchemy database URL; default: a SQLite file NAME.db here.")
    ] = None,
    organisation: Annotated[
        str | None, typer.Option(help="chukan: the organisation (団体コード) whose 中間サーバー it is.")
    ] = None,
    key_file: Annotated[
        Path, typer.Option(help="juki-net: the key file sealing its 個人番号 (made if missing).")
    ] = Path("juki-net.keys.json"),
    seed_file: Annotated[
        Path | None, typer.Option(help="juki-net: persons to load as it starts (YAML/JSON, as POST /seed).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    log_level: Annotated[str, typer.Option(help="Log level.")] = "warning",
) -> None:
    """Run one mock national system (docs/national.md), with its own database."""
    from platform_hub_national.services import MOCK_NATIONAL, NationalOptions, serve

    if name not in MOCK_NATIONAL:
        raise CliError(f"unknown mock national system {name!r}: one of {', '.join(MOCK_NATIONAL)}", MISUSED)
    if name == "chukan" and organisation is None:
        raise CliError("a 中間サーバー belongs to one organisation: give --organisation CODE", MISUSED)
    if not config.is_file():
        raise CliError(f"no such configuration file: {config}", MISUSED)
    default = f"sqlite:///{name if organisation is None else f'{name}-{organisation}'}.db"
    options = NationalOptions(
        config=config,
        database_url=database or default,
        port=port,
        host=host,
        organisation=organisation,
        key_file=key_file,
        seed_file=seed_file,
    )
    serve(name, options, log_level)


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
