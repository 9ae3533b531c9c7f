"""The ``platform-hub`` command line."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.operations import Actor, record_operation
from platform_hub.kit.database import run_once
from platform_hub.kit.settings import Settings
from platform_hub.models import DeliveryStatus, OperationOutcome

app = typer.Typer(help="platform-hub: the municipal data-linkage hub.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
interfaces_app = typer.Typer(help="The interface catalog.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth2 clients of staff (auditor, integrator, admin).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(interfaces_app, name="interfaces")
addressees_app = typer.Typer(help="The unified addressee registry (統一宛名).", no_args_is_help=True)
keys_app = typer.Typer(help="The My Number key file.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
app.add_typer(addressees_app, name="addressees")
app.add_typer(keys_app, name="keys")
ordinance_app = typer.Typer(help="The city's My Number ordinance (条例) tables.", no_args_is_help=True)
app.add_typer(ordinance_app, name="ordinance")
audit_app = typer.Typer(help="The transfer record (情報提供等の記録).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
deliveries_app = typer.Typer(help="The queue of notifications to subscribers.", no_args_is_help=True)
app.add_typer(deliveries_app, name="deliveries")
console = Console()
T = TypeVar("T")


# Who the operations record names for what is done from the command line (the My Number office or an
# operator at the hub's own machine: whoever holds its settings and key files).
def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's user may have no name
        return "unknown"


CLI = Actor(client_id=f"cli:{_os_user()}", role="admin")


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
) -> None:
    """Serve the hub, applying the database migrations first (as PLATFORM_HUB_MIGRATION_DATABASE_URL)."""
    import uvicorn

    from platform_hub.kit.migrations import upgrade

    settings = Settings()
    if migrate:
        upgrade(settings.sync_migration_database_url, serving_url=settings.sync_database_url)
    uvicorn.run(
        "platform_hub.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
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
    from platform_hub.kit.migrations import upgrade

    settings = Settings()
    upgrade(settings.sync_migration_database_url, revision, serving_url=settings.sync_database_url)
    console.print(f"database at revision {revision}")


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


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Argument(help="Who the client is for.")],
    role: Annotated[str, typer.Option(help="auditor, integrator or admin.")] = "auditor",
) -> None:
    """Create a staff client and print its credentials (the secret is shown only now)."""
    from platform_hub.auth import service

    if role not in {"auditor", "integrator", "admin"}:
        console.print(f"[red]unknown role {role!r}[/red]: auditor, integrator or admin")
        raise typer.Exit(2)
    client, secret = service.new_client(name, role)

    async def store(session: AsyncSession) -> None:
        session.add(client)

    _run_recorded(store, "client.create", f"client {client.client_id}", role=role)
    console.print(f"client_id={client.client_id}\nclient_secret={secret}\nrole={role}", highlight=False)


def _run_recorded(
    work: Callable[[AsyncSession], Awaitable[T]],
    action: str,
    detail: str | None = None,
    *,
    as_owner: bool = False,
    **parameters: object,
) -> T:
    """Run a change from the command line in one transaction with its operations record entry — which
    needs the key file (its MAC): a change that cannot be recorded is not made. ``as_owner``: with the
    schema owner's URL (what only the owner may do, on PostgreSQL)."""
    settings, vault = Settings(), _vault()

    async def recorded(session: AsyncSession) -> T:
        result = await work(session)
        await record_operation(session, vault.record_key, CLI, action, detail=detail, parameters=parameters)
        return result

    url = settings.async_migration_database_url if as_owner else settings.async_database_url
    return asyncio.run(run_once(url, recorded))


def _vault() -> Any:
    """The My Number key file (the registry's keys, and the records' MAC key), or exit 2 naming it."""
    from platform_hub.kit.vault import KeyFileError, load_vault

    try:
        return load_vault(Settings().key_file)
    except KeyFileError as exc:
        console.print(
            f"[red]{exc}[/red] (PLATFORM_HUB_KEY_FILE; `platform-hub keys generate` makes one): the "
            "registry and the operations record need it"
        )
        raise typer.Exit(2) from None


