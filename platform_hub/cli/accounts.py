"""``platform-hub accounts``: the people who sign in to the console (not the OAuth clients)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.cli.answers import MISUSED, CliError
from platform_hub.cli.common import console, run_in_database, run_recorded, vault
from platform_hub.cli.listing import Cell, JsonOption, print_listing

if TYPE_CHECKING:
    from platform_hub.accounts.service import Credentials

accounts_app = typer.Typer(
    help="Console accounts: people who sign in with a password and a one-time code.", no_args_is_help=True
)
# models.AccountRole's values, without importing the models at start.
ROLES = ("auditor", "mynumber_office", "operator", "admin")
Login = Annotated[str, typer.Argument(help="The account's login (accounts list names them).")]


@accounts_app.command("create")
def accounts_create(
    login: Login,
    role: Annotated[str, typer.Option(help="auditor, mynumber_office, operator or admin.")],
    name: Annotated[str, typer.Option(help="The person's name as the console shows it.")],
) -> None:
    """Create an account; prints its initial password and TOTP provisioning URI, only now."""
    from platform_hub.accounts import service
    from platform_hub.models import AccountRole

    if role not in ROLES:
        raise CliError(f"unknown role {role!r}: {', '.join(ROLES)}", MISUSED)
    keys = vault()

    async def create(session: AsyncSession) -> Credentials:
        _, credentials = await service.create_account(session, keys, login, name, AccountRole(role))
        return credentials

    credentials = run_recorded(create, "account.create", f"account {login}", login=login, role=role)
    _print_credentials(login, role, credentials)


@accounts_app.command("list")
def accounts_list(as_json: JsonOption = False) -> None:
    """Every account, oldest first: role, whether locked or disabled or due a password change, the last
    sign-in (never a secret)."""
    from platform_hub.accounts import service
    from platform_hub.kit.clock import utcnow

    async def listed(session: AsyncSession) -> list[dict[str, object]]:
        now = utcnow()
        return [
            {
                "login": a.login,
                "name": a.display_name,
                "role": a.role.value,
                "disabled": a.disabled,
                "locked_until": a.locked_until if a.locked_until and a.locked_until > now else None,
                "password_change_required": a.password_change_required,
                "last_signed_in_at": a.last_signed_in_at,
                "created_at": a.created_at,
            }
            for a in await service.list_accounts(session)
        ]

    print_listing(run_in_database(listed), ACCOUNT_COLUMNS, as_json=as_json)


ACCOUNT_COLUMNS: dict[str, Cell] = {
    "login": "login",
    "name": "name",
    "role": "role",
    "disabled": "disabled",
    "locked_until": "locked_until",
    "must_change_password": "password_change_required",
    "last_signed_in": "last_signed_in_at",
    "created": "created_at",
}


@accounts_app.command("disable")
def accounts_disable(login: Login) -> None:
    """The account signs in no more; its sessions end now."""
    from platform_hub.accounts import service

    async def change(session: AsyncSession) -> None:
        await service.disable(session, login)

    run_recorded(change, "account.disable", f"account {login}", login=login)
    console.print(f"account {login} disabled: its sessions have ended", highlight=False)


@accounts_app.command("unlock")
def accounts_unlock(login: Login) -> None:
    """A locked account (too many wrong tries) may sign in again at once."""
    from platform_hub.accounts import service

    async def change(session: AsyncSession) -> None:
        await service.unlock(session, login)

    run_recorded(change, "account.unlock", f"account {login}", login=login)
    console.print(f"account {login} unlocked", highlight=False)


@accounts_app.command("reset")
def accounts_reset(login: Login) -> None:
    """A new initial password and a new TOTP secret, printed only now (a forgotten password, a lost
    phone); the old ones work no more and the account's sessions end."""
    from platform_hub.accounts import service

    keys = vault()

    async def reset(session: AsyncSession) -> tuple[str, Credentials]:
        account, credentials = await service.reset(session, keys, login)
        return account.role.value, credentials

    role, credentials = run_recorded(reset, "account.reset", f"account {login}", login=login)
    _print_credentials(login, role, credentials)


def _print_credentials(login: str, role: str, credentials: Credentials) -> None:
    console.print(
        f"login={login}\nrole={role}\ninitial_password={credentials.password}\n"
        f"totp_uri={credentials.provisioning_uri}",
        highlight=False,
    )
    console.print(
        "Shown only now: hand the password over in person; the TOTP URI goes into the person's "
        "authenticator app (as a QR code, or typed in).",
        highlight=False,
        style="dim",
    )
