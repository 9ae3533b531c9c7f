"""The hub's door: what every HTTP request passes before FastAPI or an endpoint reads its body.

- The bearer token, on every path but the public ones, before a byte of the body is read (E2001).
  FastAPI reads and parses a JSON body before it solves the endpoint's dependencies, so the check
  those make (they stay the authority for roles and scopes) comes too late to spare the memory.
- Every other body is read whole here, capped before it is buffered — the token endpoint's form at
  ``max_form_bytes``, the rest (JSON, the ordinance's YAML) at ``max_json_bytes``: a declared length
  over the cap is refused at once, a streamed body is counted as it arrives (413, E1001). JSON nested
  deeper than ``max_json_depth`` is E1002 (it made a RecursionError, a 500).
- Every body must keep arriving at a minimum rate once a grace period is over, or the request is
  dropped (408, E1001): the server has no body timeout, and a client trickling a body would hold its
  request forever.
- Text no database can store — a NUL, a lone UTF-16 surrogate — wherever the request carries it
  (E1002): found by fuzzing, it made a 500 of a bad request on PostgreSQL.

The SOAP endpoints stream their bodies to caps of their own and check the token before they read
(``web.linkage.soap_exchange``); the guard only paces their bodies (``paced``), and they answer its
refusal as a SOAP Fault.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_hub.kit.settings import Settings
from platform_hub.kit.text import unstorable
from platform_hub.protocol.errors import HubError, MalformedMessage, SchemaViolation
from platform_hub.web.security import authenticate

FORMS = (b"application/x-www-form-urlencoded", b"multipart/form-data")


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        public: frozenset[str],
        streamed: frozenset[str],
        public_prefixes: tuple[str, ...] = (),
        refuse: Callable[[HubError, str], Response],
    ) -> None:
        self.app, self.settings = app, settings
        self.streamed = streamed  # their endpoints check the token, and read the body, themselves
        self.unchecked = public | streamed
        # Whole trees that authenticate their requests another way (the console: a session cookie).
        self.public_prefixes = public_prefixes
        self.refuse = refuse  # the app's own rendering of an error at a path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, send = paced(scope, receive, send, self.settings)
        try:
            if scope["path"] not in self.unchecked and not self._public_tree(scope["path"]):
                authenticate(Request(scope))
            if unstorable(scope["path"]) or b"%00" in scope["query_string"].lower():
                raise _unstorable()
            receive = body
            if scope["path"] not in self.streamed:
                whole = await self._read_whole(scope, body)
                if whole is None:
                    return  # the client went away: nobody to answer
                if _kind(scope).endswith(b"json"):
                    self._check_json(whole)
                receive = _replay(whole, body)
        except HubError as error:
            await self.refuse(error, scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _public_tree(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix) for prefix in self.public_prefixes if prefix)

    async def _read_whole(self, scope: Scope, body: PacedBody) -> bytes | None:
        """The body, refused as soon as it passes its cap; None if the client disconnected."""
        cap = self.settings.max_form_bytes if _kind(scope) in FORMS else self.settings.max_json_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > cap:
            raise _too_large(cap)
        chunks, size = [], 0
        while not body.complete:
            message = await body()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                raise _too_large(cap)
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_json(self, body: bytes) -> None:
        limit = self.settings.max_json_depth
        try:
            document = json.loads(body)
        except RecursionError:  # nested deeper than the parser goes
            raise _too_deep(limit) from None
        except ValueError:
            return  # not JSON: the endpoint's own validation says so
        if _depth(document) > limit:
            raise _too_deep(limit)
        if unstorable(document):
            raise _unstorable()


def paced(scope: Scope, receive: Receive, send: Send, settings: Settings) -> tuple[PacedBody, Send]:
    """The request's body paced (``PacedBody``), and its answer closing the connection unless the body
    was read to its end: what every request gets, the linkage endpoint too (``web.app.Hub`` takes it
    past the middleware)."""
    body = PacedBody(receive, scope, settings)
    return body, _closing_unless_read(body, send)


class PacedBody:
    """The request's body as it is received, refused (408) as soon as it falls behind: by any moment
    after the grace period, ``rate`` bytes for every second since the grace period ended."""

    def __init__(self, receive: Receive, scope: Scope, settings: Settings) -> None:
        self._receive = receive
        self._rate = settings.body_min_bytes_per_second
        self._grace_over = asyncio.get_running_loop().time() + settings.body_grace_seconds
        self.received = 0
        self.complete = not _has_body(scope)

    async def __call__(self) -> Message:
        if self.complete:  # what follows the body (a disconnect) may take as long as the answer does
            return await self._receive()
        try:
            async with asyncio.timeout_at(self._grace_over + self.received / self._rate):
                message = await self._receive()
        except TimeoutError:
            raise MalformedMessage(
                f"the request body arrives slower than {self._rate} bytes a second; dropped",
                status_code=408,
            ) from None
        self.received += len(message.get("body", b""))
        self.complete = not message.get("more_body", False)  # its end, or a disconnect
        return message


def _closing_unless_read(body: PacedBody, send: Send) -> Send:
    """An answer given before the body was read to its end closes the connection: the rest of the body
    is not worth reading, and the server would otherwise read it all to reach the next request."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start" and not body.complete:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return closing


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope["headers"] if key == name), None)


def _kind(scope: Scope) -> bytes:
    return (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()


def _declared_length(scope: Scope) -> int | None:
    declared = _header(scope, b"content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


def _has_body(scope: Scope) -> bool:
    return bool(_declared_length(scope)) or _header(scope, b"transfer-encoding") is not None


def _depth(document: Any) -> int:
    """How deep arrays and objects nest in a parsed JSON document (without recursion: it may be deep)."""
    deepest, pending = 0, [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth + 1)
            pending.extend((item, depth + 1) for item in value)
    return deepest


def _too_large(cap: int) -> MalformedMessage:
    return MalformedMessage(f"the request body exceeds the limit of {cap} bytes", status_code=413)


def _too_deep(limit: int) -> SchemaViolation:
    return SchemaViolation(f"the JSON body is nested deeper than {limit} levels")


def _unstorable() -> SchemaViolation:
    return SchemaViolation("the request holds text no database stores (a NUL or a lone surrogate)")


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