def _vault_and_sessions() -> tuple[Any, Any, Any]:
    from platform_hub.kit.database import create_engine, create_sessionmaker

    engine = create_engine(Settings().async_database_url)
    return _vault(), engine, create_sessionmaker(engine)


@addressees_app.command("import")
def addressees_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, UTF-8 with a header row.")],
    unit: Annotated[str, typer.Option(help="The unit whose 宛名番号 the file holds.")],
    errors: Annotated[Path | None, typer.Option(help="Where the per-row error report goes.")] = None,
) -> None:
    """Import a unit's addressees (streamed, in batches); bad rows go to an error report, good rows stay."""
    import csv

    from rich.progress import Progress

    from platform_hub.addressees.importer import import_csv
    from platform_hub.kit.database import unit_of_work

    vault, engine, sessions = _vault_and_sessions()
    report_path = errors or file.with_suffix(".errors.csv")

    async def run() -> Any:
        with file.open(encoding="utf-8-sig", newline="") as stream, Progress(console=console) as progress:
            task = progress.add_task(f"importing {file.name}", total=None)
            try:
                report = await import_csv(
                    sessions,
                    vault,
                    unit,
                    stream,
                    actor=CLI.client_id,
                    progress=lambda n: progress.advance(task, n),
                )
                async with unit_of_work(sessions) as session:  # what was imported, once it is in
                    detail = f"{report.rows} rows: {report.created} created, {report.linked} linked"
                    await record_operation(
                        session,
                        vault.record_key,
                        CLI,
                        "registry.import",
                        detail=detail,
                        parameters={"unit": unit},
                    )
                return report
            finally:
                await engine.dispose()

    try:
        report = asyncio.run(run())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    with report_path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "atena_number", "error"])
        writer.writerows(report.errors)
    console.print(
        f"{report.rows} rows: {report.created} persons created, {report.linked} linked to known "
        f"persons, {len(report.errors)} errors (see {report_path})",
        highlight=False,
    )
    if report.errors:
        raise typer.Exit(1)


@addressees_app.command("search")
def addressees_search(
    name: Annotated[str | None, typer.Option(help="氏名")] = None,
    kana: Annotated[str | None, typer.Option(help="読み仮名")] = None,
    birth_date: Annotated[str | None, typer.Option(help="生年月日 YYYY-MM-DD")] = None,
    address: Annotated[str | None, typer.Option(help="住所 (prefix)")] = None,
    my_number: Annotated[
        bool, typer.Option("--my-number", help="Ask for the 個人番号 at a hidden prompt.")
    ] = False,
    partial: Annotated[bool, typer.Option(help="Partial name match.")] = False,
) -> None:
    """Search the registry as the My Number office; prints ranked candidates (never a 個人番号)."""
    from pydantic import ValidationError
    from rich.table import Table

    from platform_hub.addressees import views
    from platform_hub.addressees.access import Caller
    from platform_hub.kit.database import unit_of_work
    from platform_hub.protocol.registry import SearchRequest

    number = typer.prompt("個人番号", hide_input=True) if my_number else None
    try:
        request = SearchRequest(
            my_number=number,
            name=name,
            name_kana=kana,
            birth_date=birth_date,
            address=address,
            match="partial" if partial else "exact",
        )
    except ValidationError as exc:
        console.print(f"[red]{exc.errors()[0]['msg']}[/red]")
        raise typer.Exit(2) from None
    vault, engine, sessions = _vault_and_sessions()

    async def run() -> Any:
        try:
            async with unit_of_work(sessions) as session:
                found, _ = await views.search(
                    session, vault, request, Caller(client_id=CLI.client_id, unit=None)
                )
                by = "my_number" if number else "basic_info"
                await record_operation(
                    session,
                    vault.record_key,
                    CLI,
                    "registry.search",
                    detail=f"{len(found)} candidates",
                    parameters={"by": by, "match": request.match},
                )
                return found
        finally:
            await engine.dispose()

    candidates = asyncio.run(run())
    table = Table("統合宛名番号", "score", "matched", "氏名", "生年月日", "住所", "状態")
    for c in candidates:
        current = c.current
        table.add_row(
            c.integrated_number,
            str(c.score),
            ", ".join(c.matched) + (" (former)" if c.matched_former else ""),
            current.name,
            current.birth_date,
            current.address,
            current.status_ja,
        )
    console.print(table)


