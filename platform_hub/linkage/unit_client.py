"""The HTTP client to units: POST an envelope to a unit and read its answer (``route()``, which unit
gets a message, is in ``service.py``)."""

from __future__ import annotations

import asyncio
import copy

import aiohttp
from lxml import etree

from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import Unit
from platform_hub.protocol import characters
from platform_hub.protocol.envelope import SOAP_CONTENT_TYPE, Envelope, read_envelope, read_fault
from platform_hub.protocol.errors import DeliveryFailed, HubError
from platform_hub.protocol.specs import InterfaceSpec
from platform_hub.protocol.xml import parse_xml, read_off_loop

# A unit's answer may be larger than what units may send the hub (a household, a batch report).
_MAX_ANSWER_BYTES = 64 * 1024 * 1024
_HEADERS = {"Content-Type": SOAP_CONTENT_TYPE, "SOAPAction": '""'}


def unit_session() -> aiohttp.ClientSession:
    """The process's one client to the units. aiohttp, chosen by measurement: a tenth of httpx's CPU
    per call (docs/performance.md). Kept-alive connections are dropped before a unit would drop them
    (uvicorn's default keep-alive is 5 s), so a POST is not sent on a connection the unit is closing."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=4),
        timeout=aiohttp.ClientTimeout(total=None),  # each call sets its own, in _post
        skip_auto_headers=("User-Agent",),
    )


def envelope_for(unit: Unit, envelope: Envelope, spec: InterfaceSpec) -> bytes:
    """The envelope as ``unit`` takes it: for a unit whose system holds JIS X 0213 only
    (``characters: jisx0213``), each N item's text fallen back (docs/characters.md)."""
    if unit.characters != "jisx0213":
        return envelope.to_bytes()
    root = copy.deepcopy(envelope.root)
    characters.fall_back_items(root, {item.romaji for item in spec.all_items() if item.type == "N"})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def unit_endpoint(unit: Unit) -> str:
    return f"{unit.base_url}/linkage/messages"


async def _post(state: LinkageRuntime, unit: Unit, body: bytes, wait_seconds: float) -> tuple[int, bytes]:
    """POST to the unit; its whole answer must arrive within ``wait_seconds`` and the size cap (a unit
    trickling bytes cannot hold the hub)."""
    try:
        async with asyncio.timeout(wait_seconds):
            async with state.http.post(unit_endpoint(unit), data=body, headers=_HEADERS) as response:
                chunks, size = [], 0
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                    if size > _MAX_ANSWER_BYTES:
                        raise DeliveryFailed(f"unit {unit.code} answered more than {_MAX_ANSWER_BYTES} bytes")
                    chunks.append(chunk)
                return response.status, b"".join(chunks)
    except TimeoutError:
        raise DeliveryFailed(
            f"unit {unit.code} did not answer within {wait_seconds:g} s", status_code=504
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise DeliveryFailed(f"unit {unit.code} could not be reached: {type(exc).__name__}") from None


async def forward_query(state: LinkageRuntime, provider: Unit, body: bytes) -> Envelope:
    """Send a query to its provider and return the provider's ``_S01`` envelope (not yet validated)."""
    status, content = await _post(state, provider, body, state.settings.query_timeout_seconds)
    try:
        root = await read_off_loop(
            parse_xml, content, max_bytes=_MAX_ANSWER_BYTES, limits=state.settings.answer_xml_limits
        )
    except HubError as exc:
        raise DeliveryFailed(
            f"unit {provider.code} answered HTTP {status} that is not a usable message: {exc.message}"
        ) from None
    fault = read_fault(root)
    if fault is not None:
        raise DeliveryFailed(f"unit {provider.code} answered a fault: {fault[0]} {fault[1]}")
    if status != 200:
        raise DeliveryFailed(f"unit {provider.code} answered HTTP {status}")
    try:
        return read_envelope(root)
    except HubError as exc:
        raise DeliveryFailed(f"unit {provider.code} answered a malformed envelope: {exc.message}") from None


async def deliver_notification(state: LinkageRuntime, subscriber: Unit, body: bytes) -> None:
    """Deliver a notification; any 2xx is the subscriber's acknowledgement."""
    status, _ = await _post(state, subscriber, body, state.settings.delivery_timeout_seconds)
    if not 200 <= status < 300:
        raise DeliveryFailed(f"unit {subscriber.code} answered HTTP {status}")
