"""People's accounts for the console, and their server-side sessions.

An account signs in with its login, a password and a six-digit TOTP code (RFC 6238) together; a
wrong anything is one answer, so a guess tells nothing about which part was wrong. After
``console_lockout_attempts`` wrong tries in a row the account is locked for ``console_lockout_seconds``
(a right answer meanwhile does not sign in). Passwords are argon2id hashes; TOTP secrets are sealed
with the key file's data keys (``MyNumberVault.seal_totp``), as the clients' secrets are.

A password an administrator handed over (a new or reset account's) must be changed at the first
sign-in with it: the account is flagged until ``change_password``, whose new password must pass
``password_problem``.

A session is a random id in the browser's cookie and its SHA-256 in the database, with a CSRF token
of its own; it ends after ``console_idle_timeout_seconds`` without a request, or
``console_session_lifetime_seconds`` after its sign-in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.auth.service import ROLE_GRANTS
from platform_hub.kit.clock import utcnow
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import Account, AccountRole, ConsoleSession
from platform_hub.protocol.errors import AlreadyExists, SchemaViolation, UnknownTarget

ISSUER = "platform-hub"  # what an authenticator app shows beside the login
LOGIN_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
# Initial passwords: no 0/O, 1/l/I to misread when it is read out or copied from a screen.
_PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 - the letters, not a password
_PASSWORD_LENGTH = 16
MIN_PASSWORD_LENGTH = 12  # what a person chooses: long enough that its argon2 hash is not guessed
_HASHER = PasswordHasher()  # argon2id with argon2-cffi's current recommended parameters
# Checked against for an unknown login, so that it takes as long as a known one's wrong password.
_NOBODY = _HASHER.hash(secrets.token_urlsafe(16))
# One password check at a time per process: a flood of sign-ins takes one core, never the loop's.
_PASSWORD_CHECKS = ThreadPoolExecutor(1, thread_name_prefix="password-check")

# What each account role may do where the hub already checks a client's role (auth.service): an
# auditor account reads what an auditor client may, the My Number office is an admin as its clients
# are, an operator puts units on the hub as an integrator does.
ACCOUNT_GRANTS: dict[AccountRole, frozenset[str]] = {
    AccountRole.AUDITOR: ROLE_GRANTS["auditor"],
    AccountRole.MYNUMBER_OFFICE: ROLE_GRANTS["admin"],
    AccountRole.OPERATOR: ROLE_GRANTS["integrator"],
    AccountRole.ADMIN: ROLE_GRANTS["admin"],
}


def acts_as(account: Account, role: str) -> bool:
    """Whether ``account`` may do what a client of ``role`` may (``auth.service.Principal.acts_as``)."""
    return role in ACCOUNT_GRANTS[account.role]


@dataclass(frozen=True)
class Credentials:
    """What a new (or reset) account is given, shown once: nothing keeps them in the clear."""

    password: str
    provisioning_uri: str  # otpauth://totp/…: for the authenticator app (as a QR code or typed in)


def new_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(_PASSWORD_LENGTH))


def check_login(login: str) -> str:
    if not LOGIN_PATTERN.fullmatch(login):
        raise SchemaViolation(
            "a login is 1–32 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
        )
    return login


def _set_credentials(account: Account, vault: MyNumberVault) -> Credentials:
    password, totp_secret = new_password(), pyotp.random_base32()
    account.password_hash = _HASHER.hash(password)
    account.totp_key_id, account.totp_ciphertext = vault.seal_totp(totp_secret, account.login)
    account.totp_last_step = None
    account.password_change_required = True  # the administrator saw it: the person changes it first
    uri = pyotp.TOTP(totp_secret).provisioning_uri(name=account.login, issuer_name=ISSUER)
    return Credentials(password, uri)


async def create_account(
    session: AsyncSession, vault: MyNumberVault, login: str, display_name: str, role: AccountRole
) -> tuple[Account, Credentials]:
    """A new account with a one-time initial password and a TOTP secret; E1004 for a login taken."""
    check_login(login)
    if not display_name.strip() or len(display_name) > 100:
        raise SchemaViolation("a display name is 1–100 characters")
    if await find_account(session, login) is not None:
        raise AlreadyExists(f"the login {login!r} is taken")
    account = Account(login=login, display_name=display_name.strip(), role=role, failed_attempts=0)
    credentials = _set_credentials(account, vault)
    session.add(account)
    await session.flush()
    return account, credentials


async def find_account(session: AsyncSession, login: str) -> Account | None:
    found: Account | None = await session.scalar(select(Account).where(Account.login == login))
    return found


async def get_account(session: AsyncSession, login: str) -> Account:
    account = await find_account(session, login)
    if account is None:
        raise UnknownTarget(f"no account {login!r}")
    return account


async def list_accounts(session: AsyncSession) -> list[Account]:
    return list((await session.scalars(select(Account).order_by(Account.id))).all())


async def disable(session: AsyncSession, login: str) -> Account:
    """The account signs in no more, and its sessions end now."""
    account = await get_account(session, login)
    account.disabled = True
    await end_sessions(session, account)
    return account


async def unlock(session: AsyncSession, login: str) -> Account:
    """A locked account may sign in again at once (its failures forgotten)."""
    account = await get_account(session, login)
    account.failed_attempts, account.locked_until = 0, None
    await session.flush()
    return account


async def reset(session: AsyncSession, vault: MyNumberVault, login: str) -> tuple[Account, Credentials]:
    """A new password and a new TOTP secret (a forgotten password, a lost phone): the old ones work no
    more, the account is unlocked, its sessions end, and the new password must be changed at the
    next sign-in (an administrator saw it)."""
    account = await get_account(session, login)
    credentials = _set_credentials(account, vault)
    account.failed_attempts, account.locked_until = 0, None
    await end_sessions(session, account)
    return account, credentials


# --- changing the password ---------------------------------------------------------------------

WRONG_CURRENT = "今のパスワードが違います"
LOCKED_BY_CHANGE = "今のパスワードの誤りが続いたため、アカウントをロックしました"


def password_problem(login: str, current: str, new: str) -> str | None:
    """What is wrong with ``new`` as the next password of ``login``, whose password is ``current``,
    in the words the page shows; None if nothing is."""
    if len(new) < MIN_PASSWORD_LENGTH:
        return f"新しいパスワードは{MIN_PASSWORD_LENGTH}文字以上にしてください"
    if new.casefold() == login.casefold():
        return "ログインIDと同じパスワードは使えません"
    if new == current:
        return "今のパスワードと同じパスワードは使えません"
    return None


async def change_password(
    session: AsyncSession, settings: Settings, account: Account, current: str, new: str
) -> str | None:
    """The account's password is ``new`` from now, if ``current`` is its password and ``new`` passes
    the policy: it need not change again, and every session of the account ends (a session someone
    else opened with the old password must not outlive it; the console opens the person's a new one).
    Else the problem, and nothing changed — but a wrong ``current`` counts as a wrong sign-in (a
    browser left signed in is no licence to guess the password), and the lock it may bring ends the
    account's sessions: ``LOCKED_BY_CHANGE``."""
    checked = account.password_hash
    if not await _password_matches(checked, current):
        if await _failed(session, account, settings, utcnow()) is SignInOutcome.LOCKED_NOW:
            await end_sessions(session, account)
            return LOCKED_BY_CHANGE
        return WRONG_CURRENT
    problem = password_problem(account.login, current, new)
    if problem is not None:
        return problem
    changed = await session.scalar(  # only over the password checked: a reset meanwhile stands
        update(Account)
        .where(Account.id == account.id, Account.password_hash == checked)
        .values(password_hash=await _password_hash(new), password_change_required=False)
        .returning(Account.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(account)
    if changed is None:
        return WRONG_CURRENT
    await end_sessions(session, account)
    return None


# --- signing in ----------------------------------------------------------------------------------


class SignInOutcome(StrEnum):
    SIGNED_IN = "signed_in"
    WRONG = "wrong"  # the login, the password or the code: which, nobody is told
    LOCKED_NOW = "locked_now"  # this wrong try locked the account
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True)
class SignIn:
    outcome: SignInOutcome
    account: Account | None  # None: no such login


async def sign_in(
    session: AsyncSession, vault: MyNumberVault, settings: Settings, login: str, password: str, code: str
) -> SignIn:
    """Check all three together. The failure count is changed in the caller's transaction: it must
    commit whatever the outcome (the caller records it, and answers)."""
    now = utcnow()
    account = await find_account(session, login) if LOGIN_PATTERN.fullmatch(login) else None
    if account is None:
        await _password_matches(_NOBODY, password)
        return SignIn(SignInOutcome.WRONG, None)
    if account.disabled:
        return SignIn(SignInOutcome.DISABLED, account)
    if account.locked_until is not None and account.locked_until > now:
        return SignIn(SignInOutcome.LOCKED, account)
    matches = await _password_matches(account.password_hash, password)
    step = _code_step(vault, account, code, now) if matches else None
    if step is None:
        return SignIn(await _failed(session, account, settings, now), account)
    if not await _signed_in(session, account, step, now):  # locked, or the code used, meanwhile
        if account.locked_until is not None and account.locked_until > now:
            return SignIn(SignInOutcome.LOCKED, account)
        return SignIn(await _failed(session, account, settings, now), account)  # as a used code is
    if _HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = await _password_hash(password)
    await session.flush()
    return SignIn(SignInOutcome.SIGNED_IN, account)


async def signed_in_by_provider(session: AsyncSession, login: str) -> SignIn:
    """An account the city's identity provider vouched for (it checked the person's factors): the
    account must be here, enabled and not locked; password and code are not asked."""
    now = utcnow()
    account = await find_account(session, login) if LOGIN_PATTERN.fullmatch(login) else None
    if account is None:
        return SignIn(SignInOutcome.WRONG, None)
    if account.disabled:
        return SignIn(SignInOutcome.DISABLED, account)
    if account.locked_until is not None and account.locked_until > now:
        return SignIn(SignInOutcome.LOCKED, account)
    account.last_signed_in_at = now
    await session.flush()
    return SignIn(SignInOutcome.SIGNED_IN, account)


# argon2id's check and hash run in the password checks' thread: each costs a fifth of a second of CPU
# by design, which on the event loop would stop every message and page of the hub for as long.


async def _password_matches(password_hash: str, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(
        _PASSWORD_CHECKS, _verify, password_hash, password
    )


async def _password_hash(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_PASSWORD_CHECKS, _HASHER.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _code_step(vault: MyNumberVault, account: Account, code: str, now: dt.datetime) -> int | None:
    """The time step of ``code`` if it is the account's current code (or the one before or after, for
    a clock a little off) and no code of that step or later signed in before; else None."""
    if not re.fullmatch(r"[0-9]{6}", code):
        return None
    totp = pyotp.TOTP(vault.open_totp(account.totp_key_id, account.totp_ciphertext, account.login))
    current = int(now.timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if account.totp_last_step is None or step > account.totp_last_step else None
    return None


# Tries of one account may arrive together (a guesser sends them at once): each is counted, and
# each sign-in decided, by one UPDATE on the account's row, never from what was read before it.


async def _failed(
    session: AsyncSession, account: Account, settings: Settings, now: dt.datetime
) -> SignInOutcome:
    counted = update(Account).where(Account.id == account.id).execution_options(synchronize_session=False)
    failed = await session.scalar(
        counted.values(failed_attempts=Account.failed_attempts + 1).returning(Account.failed_attempts)
    )
    locks = failed is not None and failed >= settings.console_lockout_attempts
    if locks:
        until = now + dt.timedelta(seconds=settings.console_lockout_seconds)
        await session.execute(counted.values(failed_attempts=0, locked_until=until))
    await session.refresh(account)
    return SignInOutcome.LOCKED_NOW if locks else SignInOutcome.WRONG


async def _signed_in(session: AsyncSession, account: Account, step: int, now: dt.datetime) -> bool:
    """Whether this sign-in took the account: not locked meanwhile, its code's step not used."""
    taken = await session.scalar(
        update(Account)
        .where(
            Account.id == account.id,
            or_(Account.locked_until.is_(None), Account.locked_until <= now),
            or_(Account.totp_last_step.is_(None), Account.totp_last_step < step),
        )
        .values(failed_attempts=0, locked_until=None, totp_last_step=step, last_signed_in_at=now)
        .returning(Account.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(account)
    return taken is not None


# --- sessions ------------------------------------------------------------------------------------


def _hashed(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(
    session: AsyncSession,
    account: Account,
    settings: Settings,
    *,
    password_change_due: bool = False,
) -> tuple[str, ConsoleSession]:
    """A new session for ``account``: its id (for the cookie, never stored) and its row;
    ``password_change_due``: it may only change the password."""
    session_id, now = secrets.token_urlsafe(32), utcnow()
    opened = ConsoleSession(
        id_hash=_hashed(session_id),
        account_id=account.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(seconds=settings.console_session_lifetime_seconds),
        password_change_due=password_change_due,
    )
    session.add(opened)
    await session.flush()
    return session_id, opened


@dataclass(frozen=True)
class Found:
    """What a cookie's session id leads to: the live session, or why there is none."""

    session: ConsoleSession | None
    expired: str | None = None  # it was there and ended: "idle", or "lifetime" (the page says which)


async def current_session(session: AsyncSession, settings: Settings, session_id: str | None) -> Found:
    """The live session of ``session_id``, its last-seen time moved on; one that timed out, or whose
    account was disabled, is removed. Sessions long expired go with it (nobody else removes them)."""
    if not session_id:
        return Found(None)
    now = utcnow()
    found = await session.get(ConsoleSession, _hashed(session_id))
    await session.execute(
        delete(ConsoleSession)
        .where(ConsoleSession.expires_at < now)
        .execution_options(synchronize_session=False)
    )
    if found is None:
        return Found(None)
    idle = now - found.last_seen_at > dt.timedelta(seconds=settings.console_idle_timeout_seconds)
    if idle or found.expires_at <= now or found.account.disabled:
        await session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == found.id_hash))
        return Found(None, expired="idle" if idle else "lifetime")
    found.last_seen_at = now
    await session.flush()
    return Found(found)


async def close_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _hashed(session_id)))


async def end_sessions(session: AsyncSession, account: Account) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.account_id == account.id))
    await session.flush()


def csrf_matches(console_session: ConsoleSession, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(console_session.csrf_token.encode(), token.encode())