@keys_app.command("generate")
def keys_generate(
    file: Annotated[Path, typer.Argument(help="Where to write the new key file.")],
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Succeed, changing nothing, if it exists.")
    ] = False,
) -> None:
    """Write a new My Number key file (mode 0600); never overwrites one."""
    from platform_hub.kit.vault import generate_key_file

    try:
        generate_key_file(file)
    except FileExistsError:
        if exist_ok:
            console.print(f"{file} exists; left as it is")
            return
        console.print(f"[red]{file} exists; rotate it instead[/red]")
        raise typer.Exit(1) from None
    console.print(f"wrote {file}")


@keys_app.command("signing")
def keys_signing(
    file: Annotated[Path, typer.Argument(help="Where to write the Ed25519 checkpoint signing key (PEM).")],
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Succeed, changing nothing, if it exists.")
    ] = False,
) -> None:
    """Write the key that signs the transfer record's checkpoints (mode 0600); never overwrites one."""
    from platform_hub.audit.chain import load_signing_key

    if file.exists() and not exist_ok:
        console.print(f"[red]{file} exists[/red]")
        raise typer.Exit(1)
    key = load_signing_key(file, create=True)
    console.print(f"{file}: key id {key.key_id}")
    if file.resolve() == Settings().signing_key_file.resolve():
        _record_key_change("keys.signing", f"checkpoint signing key {key.key_id}")


@keys_app.command("rotate")
def keys_rotate(file: Annotated[Path, typer.Argument(exists=True, help="The key file.")]) -> None:
    """Add a data key and make it current; older ciphertexts stay readable with their keys."""
    from platform_hub.kit.vault import rotate_key_file

    key_id = rotate_key_file(file)
    console.print(f"new current key {key_id} in {file}")
    if file.resolve() == Settings().key_file.resolve():
        _record_key_change("keys.rotate", f"new current data key {key_id}")


def _record_key_change(action: str, detail: str) -> None:
    """A key changed outside the database still goes to the operations record, when it can be reached."""
    from sqlalchemy.exc import SQLAlchemyError

    async def nothing(_: AsyncSession) -> None:
        return None

    try:
        _run_recorded(nothing, action, detail)
    except (SQLAlchemyError, typer.Exit) as exc:
        why = "the database is unavailable" if isinstance(exc, SQLAlchemyError) else "no key file"
        console.print(f"[yellow]not in the operations record: {why}[/yellow]")


