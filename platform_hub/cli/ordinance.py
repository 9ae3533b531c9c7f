"""``platform-hub ordinance``: the city's My Number ordinance tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from platform_hub.cli.common import CLI, console, run_in_database, run_recorded
from platform_hub.cli.listing import Cell, JsonOption, print_listing
from platform_hub.kit.settings import Settings

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
