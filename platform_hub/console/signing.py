"""Signing in and out of the console, the signed-in person of a request, and what each role may open.

The cookie holds the session id only (HttpOnly, SameSite=Strict, Path=/console, Secure when the hub is
reached over https); every POST form carries the session's CSRF token, and the sign-in form a token
of its own, bound to a cookie, before there is a session. Each sign-in, failure, lock-out and
sign-out is in the operations record: the actor is ``console:LOGIN`` with the account's role —
never what was typed as a password or a code, nor a login nobody has (it may be a password typed
in the wrong field).

An account whose password an administrator handed over signs in to a session that may only change
it (``password_change_due``): every other page sends the browser to パスワード変更 (password.py),
which replaces the session with a full one. Only signing out is open to it besides.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.accounts import service as accounts
from platform_hub.accounts.service import SignInOutcome
from platform_hub.audit.operations import Actor, record_operation
from platform_hub.console.pages import PREFIX, page
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.runtime import Runtime
from platform_hub.models import Account, AccountRole, ConsoleSession, OperationOutcome
from platform_hub.protocol.errors import RateLimited

SESSION_COOKIE = "platform_hub_console"
SIGNIN_COOKIE = "platform_hub_console_signin"  # the sign-in form's CSRF token, before any session
WRONG = "ログインID、パスワードまたは確認コードが違います"
LOCKED = "このアカウントはロックされています。しばらくしてからやり直すか、管理者に解除を依頼してください"
DISABLED = "このアカウントは使用できません。管理者に問い合わせてください"
EXPIRED = {
    "idle": "一定時間操作がなかったため、サインアウトしました。もう一度サインインしてください",
    "lifetime": "サインインから時間がたったため、サインアウトしました。もう一度サインインしてください",
}
SIGNED_OUT = "サインアウトしました"
PASSWORD_PAGE = f"{PREFIX}/password"
TOO_MANY = "サインインの試行が多すぎます。しばらくしてからやり直してください"

# The console's pages and who may open them (the rest of the console adds its own).
PAGES: dict[str, tuple[str, str, frozenset[AccountRole]]] = {
    "transfers": ("連携記録", f"{PREFIX}/transfers", frozenset({AccountRole.AUDITOR, AccountRole.ADMIN})),
    "persons": ("やりとり履歴", f"{PREFIX}/persons", frozenset({AccountRole.AUDITOR, AccountRole.ADMIN})),
    "compliance": (
        "条例適合性",
        f"{PREFIX}/compliance",
        frozenset({AccountRole.AUDITOR, AccountRole.MYNUMBER_OFFICE, AccountRole.ADMIN}),
    ),
    "verification": (
        "記録の検証",
        f"{PREFIX}/verification",
        frozenset({AccountRole.AUDITOR, AccountRole.ADMIN}),
    ),
    "operations": ("操作記録", f"{PREFIX}/operations", frozenset({AccountRole.AUDITOR, AccountRole.ADMIN})),
    "impact": (
        "条例改正の影響",
        f"{PREFIX}/impact",
        frozenset({AccountRole.MYNUMBER_OFFICE, AccountRole.ADMIN}),
    ),
    "deliveries": ("配送", f"{PREFIX}/deliveries", frozenset({AccountRole.OPERATOR, AccountRole.ADMIN})),
    "units": ("業務ユニット", f"{PREFIX}/units", frozenset({AccountRole.OPERATOR, AccountRole.ADMIN})),
    "daily": (
        "日次報告",
        f"{PREFIX}/daily",
        frozenset({AccountRole.MYNUMBER_OFFICE, AccountRole.AUDITOR, AccountRole.ADMIN}),
    ),
}
UNKNOWN_ACTOR = Actor(client_id="console:-", role="anonymous")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def runtime(request: Request) -> Runtime:
    hub: Runtime = request.app.state.hub
    return hub


def actor_of(account: Account) -> Actor:
    return Actor(client_id=f"console:{account.login}", role=account.role.value)


class SignInNeeded(Exception):
    """No live session: the browser goes to the sign-in page (saying so when the session timed out)."""

    def __init__(self, *, expired: str | None) -> None:
        super().__init__("sign in")
        self.expired = expired


class PasswordChangeDue(Exception):
    """A session that may only change its password asked for another page: the browser goes to the
    change page."""

    def __init__(self) -> None:
        super().__init__("change the password first")


class Refused(Exception):
    """A console request refused: answered with a page saying why, and its status."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.message, self.status_code = message, status_code