@deliveries_app.command("list")
def deliveries_list(
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only those in this status.")] = None,
    unit: Annotated[str | None, typer.Option(help="The subscriber's unit code.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Deliveries, newest first."""
    from rich.table import Table

    from platform_hub.linkage import repository

    found = asyncio.run(
        run_once(
            Settings().async_database_url,
            lambda session: repository.list_deliveries(session, status=status, unit=unit, limit=limit),
        )
    )
    table = Table("id", "受付番号", "interface", "to", "status", "attempts", "next / delivered", "last error")
    for delivery in found:
        when = delivery.delivered_at or delivery.next_attempt_at
        table.add_row(
            str(delivery.id),
            delivery.message.reception_number,
            delivery.message.interface_id,
            delivery.subscriber_unit,
            delivery.status,
            str(delivery.attempts),
            f"{when:%Y-%m-%d %H:%M:%S}",
            delivery.last_error or "",
        )
    console.print(table)


def _enqueue_again(
    statuses: list[DeliveryStatus], ids: list[int], reception: str | None, unit: str | None
) -> int:
    from platform_hub.linkage import repository

    if not (ids or reception or unit):
        console.print("[red]name the deliveries: ids, --reception or --unit[/red]")
        raise typer.Exit(2)
    again = _run_recorded(
        lambda session: repository.enqueue_again(
            session, statuses=statuses, ids=ids, reception=reception, unit=unit
        ),
        "deliveries.retry" if statuses == [DeliveryStatus.DEAD] else "deliveries.replay",
        ids=",".join(map(str, ids)) or None,
        reception=reception,
        unit=unit,
    )
    return len(again)


@deliveries_app.command("retry")
def deliveries_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead deliveries' ids.")] = None,
    reception: Annotated[str | None, typer.Option(help="Those of one message (受付番号).")] = None,
    unit: Annotated[str | None, typer.Option(help="Those of one subscriber.")] = None,
) -> None:
    """Give dead deliveries a new set of attempts (at the back of each subscriber's queue)."""
    count = _enqueue_again([DeliveryStatus.DEAD], ids or [], reception, unit)
    console.print(f"{count} dead deliveries back in the queue", highlight=False)


@deliveries_app.command("replay")
def deliveries_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Delivered deliveries' ids.")] = None,
    reception: Annotated[str | None, typer.Option(help="Those of one message (受付番号).")] = None,
    unit: Annotated[str | None, typer.Option(help="Those of one subscriber.")] = None,
) -> None:
    """Deliver notifications again that were delivered (a subscriber that lost them); an SDK unit
    that already has one answers from its MSGID record without handling it twice."""
    count = _enqueue_again([DeliveryStatus.DELIVERED], ids or [], reception, unit)
    console.print(f"{count} deliveries queued again", highlight=False)


@ordinance_app.command("load")
def ordinance_load(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="YAML, as in interface_specs/ordinance/.")
    ],
) -> None:
    """Load a version of the ordinance; it is in force from its effective date, older ones stay."""
    from platform_hub.ordinance.service import load, parse_ordinance
    from platform_hub.protocol.catalog import load_catalog
    from platform_hub.protocol.errors import HubError

    settings = Settings()
    source = file.read_bytes()
    try:
        ordinance = parse_ordinance(source, load_catalog(settings.interface_specs_dir))
        version = _run_recorded(
            lambda session: load(session, ordinance, source, actor=CLI.client_id),
            "ordinance.load",
            f"{len(ordinance.rules)} rules",
            version=ordinance.version,
            effective=ordinance.effective.isoformat(),
        )
    except HubError as exc:
        console.print(f"[red]{exc}[/red]", *exc.details, highlight=False)
        raise typer.Exit(1) from None
    console.print(
        f"ordinance {version.version} loaded: {len(version.rules)} rules, in force from "
        f"{version.effective_on}",
        highlight=False,
    )


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            help="Checkpoints kept outside the hub: a folder made by `audit checkpoints pull`, or one "
            "GET /audit/checkpoints answer saved as JSON; their public key is trusted instead of the hub's.",
        ),
    ] = None,
) -> None:
    """Recompute both records — the transfer record and the operations record — every entry's digest
    and MAC, their chains and checkpoints; exit 0 when they verify, 1 naming the first entry that does
    not. The MACs need the key file (PLATFORM_HUB_KEY_FILE)."""
    from platform_hub.audit import verification
    from platform_hub.audit.chain import load_signing_key
    from platform_hub.audit.checkpoints import read_kept
    from platform_hub.kit.vault import KeyFileError, load_vault

    settings = Settings()
    kept = read_kept(checkpoint) if checkpoint else None
    public_pem = kept.public_key_pem if kept else None
    if public_pem is None and settings.signing_key_file.exists():
        public_pem = load_signing_key(settings.signing_key_file, create=False).public_pem
    try:
        vault = load_vault(settings.key_file)
    except KeyFileError:
        vault = None

    async def run(session: AsyncSession) -> dict[str, verification.Verification]:
        results = await verification.verify_all(
            session,
            public_pem,
            record_key=vault.record_key if vault else None,
            outside=kept.by_ledger if kept else None,
            overdue=verification.checkpoints_overdue(settings.checkpoint_interval_seconds),
        )
        if vault is not None:
            await record_operation(
                session,
                vault.record_key,
                CLI,
                "audit.verify",
                outcome=OperationOutcome.OK
                if all(r.ok for r in results.values())
                else OperationOutcome.FAILED,
            )
        return results

    results = asyncio.run(run_once(settings.async_database_url, run))
    for name, result in results.items():
        for warning in result.warnings:
            console.print(f"[yellow]![/yellow] {name}: {warning}", highlight=False)
        for problem in result.problems:
            console.print(f"[red]✗[/red] {name}: {problem}", highlight=False)
    if not all(result.ok for result in results.values()):
        raise typer.Exit(1)
    transfers, operations = results["transfers"], results["operations"]
    console.print(
        f"[green]✓[/green] {transfers.entries} entries and {transfers.checkpoints} checkpoints of the "
        f"transfer record, {operations.entries} entries and {operations.checkpoints} checkpoints of the "
        "operations record verify",
        highlight=False,
    )


