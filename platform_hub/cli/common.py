"""What every command shares: the console, who the operations record names, the key file, the hub's
database — checked before a command works on it — and one recorded unit of work."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from sqlalchemy import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.operations import Actor, record_operation
from platform_hub.cli.answers import MISUSED, CliError
from platform_hub.kit.database import run_once
from platform_hub.kit.migrations import head_revisions, known_revision, revisions_of
from platform_hub.kit.settings import Settings

# What commands say, one line each however long: rich would wrap a line at 80 columns when not on a
# terminal (a pipe, a log), and a line split in two no longer greps.
console = Console(soft_wrap=True)
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
    detail: str | Callable[[T], str] | None = None,
    *,
    as_owner: bool = False,
    subject: str | None = None,
    parameters: Mapping[str, object] | None = None,
    **named: object,
) -> T:
    """Run a change from the command line in one transaction with its operations record entry — which
    needs the key file (its MAC): a change that cannot be recorded is not made. ``detail`` may be
    made from what the work gave; ``subject`` is the person it concerned; what was asked is
    ``parameters`` and ``named`` (a mapping may hold any name, "action" too). ``as_owner``: with the
    schema owner's URL (what only the owner may do, on PostgreSQL)."""
    keys, asked = vault(), {**(parameters or {}), **named}

    async def recorded(session: AsyncSession) -> T:
        result = await work(session)
        said = detail(result) if callable(detail) else detail
        await record_operation(
            session, keys.record_key, CLI, action, subject=subject, detail=said, parameters=asked
        )
        return result

    return run_in_database(recorded, as_owner=as_owner)


def run_in_database(work: Callable[[AsyncSession], Awaitable[T]], *, as_owner: bool = False) -> T:
    """``work`` in one transaction on the hub's database, once it is known to be there and migrated."""
    url = ready_database(as_owner=as_owner)
    with database_failures(as_owner=as_owner):
        return asyncio.run(run_once(url, work))


def ready_database(*, as_owner: bool = False) -> str:
    """The async URL of the hub's database once it answers at this hub's schema revision; otherwise
    a ``CliError`` naming it — and, on SQLite, no file made on the way: a command run in the wrong
    folder would leave an empty database there that every later command takes for the hub's."""
    settings = Settings()
    sync_url = settings.sync_migration_database_url if as_owner else settings.sync_database_url
    with database_failures(as_owner=as_owner, failing="cannot reach the database at {}"):
        current = revisions_of(sync_url)
    if not current:
        raise CliError(f"the database at {shown(sync_url)} is not migrated; run: platform-hub db upgrade")
    if current != head_revisions():
        raise CliError(_revision_problem(shown(sync_url), current))
    return settings.async_migration_database_url if as_owner else settings.async_database_url


def _revision_problem(database: str, current: frozenset[str]) -> str:
    at = f"the database at {database} is at revision {', '.join(sorted(current))}"
    if all(known_revision(revision) for revision in current):
        wanted = ", ".join(sorted(head_revisions()))
        return f"{at}, this platform-hub's is {wanted}; run: platform-hub db upgrade"
    return f"{at}, which this platform-hub does not know: a newer one migrated it"


@contextmanager
def database_failures(
    *, as_owner: bool = False, failing: str = "the database at {} failed"
) -> Iterator[None]:
    """A database that cannot be reached, or stops answering, as one line naming it (not the driver's
    traceback): ``failing`` with the database's URL, then what the driver said first."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        settings = Settings()
        url = settings.sync_migration_database_url if as_owner else settings.sync_database_url
        said = str(exc.orig or exc).strip().splitlines() or [type(exc).__name__]
        raise CliError(f"{failing.format(shown(url))}: {_without_password(said[0], url)}") from None


def shown(url: str) -> str:
    """A database URL as it may be printed: its password masked."""
    return make_url(url).render_as_string(hide_password=True)


def _without_password(text: str, url: str) -> str:
    password = make_url(url).password
    return text.replace(str(password), "***") if password else text


def vault() -> Any:
    """The My Number key file (the registry's keys, and the records' MAC key), or exit 2 naming it."""
    from platform_hub.kit.vault import KeyFileError, load_vault

    try:
        return load_vault(Settings().key_file)
    except KeyFileError as exc:
        raise CliError(
            f"{exc} (PLATFORM_HUB_KEY_FILE; `platform-hub keys generate` makes one): the registry and the "
            "operations record need it",
            MISUSED,
        ) from None


def vault_and_sessions() -> tuple[Any, Any, Any]:
    from platform_hub.kit.database import create_engine, create_sessionmaker

    keys = vault()
    engine = create_engine(ready_database())
    return keys, engine, create_sessionmaker(engine)