@dataclass
class SignedIn:
    """The person behind a request, and the session it came with."""

    hub: Runtime
    account: Account
    session: ConsoleSession

    @property
    def actor(self) -> Actor:
        return actor_of(self.account)

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    @property
    def password_change_due(self) -> bool:
        return self.session.password_change_due

    def may_open(self, name: str) -> bool:
        return not self.password_change_due and self.account.role in PAGES[name][2]

    def pages(self) -> list[tuple[str, str]]:
        return [(title, url) for name, (title, url, _) in PAGES.items() if self.may_open(name)]

    def context(self, **more: Any) -> dict[str, Any]:
        """What every page's frame shows: who is signed in, their pages, the sign-out form's token."""
        return {"account": self.account, "pages": self.pages(), "csrf": self.csrf, **more}

    async def record(
        self,
        session: AsyncSession,
        action: str,
        *,
        subject: str | None = None,
        outcome: OperationOutcome = OperationOutcome.OK,
        detail: str | None = None,
        parameters: Mapping[str, object] | None = None,
    ) -> None:
        """An operations record entry in ``session``'s transaction, by this person (``parameters``:
        what was asked, never a value of a person's attributes)."""
        key = self.hub.require_vault().record_key
        await record_operation(
            session,
            key,
            self.actor,
            action,
            subject=subject,
            outcome=outcome,
            detail=detail,
            parameters=parameters,
        )

    async def refuse(
        self, action: str, message: str, status_code: int = 403, *, detail: str | None = None
    ) -> Refused:
        """A refusal, recorded in a transaction of its own (``detail``, or the page's ``message``);
        raise what it returns."""
        async with unit_of_work(self.hub.sessions) as session:
            await self.record(session, action, outcome=OperationOutcome.REFUSED, detail=detail or message)
        return Refused(message, status_code)


async def signed_in_at_all(request: Request) -> SignedIn:
    """The request's live session (its last-seen time moved on, committed), or to the sign-in page;
    whether or not its password must change first."""
    hub = runtime(request)
    async with unit_of_work(hub.sessions) as session:
        found = await accounts.current_session(session, hub.settings, request.cookies.get(SESSION_COOKIE))
    if found.session is None:
        raise SignInNeeded(expired=found.expired)
    return SignedIn(hub, found.session.account, found.session)


async def signed_in(request: Request) -> SignedIn:
    """The request's live session, or to the sign-in page — or to the change page, if the session
    may only change its password."""
    person = await signed_in_at_all(request)
    if person.password_change_due:
        raise PasswordChangeDue()
    return person


Person = Annotated[SignedIn, Depends(signed_in)]
# The change page and signing out: open to a session that must change its password first.
Changing = Annotated[SignedIn, Depends(signed_in_at_all)]
CsrfField = Annotated[str | None, Form(alias="csrf")]


def may_open(name: str) -> Any:
    """A dependency: the signed-in person, if their role may open the page ``name`` (else 403, recorded)."""

    async def check(request: Request, person: Person) -> SignedIn:
        if not person.may_open(name):
            where = f"{request.method} {request.url.path}"
            title = PAGES[name][0]
            raise await person.refuse(
                "access.refuse", f"{title}を開く権限がありません", detail=f"{where}: {title}"
            )
        return person

    return Depends(check)


async def check_csrf(person: SignedIn, token: str | None, action: str) -> None:
    if not accounts.csrf_matches(person.session, token):
        raise await person.refuse(action, "フォームの確認用トークンがありません。ページを開き直してください")


# --- the pages -----------------------------------------------------------------------------------


@router.get("/signin")
async def signin_form(request: Request, expired: str | None = None, signed_out: bool = False) -> Response:
    message = EXPIRED.get(expired or "") or (SIGNED_OUT if signed_out else None)
    return signin_page(request, notice=message)