checkpoints_app = typer.Typer(help="Signed checkpoints, kept outside the hub.", no_args_is_help=True)
audit_app.add_typer(checkpoints_app, name="checkpoints")


@checkpoints_app.command("pull")
def checkpoints_pull(
    folder: Annotated[Path, typer.Argument(help="Where the checkpoints are kept (created if missing).")],
    hub: Annotated[str, typer.Option(help="The hub's base URL.")] = "http://127.0.0.1:8000",
    client_id: Annotated[
        str, typer.Option(envvar="PLATFORM_HUB_AUDITOR_CLIENT_ID", help="An auditor client.")
    ] = "",
    client_secret: Annotated[
        str,
        typer.Option(envvar="PLATFORM_HUB_AUDITOR_CLIENT_SECRET", help="Its secret.", show_default=False),
    ] = "",
) -> None:
    """Fetch the hub's signed checkpoints (both records) into FOLDER, one file each, never changing
    one kept before: a hub whose chain no longer matches them — a rewrite, a removed tail — is named
    by `audit verify --checkpoint FOLDER`. Run it regularly, from a machine the hub cannot write to."""
    from platform_hub.audit.checkpoints import PullError, pull

    if not client_id or not client_secret:
        console.print("[red]an auditor's --client-id and --client-secret are needed[/red]")
        raise typer.Exit(2)
    try:
        added, conflicts = pull(hub, (client_id, client_secret), folder)
    except PullError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    for conflict in conflicts:
        console.print(f"[red]✗[/red] {conflict}", highlight=False)
    console.print(f"{added} new checkpoints kept in {folder}", highlight=False)
    if conflicts:
        raise typer.Exit(1)


@audit_app.command("purge")
def audit_purge(
    before: Annotated[str, typer.Option(help="YYYY-MM-01: remove the whole months before it.")],
) -> None:
    """Remove expired periods of the record (retention: PLATFORM_HUB_RETENTION_YEARS, 7 by default),
    as the schema owner (PLATFORM_HUB_MIGRATION_DATABASE_URL): the serving role may remove nothing."""
    import datetime as dt

    from platform_hub.audit import service
    from platform_hub.audit.chain import load_signing_key
    from platform_hub.protocol.errors import HubError

    settings = Settings()
    if not settings.signing_key_file.exists():
        console.print(
            f"[red]the removal is signed with the checkpoint key: {settings.signing_key_file} is missing"
        )
        raise typer.Exit(1)
    key = load_signing_key(settings.signing_key_file, create=False)

    async def run(session: AsyncSession) -> Any:
        return await service.purge(
            session,
            dt.date.fromisoformat(before),
            key,
            retention_years=settings.retention_years,
            actor=CLI.client_id,
        )

    try:
        record = _run_recorded(run, "audit.purge", as_owner=True, before=before)
    except (HubError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(
        f"removed {record.entries_removed} entries before {before}; the chain goes on from link "
        f"{record.anchor_seq + 1}",
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
        console.print(f"[red]unknown mock unit {name!r}[/red]: one of {', '.join(MOCK_UNITS)}")
        raise typer.Exit(2)
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


if __name__ == "__main__":
    app()
