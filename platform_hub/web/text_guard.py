"""Text no database can store — a NUL character, a lone UTF-16 surrogate — refused at the door (E1002)
wherever a request carries it: the path, the query, a JSON body. Found by fuzzing: PostgreSQL refuses
NUL in text and no driver encodes a lone surrogate, which made a 500 of a bad request."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_hub.kit.errors import HubError, SchemaViolation
from platform_hub.kit.text import unstorable


class TextGuard:
    def __init__(self, app: ASGIApp, refuse: Callable[[HubError], Response]) -> None:
        self.app, self.refuse = app, refuse  # the app's own rendering of an error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = unstorable(scope["path"]) or b"%00" in scope["query_string"].lower()
        if not bad and _is_json(scope):
            body = await _read(receive)
            bad = _json_unstorable(body)
            receive = _replay(body, receive)
        if bad:
            error = SchemaViolation("the request holds text no database stores (a NUL or a lone surrogate)")
            await self.refuse(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    return bool(content_type.split(b";")[0].strip().endswith(b"json"))


async def _read(receive: Receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _json_unstorable(body: bytes) -> bool:
    try:
        return unstorable(json.loads(body))
    except ValueError:
        return False  # not JSON: the endpoint's own validation says so


def _replay(body: bytes, then: Receive) -> Receive:
    """The body once more, then whatever the client does next (a disconnect, in time)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
