"""How the console answers: pages rendered on the server from the package's templates (escaping on),
its styles from the package, and the headers every console response carries.

Nothing of a page comes from anywhere but the hub, and nothing runs that the hub did not ship as a
file: the Content-Security-Policy allows no inline script or style, so a name a unit registered
(``<script>…``) is text on the page, whatever it holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_hub.audit.operations import MASK, holds_my_number, masked
from platform_hub.kit.clock import city_zone
from platform_hub.ordinance.service import FIRST_DAY, LAST_DAY

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PREFIX = "/console"
STATIC_URL = f"{PREFIX}/static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    # Pages hold who received whose information: no browser or proxy keeps a copy.
    "cache-control": "no-store",
}

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every value is escaped, whatever the template's name
    undefined=StrictUndefined,  # a name a template misspells fails the test, not silently blank
    trim_blocks=True,
    lstrip_blocks=True,
)


def city_time(moment: dt.datetime | None) -> str:
    """A moment as people in the city read it."""
    return "" if moment is None else moment.astimezone(city_zone()).strftime("%Y-%m-%d %H:%M:%S")


_templates.filters["city_time"] = city_time
_templates.globals["static"] = STATIC_URL


def day_of(value: str | None) -> dt.date | None:
    """A day a form gave (``YYYY-MM-DD``), or None when it is none or no day the record can hold."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


def query_url(path: str, given: Mapping[str, str]) -> str:
    """``path`` with a page's filters (or other parameters) as its query, none when there are none."""
    return f"{path}?{urlencode(given)}" if given else path


def page(template: str, context: Mapping[str, Any], *, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(template).render(**context), status_code=status_code)


class ConsoleHeaders:
    """The console's headers on every response under ``/console`` (its pages, its styles, its
    redirects and refusals), and on ``/``, which sends browsers there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != "/" and path != PREFIX and not path.startswith(f"{PREFIX}/"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in HEADERS]
                added = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": kept + added}
            await send(message)

        await self.app(scope, receive, with_headers)


def given_filters(
    asked: Mapping[str, str], names: Iterable[str], labels: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The filters a form sent (each stripped, empty ones left out), and a problem for each shaped
    like a 個人番号: such a value is no filter anywhere, and it comes back masked — a page shows the
    filters it was given, in its message and in its fields. Check the others with ``unmasked``."""
    given, problems = {}, []
    for name in names:
        value = asked.get(name, "").strip()
        if holds_my_number(value):
            value = masked(value) or ""
            problems.append(f"{labels[name]}に個人番号は使えません")
        if value:
            given[name] = value
    return given, problems


def unmasked(given: Mapping[str, str]) -> dict[str, str]:
    """The filters of ``given_filters`` left to check: those not masked."""
    return {name: value for name, value in given.items() if MASK not in value}
