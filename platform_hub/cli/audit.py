"""``platform-hub audit``: the transfer record and the operations record — verified, kept outside
the hub, purged after their retention."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.operations import record_operation
from platform_hub.cli.answers import MISUSED, CliError, option_problem
from platform_hub.cli.common import CLI, console, run_in_database, run_recorded
from platform_hub.cli.listing import Cell, JsonOption, print_listing
from platform_hub.kit.settings import Settings
from platform_hub.models import OperationOutcome

audit_app = typer.Typer(help="The transfer record (情報提供等の記録).", no_args_is_help=True)


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
    from platform_hub.audit import runs, verification
    from platform_hub.audit.chain import load_signing_key
    from platform_hub.audit.checkpoints import read_kept
    from platform_hub.kit.clock import utcnow
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
        started = utcnow()
        results = await verification.verify_all(
            session,
            public_pem,
            record_key=vault.record_key if vault else None,
            outside=kept.by_ledger if kept else None,
            overdue=verification.checkpoints_overdue(settings.checkpoint_interval_seconds),
        )
        if vault is not None:
            verified = all(r.ok for r in results.values())
            await record_operation(
                session,
                vault.record_key,
                CLI,
                "audit.verify",
                outcome=OperationOutcome.OK if verified else OperationOutcome.FAILED,
            )
        await runs.record(session, CLI.client_id, started, results)  # what 記録の検証 shows as the last
        return results

    results = run_in_database(run)
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
        raise CliError("an auditor's --client-id and --client-secret are needed", MISUSED)
    try:
        added, conflicts = pull(hub, (client_id, client_secret), folder)
    except PullError as exc:
        raise CliError(str(exc)) from None
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
        raise CliError(
            f"the removal is signed with the checkpoint key: {settings.signing_key_file} is missing"
        )
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
        record = run_recorded(run, "audit.purge", as_owner=True, before=before)
    except (HubError, ValueError) as exc:
        raise CliError(str(exc)) from None
    console.print(
        f"removed {record.entries_removed} entries before {before}; the chain goes on from link "
        f"{record.anchor_seq + 1}",
        highlight=False,
    )


@audit_app.command("operations")
def audit_operations(
    integrated_number: Annotated[str | None, typer.Option(help="The person (団体内統合宛名番号).")] = None,
    client_id: Annotated[str | None, typer.Option(help="Who acted (cli:… for the command line).")] = None,
    unit: Annotated[str | None, typer.Option(help="The unit the client acted for.")] = None,
    action: Annotated[
        str | None, typer.Option(help="One action (client.disable), or every one of a kind (client).")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, refused or failed.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="From this day (YYYY-MM-DD, the city's).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="To this day, inclusive.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """The operations record (操作ログ), newest first: who did what, to which person, when, with what
    outcome — with the filters of GET /audit/operations. The reading is itself recorded."""
    from pydantic import ValidationError

    from platform_hub.audit import operations
    from platform_hub.audit.schemas import OperationSearch

    filters = {"integrated_number": integrated_number, "client_id": client_id, "unit": unit}
    filters |= {"action": action, "outcome": outcome, "from": start, "to": end}
    try:
        search = OperationSearch.model_validate({k: v for k, v in filters.items() if v is not None})
    except ValidationError as exc:
        raise option_problem(exc) from None

    async def read(session: AsyncSession) -> list[dict[str, object]]:
        return [entry.model_dump() for entry in await operations.newest(session, search, limit)]

    entries = run_recorded(
        read, "audit.operations", subject=search.integrated_number, parameters=search.parameters
    )
    print_listing(entries, OPERATION_COLUMNS, as_json=as_json)


OPERATION_COLUMNS: dict[str, Cell] = {
    "id": "id",
    "at": "at",
    "client": "client_id",
    "role": "role",
    "unit": "unit_code",
    "clerk": lambda e: "/".join(filter(None, (e["department"], e["clerk"]))),
    "action": "action",
    "団体内統合宛名番号": "subject_integrated_number",
    "outcome": "outcome",
    "detail": "detail",
    "parameters": "parameters",
}
