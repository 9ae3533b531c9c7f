"""The console's パスワード変更 page: the current password, a new one the policy takes
(``accounts.password_problem``), typed twice. A session signed in with a password an administrator
handed over opens this page and nothing else until the change; anybody signed in may change theirs
from the page header at will.

The change ends every session of the account (one opened elsewhere with the old password too) and
gives this browser a new one, a full one, as a sign-in would (the current password was given). Each
change and each refusal is in the operations record as ``console.password.change`` — with why, never
what was typed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from platform_hub.accounts import service as accounts
from platform_hub.console.pages import PREFIX, page
from platform_hub.console.signing import (
    LOCKED,
    SESSION_COOKIE,
    Changing,
    CsrfField,
    SignedIn,
    check_csrf,
    password_turn,
    record_lock,
    set_cookie,
    signin_page,
)
from platform_hub.kit.database import unit_of_work
from platform_hub.models import Account

router = APIRouter(prefix=PREFIX, include_in_schema=False)
ACTION = "console.password.change"
DUE = "管理者から渡されたパスワードのままです。続ける前に、自分だけが知るパスワードに変更してください"
NOT_THE_SAME_TWICE = "新しいパスワードと確認のパスワードが一致しません"
Password = Annotated[str, Form(max_length=200)]


@router.get("/password")
async def password_form(person: Changing) -> Response:
    return _page(person)


@router.post("/password")
async def change_password(
    request: Request,
    person: Changing,
    csrf: CsrfField = None,
    current: Password = "",
    new: Password = "",
    confirmation: Password = "",
) -> Response:
    await check_csrf(person, csrf, ACTION)
    due = person.password_change_due
    async with password_turn(request), unit_of_work(person.hub.sessions) as session:
        account = await session.get(Account, person.account.id)
        assert account is not None  # its session is live: the account is there
        problem = NOT_THE_SAME_TWICE if new != confirmation else None
        problem = problem or await accounts.change_password(
            session, person.hub.settings, account, current, new
        )
        if problem == accounts.LOCKED_BY_CHANGE:
            await record_lock(person.hub, session, account)
        if problem is None:
            # The current password was just given again: a session as a sign-in's, lifetime and all.
            session_id, _ = await accounts.open_session(session, account, person.hub.settings)
            await person.record(
                session, ACTION, detail="password changed" + (": the initial one" if due else "")
            )
    if problem == accounts.LOCKED_BY_CHANGE:  # its sessions ended: signed out, as a lock signs out
        await person.refuse(ACTION, problem, 423)
        return signin_page(request, error=LOCKED, status=423)
    if problem is not None:
        await person.refuse(ACTION, problem, 400)
        return _page(person, error=problem, status_code=400)
    answer = RedirectResponse(PREFIX, status_code=303)
    set_cookie(request, answer, SESSION_COOKIE, session_id)
    return answer


def _page(person: SignedIn, *, error: str | None = None, status_code: int = 200) -> Response:
    notice = DUE if person.password_change_due else None
    context = person.context(error=error, notice=notice, min_length=accounts.MIN_PASSWORD_LENGTH)
    return page("password.html", context, status_code=status_code)
