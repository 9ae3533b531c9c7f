"""``platform-hub units``: the registry of business units (業務ユニット), from the hub's side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.cli.answers import MISUSED, CliError, option_problem
from platform_hub.cli.common import console, run_in_database, run_recorded, vault
from platform_hub.cli.listing import Cell, JsonOption, print_listing

if TYPE_CHECKING:
    from platform_hub.units.schemas import AdapterUpdate

units_app = typer.Typer(help="The registered business units (業務ユニット).", no_args_is_help=True)
UnitCode = Annotated[str, typer.Argument(help="The unit's code (units list names them).")]


@units_app.command("list")
def units_list(as_json: JsonOption = False) -> None:
    """Every registered unit: where the hub delivers to it, what it provides and subscribes to."""
    from platform_hub.units import service

    async def listed(session: AsyncSession) -> list[dict[str, object]]:
        return [adapter.model_dump() for adapter in await service.list_adapters(session)]

    print_listing(run_in_database(listed), UNIT_COLUMNS, as_json=as_json)


UNIT_COLUMNS: dict[str, Cell] = {
    "code": "unit_code",
    "name": "name",
    "organ": "organ",
    "base_url": "base_url",
    "mode": "mode",
    "provides": "provides",
    "subscribes": "subscribes",
    "enabled": "enabled",
    "last heartbeat": "last_heartbeat_at",
}


@units_app.command("update")
def units_update(
    code: UnitCode,
    name: Annotated[str | None, typer.Option(help="The unit's name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Where the hub POSTs its messages.")] = None,
    mode: Annotated[str | None, typer.Option(help="production, or test (MSGMode 1 only).")] = None,
    soap_faults: Annotated[str | None, typer.Option(help="contract, or wsi (every Fault HTTP 500).")] = None,
    characters: Annotated[str | None, typer.Option(help="mj, or jisx0213 (N items fall back).")] = None,
) -> None:
    """Change how the hub names and reaches a unit; what it may do (its organ, 事務 and interfaces)
    stays as registered."""
    from platform_hub.units import service

    options = {"name": name, "base_url": base_url, "mode": mode, "soap_faults": soap_faults}
    changes = _update(options | {"characters": characters})
    stored = changes.stored()
    if not stored:
        options_named = "--name, --base-url, --mode, --soap-faults or --characters"
        raise CliError(f"nothing to change: {options_named}", MISUSED)

    async def update(session: AsyncSession) -> None:
        await service.update(session, code, changes)

    run_recorded(update, "unit.update", parameters={"unit": code, **stored})
    console.print(
        f"unit {code} updated: " + ", ".join(f"{k}={v}" for k, v in stored.items()), highlight=False
    )


def _update(options: dict[str, str | None]) -> AdapterUpdate:
    """The changes as the registration's rules allow them, or one line naming the option."""
    from pydantic import ValidationError

    from platform_hub.units.schemas import AdapterUpdate

    try:
        return AdapterUpdate.model_validate({k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        raise option_problem(exc) from None


@units_app.command("rotate-secret")
def units_rotate_secret(code: UnitCode) -> None:
    """New client credentials for a unit that lost its own (registering again is E1004): printed
    only now; the old secret works no more. Over HTTP: POST /adapters/{code}/secret."""
    from platform_hub.units import service

    keys = vault()
    rotated = run_recorded(
        lambda session: service.rotate_secret(session, code, vault=keys),
        "unit.rotate_secret",
        lambda done: f"client {done.client_id}",
        unit=code,
    )
    console.print(
        f"unit_code={code}\nclient_id={rotated.client_id}\nclient_secret={rotated.client_secret}",
        highlight=False,
    )


@units_app.command("files")
def units_files(
    code: UnitCode,
    interface_id: Annotated[
        str, typer.Argument(help="A batch interface the unit provides or subscribes to.")
    ],
    encoding: Annotated[
        str, typer.Option(help="utf-8, utf-8-sig (written with a BOM) or cp932.")
    ] = "utf-8-sig",
    delivery: Annotated[str, typer.Option(help="A subscriber's: message, or file (its outbox).")] = "message",
) -> None:
    """How a unit exchanges a batch interface as CSV files: their encoding, and whether as a subscriber
    it takes each batch as a file. Over HTTP: PUT /adapters/{code}/files/{interface_id}."""
    from pydantic import ValidationError

    from platform_hub.kit.settings import Settings
    from platform_hub.protocol.catalog import load_catalog
    from platform_hub.units import service
    from platform_hub.units.schemas import FileLinkage

    try:
        linkage = FileLinkage(encoding=encoding, delivery=delivery)
    except ValidationError as exc:
        raise option_problem(exc) from None
    catalog = load_catalog(Settings().interface_specs_dir)

    async def change(session: AsyncSession) -> None:
        await service.set_file_linkage(session, code, interface_id, linkage, catalog)

    run_recorded(
        change, "unit.files", parameters={"unit": code, "interface": interface_id, **linkage.model_dump()}
    )
    console.print(f"unit {code} {interface_id}: encoding={encoding}, delivery={delivery}", highlight=False)


@units_app.command("binding")
def units_binding(
    code: UnitCode,
    interface_id: Annotated[
        str, typer.Argument(help="A query the unit provides, or a notification it takes.")
    ],
    binding: Annotated[str, typer.Argument(help="soap, or rest (the Digital Agency's REST/JSON).")],
) -> None:
    """How the hub sends the unit an interface: by SOAP or by REST. Over HTTP:
    PUT /adapters/{code}/bindings/{interface_id}."""
    from pydantic import ValidationError

    from platform_hub.kit.settings import Settings
    from platform_hub.protocol.catalog import load_catalog
    from platform_hub.units import service
    from platform_hub.units.schemas import InterfaceBinding

    try:
        chosen = InterfaceBinding(binding=binding)
    except ValidationError as exc:
        raise option_problem(exc) from None
    catalog = load_catalog(Settings().interface_specs_dir)

    async def change(session: AsyncSession) -> None:
        await service.set_binding(session, code, interface_id, chosen.binding, catalog)

    run_recorded(
        change, "unit.binding", parameters={"unit": code, "interface": interface_id, "binding": binding}
    )
    console.print(f"unit {code} {interface_id}: binding={binding}", highlight=False)


@units_app.command("ssh-keys")
def units_ssh_keys(
    code: UnitCode,
    key_file: Annotated[
        typer.FileText,
        typer.Argument(help="The unit's SSH public keys (authorized_keys lines); - reads stdin."),
    ],
) -> None:
    """The SSH public keys the unit signs in to the SFTP drop box with (an empty file: none).
    Over HTTP: PUT /adapters/{code}/ssh-keys."""
    from platform_hub.units import service

    keys = key_file.read()

    async def change(session: AsyncSession) -> None:
        await service.set_ssh_keys(session, code, keys)

    run_recorded(change, "unit.ssh_keys", parameters={"unit": code})
    count = len([line for line in keys.splitlines() if line.strip() and not line.startswith("#")])
    console.print(f"unit {code}: {count} SSH key(s) for the SFTP drop box", highlight=False)
