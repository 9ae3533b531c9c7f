"""The hub's HTTP API as a unit uses it: JSON calls and linkage messages, each with a bearer token.

Messages are resent with the same MSGID when the hub could not be reached or was busy, or when the
unit was over its rate limit and told to come back within seconds: the hub treats a resent MSGID as
the same message, so a retry never doubles a transfer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from platform_hub.protocol.envelope import SOAP_CONTENT_TYPE, Envelope, lk, read_envelope, read_fault
from platform_hub.protocol.errors import HubError
from platform_hub.protocol.namespaces import SOAP
from platform_hub.protocol.xml import XmlLimits, parse_xml
from platform_hub_sdk.auth import TokenSource, json_error
from platform_hub_sdk.errors import LinkageError

log = logging.getLogger("platform_hub_sdk")
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a household or a batch report can be large
# What the hub sends a unit: a chunk of a batch holds a thousand records (the hub's default).
HUB_XML_LIMITS = XmlLimits(depth=64, namespaces=64, attributes=32, elements=1_000_000)
_ATTEMPTS = 4
# The longest Retry-After waited for; a longer one (a limit per minute) is the caller's to decide.
MAX_WAIT_SECONDS = 10.0


class HubConnection:
    """One HTTP client to the hub, shared by every call of a unit."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, method: str, path: str, tokens: TokenSource | None, body: Any = None) -> Any:
        """A JSON call; a refused one raises the hub's code as ``LinkageError``."""
        for attempt in (1, 2):
            headers = await tokens.headers() if tokens is not None else {}
            response = await self.http.request(method, path, json=body, headers=headers)
            if response.status_code == 401 and tokens is not None and attempt == 1:
                tokens.invalidate()  # expired early or revoked: one fresh token, then give up
                continue
            wait = _retry_after(response) if response.status_code == 429 else None
            if wait is not None and attempt == 1:
                await asyncio.sleep(wait)
                continue
            if response.status_code >= 400:
                raise json_error(response)
            return response.json()
        raise AssertionError("unreachable")

    async def get_bytes(self, path: str, tokens: TokenSource) -> bytes:
        response = await self.http.get(path, headers=await tokens.headers())
        if response.status_code != 200:
            raise json_error(response)
        return response.content

    async def send(self, body: bytes, tokens: TokenSource) -> Envelope:
        """POST a linkage message; the hub's ``_S01`` answer, or its Fault raised as ``LinkageError``."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                response = await self.http.post(
                    "/linkage/messages",
                    content=body,
                    headers={"Content-Type": SOAP_CONTENT_TYPE, **await tokens.headers()},
                )
            except httpx.TransportError as exc:
                if attempt == _ATTEMPTS:
                    raise LinkageError(
                        "E4001", f"the hub could not be reached: {type(exc).__name__}"
                    ) from None
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            answer = _read_answer(response)
            if isinstance(answer, Envelope):
                return answer
            if answer.code == "E2001" and attempt == 1:
                tokens.invalidate()
                continue
            wait = _retry_after(response) if answer.code in ("E5001", "E2003") else None
            if wait is not None and attempt < _ATTEMPTS:
                await asyncio.sleep(wait)
                continue
            raise answer
        raise AssertionError("unreachable")


def _retry_after(response: httpx.Response) -> float | None:
    """How long the hub asked to wait (E5001 busy, E2003 over the rate limit), if short enough."""
    try:
        wait = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_WAIT_SECONDS else None


def _read_answer(response: httpx.Response) -> Envelope | LinkageError:
    try:
        root = parse_xml(response.content, max_bytes=MAX_ANSWER_BYTES, limits=HUB_XML_LIMITS)
    except HubError:
        return LinkageError(
            "E5001" if response.status_code == 503 else "E5000",
            f"the hub answered HTTP {response.status_code} without a SOAP message",
            status_code=response.status_code,
        )
    fault = read_fault(root)
    if fault is not None:
        code, message = fault
        reception = root.findtext(f"{{{SOAP}}}Body/{{{SOAP}}}Fault/detail/{lk('ReceptionNumber')}")
        details = [e.text or "" for e in root.iterfind(f".//{lk('ErrorDetail')}")]
        return LinkageError(
            code, message, status_code=response.status_code, reception_number=reception, details=details
        )
    if response.status_code != 200:
        return LinkageError("E5000", f"the hub answered HTTP {response.status_code}")
    try:
        return read_envelope(root)
    except HubError as exc:
        return LinkageError("E5000", f"the hub's answer is not a linkage message: {exc.message}")