def signin_page(
    request: Request, *, error: str | None = None, notice: str | None = None, status: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    settings = runtime(request).settings
    provider = settings.console_oidc_label if settings.console_oidc_issuer else None
    context = {"csrf": token, "error": error, "notice": notice, "provider": provider}
    answer = page("signin.html", context, status_code=status)
    set_cookie(request, answer, SIGNIN_COOKIE, token)
    return answer


@router.post("/signin")
async def signin(
    request: Request,
    csrf: CsrfField = None,
    login: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Login, password and code together; the same answer whichever was wrong."""
    hub = runtime(request)
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not csrf or not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        async with unit_of_work(hub.sessions) as session:
            await record_signin(hub, session, None, OperationOutcome.REFUSED, "no sign-in form token")
        raise Refused("フォームの確認用トークンがありません。サインインのページを開き直してください", 403)
    if not await may_try(request):
        async with unit_of_work(hub.sessions) as session:
            await record_signin(
                hub, session, None, OperationOutcome.REFUSED, "too many attempts from one address"
            )
        return signin_page(request, error=TOO_MANY, status=429)
    login = login.strip()
    async with password_turn(request), unit_of_work(hub.sessions) as session:
        tried = await accounts.sign_in(
            session, hub.require_vault(), hub.settings, login, password, code.strip()
        )
        account = tried.account
        if tried.outcome is not SignInOutcome.SIGNED_IN:
            await record_failure(hub, session, tried)
        else:
            assert account is not None
            due = account.password_change_required
            session_id, _ = await accounts.open_session(
                session, account, hub.settings, password_change_due=due
            )
            await record_signin(hub, session, account, OperationOutcome.OK, "signed in")
    if tried.outcome is not SignInOutcome.SIGNED_IN:
        status = 423 if tried.outcome in (SignInOutcome.LOCKED, SignInOutcome.LOCKED_NOW) else 401
        return signin_page(request, error=FAILURES[tried.outcome], status=status)
    answer = RedirectResponse(PASSWORD_PAGE if due else PREFIX, status_code=303)
    set_cookie(request, answer, SESSION_COOKIE, session_id)
    answer.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return answer


def password_turn(request: Request) -> asyncio.Semaphore:
    """Taken before a password is checked, and before the database connection for it: the checks go
    one at a time (``accounts._PASSWORD_CHECKS``), and a flood of sign-ins must wait without holding
    the connections the messages need."""
    turn: asyncio.Semaphore = request.app.state.password_turn
    return turn


async def may_try(request: Request) -> bool:
    """Within the sign-in attempts one address may make (``console_signin_rate_limit``)."""
    address = request.client.host if request.client else "unknown"
    try:
        await request.app.state.console_signins.take(f"console-signin:{address}")
    except RateLimited:
        return False
    return True


FAILURES = {
    SignInOutcome.WRONG: WRONG,
    SignInOutcome.LOCKED_NOW: LOCKED,
    SignInOutcome.LOCKED: LOCKED,
    SignInOutcome.DISABLED: DISABLED,
}
_FAILURE_DETAILS = {
    SignInOutcome.WRONG: "wrong login, password or code",
    SignInOutcome.LOCKED_NOW: "wrong login, password or code: locked",
    SignInOutcome.LOCKED: "locked",
    SignInOutcome.DISABLED: "disabled",
}


async def record_failure(hub: Runtime, session: AsyncSession, tried: accounts.SignIn) -> None:
    detail = _FAILURE_DETAILS[tried.outcome]
    if tried.account is not None and tried.outcome is SignInOutcome.WRONG:
        detail += f" ({tried.account.failed_attempts} in a row)"
    await record_signin(hub, session, tried.account, OperationOutcome.REFUSED, detail)
    if tried.outcome is SignInOutcome.LOCKED_NOW:
        assert tried.account is not None
        await record_lock(hub, session, tried.account)


async def record_lock(hub: Runtime, session: AsyncSession, account: Account) -> None:
    until = f"locked until {account.locked_until:%Y-%m-%dT%H:%M:%SZ}"
    key = hub.require_vault().record_key
    await record_operation(session, key, actor_of(account), "console.lock", detail=until)


async def record_signin(
    hub: Runtime, session: AsyncSession, account: Account | None, outcome: OperationOutcome, detail: str
) -> None:
    actor = actor_of(account) if account is not None else UNKNOWN_ACTOR
    key = hub.require_vault().record_key
    await record_operation(session, key, actor, "console.signin", outcome=outcome, detail=detail)


@router.post("/signout")
async def signout(request: Request, person: Changing, csrf: CsrfField = None) -> Response:
    await check_csrf(person, csrf, "console.signout")
    async with unit_of_work(person.hub.sessions) as session:
        await accounts.close_session(session, request.cookies.get(SESSION_COOKIE, ""))
        await person.record(session, "console.signout")
    answer = RedirectResponse(f"{PREFIX}/signin?signed_out=true", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return answer


@router.get("")
async def home(person: Person) -> Response:
    return page("home.html", person.context(role_name=person.account.role.ja))


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    public_url = runtime(request).settings.public_url or ""
    secure = public_url.startswith("https://") or request.url.scheme == "https"
    response.set_cookie(name, value, path=PREFIX, httponly=True, samesite="strict", secure=secure)
