"""``platform-hub addressees``: the unified addressee registry, from the My Number office's desk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from platform_hub.audit.operations import record_operation
from platform_hub.cli.answers import MISUSED, CliError
from platform_hub.cli.common import CLI, console, database_failures, vault_and_sessions
from platform_hub.cli.listing import Cell, JsonOption, print_listing

addressees_app = typer.Typer(help="The unified addressee registry (統一宛名).", no_args_is_help=True)


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
    from platform_hub.kit.settings import Settings

    vault, engine, sessions = vault_and_sessions()
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
                    remainder_one=Settings().atena_check_digit_remainder_one,
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
        with database_failures():
            report = asyncio.run(run())
    except ValueError as exc:
        raise CliError(str(exc), MISUSED) from None
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
    as_json: JsonOption = False,
) -> None:
    """Search the registry as the My Number office; prints ranked candidates (never a 個人番号)."""
    from pydantic import ValidationError

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
        raise CliError(exc.errors()[0]["msg"], MISUSED) from None
    vault, engine, sessions = vault_and_sessions()

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

    with database_failures():
        candidates = asyncio.run(run())
    print_listing([c.model_dump() for c in candidates], CANDIDATE_COLUMNS, as_json=as_json)


CANDIDATE_COLUMNS: dict[str, Cell] = {
    "person": "person_id",
    "統合宛名番号": lambda c: c["integrated_number"] or "",
    "score": "score",
    "matched": lambda c: ", ".join(c["matched"]) + (" (former)" if c["matched_former"] else ""),
    "氏名": lambda c: c["current"]["name"],
    "生年月日": lambda c: c["current"]["birth_date"],
    "住所": lambda c: c["current"]["address"],
    "状態": lambda c: c["current"]["status_ja"],
}


PROPOSAL_COLUMNS: dict[str, Cell] = {
    "id": "id",
    "person": "person_id",
    "into": "into_person_id",
    "basis": lambda p: ", ".join(p["basis"]),
    "status": "status",
    "proposed_at": "proposed_at",
    "decided_by": lambda p: p["decided_by"] or "",
}


@addressees_app.command("proposals")
def addressees_proposals(
    status: Annotated[str, typer.Option(help="proposed, accepted, rejected or all.")] = "proposed",
    as_json: JsonOption = False,
) -> None:
    """The 名寄せ the registry proposes (a record known by 基本4情報 and one that came with a 個人番号)."""
    from platform_hub.addressees import repository, views
    from platform_hub.kit.database import unit_of_work
    from platform_hub.protocol.registry import MergeProposalStatus

    try:
        wanted = None if status == "all" else MergeProposalStatus(status)
    except ValueError:
        raise CliError(f"status is one of {', '.join(MergeProposalStatus)} or all", MISUSED) from None
    vault, engine, sessions = vault_and_sessions()

    async def run() -> Any:
        try:
            async with unit_of_work(sessions) as session:
                found = [
                    await views.proposal_out(session, p)
                    for p in await repository.proposals(session, wanted, 1000)
                ]
                await record_operation(
                    session, vault.record_key, CLI, "registry.proposals", detail=f"{len(found)} proposals"
                )
                return found
        finally:
            await engine.dispose()

    with database_failures():
        proposals = asyncio.run(run())
    print_listing([p.model_dump() for p in proposals], PROPOSAL_COLUMNS, as_json=as_json)


def _decide(proposal: int, reason: str, *, accept: bool) -> None:
    from platform_hub.addressees import service, views
    from platform_hub.kit.database import unit_of_work
    from platform_hub.protocol.errors import HubError

    vault, engine, sessions = vault_and_sessions()

    async def run() -> Any:
        try:
            async with unit_of_work(sessions) as session:
                decided = await service.decide_proposal(
                    session, proposal, accept=accept, reason=reason, actor=CLI.client_id
                )
                out = await views.proposal_out(session, decided)
                await record_operation(
                    session,
                    vault.record_key,
                    CLI,
                    "registry.accept_merge" if accept else "registry.reject_merge",
                    subject=out.person_id,
                    detail=f"into {out.into_person_id}",
                    parameters={"proposal": proposal},
                )
                return out
        finally:
            await engine.dispose()

    try:
        with database_failures():
            out = asyncio.run(run())
    except HubError as exc:
        raise CliError(exc.message, MISUSED) from None
    console.print(
        f"名寄せ proposal {out.id}: {out.status} ({out.person_id} → {out.into_person_id})", highlight=False
    )


@addressees_app.command("accept-merge")
def addressees_accept_merge(
    proposal: Annotated[int, typer.Argument(help="The proposal's id.")],
    reason: Annotated[str, typer.Option(help="Why the records are one person.")],
) -> None:
    """Accept a proposed 名寄せ: the records are merged, neither renumbered."""
    _decide(proposal, reason, accept=True)


@addressees_app.command("reject-merge")
def addressees_reject_merge(
    proposal: Annotated[int, typer.Argument(help="The proposal's id.")],
    reason: Annotated[str, typer.Option(help="Why they are two persons.")],
) -> None:
    """Reject a proposed 名寄せ: the records stay apart, and are not proposed again."""
    _decide(proposal, reason, accept=False)
