"""``platform-hub keys``: the My Number key file and the checkpoint signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.cli.answers import CliError
from platform_hub.cli.common import console, run_recorded
from platform_hub.kit.settings import Settings

keys_app = typer.Typer(help="The My Number key file.", no_args_is_help=True)


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
        raise CliError(f"{file} exists; rotate it instead") from None
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
        raise CliError(f"{file} exists")
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
        run_recorded(nothing, action, detail)
    except CliError as exc:  # no key file, no database there (or not migrated), or unreachable
        console.print(f"[yellow]not in the operations record: {exc}[/yellow]", highlight=False)
    except SQLAlchemyError:
        console.print("[yellow]not in the operations record: the database is unavailable[/yellow]")
