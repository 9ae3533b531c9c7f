"""``platform-hub ordinance``: the city's My Number ordinance tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from platform_hub.cli.common import CLI, console, run_recorded
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
