"""What every command shares: the console, who the operations record names, the key file, and one
recorded unit of work."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.operations import Actor, record_operation
from platform_hub.kit.database import run_once
from platform_hub.kit.settings import Settings

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


def run_recorded(
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
    settings, keys = Settings(), vault()

    async def recorded(session: AsyncSession) -> T:
        result = await work(session)
        await record_operation(session, keys.record_key, CLI, action, detail=detail, parameters=parameters)
        return result

    url = settings.async_migration_database_url if as_owner else settings.async_database_url
    return asyncio.run(run_once(url, recorded))


def vault() -> Any:
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


def vault_and_sessions() -> tuple[Any, Any, Any]:
    from platform_hub.kit.database import create_engine, create_sessionmaker

    engine = create_engine(Settings().async_database_url)
    return vault(), engine, create_sessionmaker(engine)
