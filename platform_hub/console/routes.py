"""The console on the hub's app: its routes, its styles, and how its refusals are answered (as
pages, not the API's JSON). The web layer calls ``install`` (web/app.py)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from platform_hub.console import (
    compliance,
    daily,
    deliveries,
    impact,
    oidc,
    operations,
    password,
    records,
    signing,
    units,
    verification,
)
from platform_hub.console.pages import PREFIX, STATIC, STATIC_URL, ConsoleHeaders, page
from platform_hub.console.signing import PasswordChangeDue, Refused, SignInNeeded
from platform_hub.kit.ratelimit import RateLimit
from platform_hub.kit.settings import Settings


def install(app: FastAPI, settings: Settings) -> str:
    """Serve the console on ``app``; the path prefix it takes, whose requests carry no bearer token
    (the console authenticates them by its session cookie)."""
    app.state.console_signins = RateLimit(settings.console_signin_rate_limit, settings.rate_limit_storage)
    app.state.password_turn = asyncio.Semaphore(2)  # one checking, one next (signing.password_turn)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="console-static")
    app.include_router(signing.router)
    app.include_router(oidc.router)
    app.include_router(password.router)
    app.include_router(records.router)
    app.include_router(compliance.router)
    app.include_router(verification.router)
    app.include_router(operations.router)
    app.include_router(impact.router)
    app.include_router(deliveries.router)
    app.include_router(units.router)
    app.include_router(daily.router)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        """A browser pointed at the hub finds the console."""
        return RedirectResponse(PREFIX, status_code=307)

    app.add_exception_handler(SignInNeeded, _to_signin)
    app.add_exception_handler(PasswordChangeDue, _to_password)
    app.add_exception_handler(Refused, _refused)
    app.add_middleware(ConsoleHeaders)
    return PREFIX


async def _to_signin(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    answer = RedirectResponse(
        f"{PREFIX}/signin{f'?expired={exc.expired}' if exc.expired else ''}", status_code=303
    )
    if exc.expired:
        answer.delete_cookie(signing.SESSION_COOKIE, path=PREFIX)
    return answer


async def _to_password(_: Request, exc: Exception) -> Response:
    return RedirectResponse(signing.PASSWORD_PAGE, status_code=303)


async def _refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return page(
        "refused.html", {"message": exc.message, "status": exc.status_code}, status_code=exc.status_code
    )
