"""``platform-hub ordinance``: the city's My Number ordinance tables."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from platform_hub.cli.common import CLI, console, run_in_database, run_recorded
from platform_hub.cli.listing import Cell, JsonOption, print_listing
from platform_hub.kit.settings import Settings

if TYPE_CHECKING:
    from platform_hub.ordinance.schemas import ImpactReport

ordinance_app = typer.Typer(help="The city's My Number ordinance (条例) tables.", no_args_is_help=True)


@ordinance_app.command("load")
def ordinance_load(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="YAML, as in interface_specs/ordinance/.")
    ],
) -> None:
    """Load a version of the ordinance; it is in force from its effective date, older ones stay."""
    from platform_hub.ordinance.service import load, parse_ordinance
    from platform_hub.protocol.catalog import load_catalog

    settings = Settings()
    source = file.read_bytes()
    ordinance = parse_ordinance(source, load_catalog(settings.interface_specs_dir))
    version = run_recorded(
        lambda session: load(session, ordinance, source, actor=CLI.client_id),
        "ordinance.load",
        f"{len(ordinance.rules)} rules",
        version=ordinance.version,
        effective=ordinance.effective.isoformat(),
    )
    console.print(
        f"ordinance {version.version} loaded: {len(version.rules)} rules, in force from "
        f"{version.effective_on}",
        highlight=False,
    )


@ordinance_app.command("list")
def ordinance_list(as_json: JsonOption = False) -> None:
    """Every loaded version by effective date: when and by whom it was loaded, how many rules it
    has, and which is in force today."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from platform_hub.ordinance import service

    async def listed(session: AsyncSession) -> list[dict[str, object]]:
        return [version.model_dump() for version in await service.versions(session)]

    print_listing(run_in_database(listed), VERSION_COLUMNS, as_json=as_json)


VERSION_COLUMNS: dict[str, Cell] = {
    "version": "version",
    "effective": "effective",
    "enacted": "enacted",
    "loaded at": "loaded_at",
    "loaded by": "loaded_by",
    "rules": "rules",
    "in force": "in_force",
    "title": "title",
}


@ordinance_app.command("impact")
def ordinance_impact(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="The draft: YAML, as in interface_specs/ordinance/."
        ),
    ],
    start: Annotated[
        dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (the city's).")
    ],
    end: Annotated[dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, inclusive.")],
    as_json: Annotated[bool, typer.Option("--json", help="The report as the API gives it, as JSON.")] = False,
) -> None:
    """条例改正の影響: replay a draft version (not loaded, not in force) over the period's transfer
    record — the transfers it would refuse that were allowed, those it would allow that the ordinance
    refused, per flow — and the registry's flows it leaves without a rule, against today's version."""
    from platform_hub.audit.impact import ordinance_impact as replay
    from platform_hub.cli.answers import MISUSED, CliError
    from platform_hub.ordinance.impact import recorded_detail
    from platform_hub.ordinance.service import parse_ordinance
    from platform_hub.protocol.catalog import load_catalog

    if end < start:
        raise CliError("--to is before --from", MISUSED)
    catalog = load_catalog(Settings().interface_specs_dir)
    draft = parse_ordinance(file.read_bytes(), catalog)
    report = run_recorded(
        lambda session: replay(session, catalog, draft, start.date(), end.date()),
        "ordinance.impact",
        recorded_detail,
        version=draft.version,
        start=start.date().isoformat(),
        end=end.date().isoformat(),
    )
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json", by_alias=True), ensure_ascii=False))
        return
    print_impact(report)


def print_impact(report: ImpactReport) -> None:
    """The report for people: the counts, then a table per kind of change."""
    console.print(
        f"draft {report.draft.version} ({report.draft.rules} rules) against "
        f"{report.compared_with or 'no version in force'}, {report.start} to {report.end}: "
        f"{report.checked} transfers replayed, {report.would_refuse} would be refused, "
        f"{report.would_allow} would be allowed",
        highlight=False,
    )
    changes = [
        {
            "change": c.change,
            **c.flow.model_dump(),
            "entries": c.entries,
            "rules": ", ".join(c.rules_before or c.rules_after),
            "examples": [e.reception_number for e in c.examples],
        }
        for c in report.changes
    ]
    flows: dict[str, Cell] = {
        "receiving": lambda r: f"{r['receiving_unit']} {r['receiving_organ']}",
        "interface": "interface_id",
        "purposes": "purposes",
        "category": "category",
        "holding": lambda r: f"{r['holding_unit']} {r['holding_organ']}",
    }
    sections: list[tuple[str, list[dict[str, object]], dict[str, Cell]]] = [
        (
            "transfers it changes",
            changes,
            {"change": "change", **flows, "entries": "entries", "rule": "rules", "examples": "examples"},
        ),
        (
            "flows it leaves without a rule",
            [{**u.flow.model_dump(), "before": u.rule_before} for u in report.uncovered],
            {**flows, "rule today": "before"},
        ),
        (
            "flows it newly covers",
            [{**c.flow.model_dump(), "after": c.rule_after} for c in report.covered],
            {**flows, "draft rule": "after"},
        ),
        (
            "rules against today's version",
            [r.model_dump() for r in report.rules],
            {"code": "code", "change": "change", "kind": "kind", "article": "article", "purpose": "purpose"},
        ),
    ]
    for title, records, columns in sections:
        console.print(f"{title}: {len(records) or 'none'}", highlight=False)
        if records:
            print_listing(records, columns, as_json=False)
    console.print(
        f"units: {', '.join(report.units) or '-'}; 事務: {', '.join(report.purposes) or '-'}", highlight=False
    )
