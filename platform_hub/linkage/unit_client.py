"""The HTTP client to units: POST an envelope to a unit and read its answer (``route()``, which unit
gets a message, is in ``service.py``)."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import aiohttp

from platform_hub.auth.service import da_scope, issue_token
from platform_hub.kit.clock import city_now
from platform_hub.kit.settings import Settings
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import Binding, Unit
from platform_hub.protocol import characters, rest
from platform_hub.protocol.envelope import SOAP_CONTENT_TYPE, Envelope, lk, read_envelope, read_fault
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
    return _as_unit_takes(unit, envelope, spec).to_bytes()


def _as_unit_takes(unit: Unit, envelope: Envelope, spec: InterfaceSpec) -> Envelope:
    if unit.characters != "jisx0213":
        return envelope
    root = copy.deepcopy(envelope.root)
    characters.fall_back_items(root, {item.romaji for item in spec.all_items() if item.type == "N"})
    return read_envelope(root)


def unit_endpoint(unit: Unit) -> str:
    return f"{unit.base_url}/linkage/messages"


async def _call(
    state: LinkageRuntime, unit: Unit, method: str, url: str, wait_seconds: float, **request: Any
) -> tuple[int, bytes]:
    """Call the unit; its whole answer must arrive within ``wait_seconds`` and the size cap (a unit
    trickling bytes cannot hold the hub)."""
    try:
        async with asyncio.timeout(wait_seconds):
            async with state.http.request(method, url, **request) as response:
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


async def _post(state: LinkageRuntime, unit: Unit, body: bytes, wait_seconds: float) -> tuple[int, bytes]:
    return await _call(state, unit, "POST", unit_endpoint(unit), wait_seconds, data=body, headers=_HEADERS)


async def forward_query(
    state: LinkageRuntime, provider: Unit, envelope: Envelope, spec: InterfaceSpec
) -> Envelope:
    """Send a query to its provider, by the binding it chose, and return the provider's ``_S01``
    envelope (not yet validated)."""
    if provider.binding(spec.id, "provides") == Binding.REST:
        document = await _by_rest(state, provider, envelope, spec, state.settings.query_timeout_seconds)
        try:
            return rest.answer_message(spec, document, envelope, provider.code, city_now())
        except HubError as exc:
            raise DeliveryFailed(
                f"unit {provider.code} answered a REST answer that is not usable: {exc.message}"
            ) from None
    body = envelope_for(provider, envelope, spec)
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


async def deliver_notification(
    state: LinkageRuntime, subscriber: Unit, envelope: Envelope, spec: InterfaceSpec
) -> None:
    """Deliver a notification by the binding the subscriber chose; any 2xx is its acknowledgement."""
    if subscriber.binding(spec.id, "subscribes") == Binding.REST:
        await _by_rest(state, subscriber, envelope, spec, state.settings.delivery_timeout_seconds)
        return
    await deliver_message(state, subscriber, envelope_for(subscriber, envelope, spec))


async def deliver_message(state: LinkageRuntime, subscriber: Unit, body: bytes) -> None:
    """Deliver a SOAP message (a notification, a batch's chunk); any 2xx is the acknowledgement."""
    status, _ = await _post(state, subscriber, body, state.settings.delivery_timeout_seconds)
    if not 200 <= status < 300:
        raise DeliveryFailed(f"unit {subscriber.code} answered HTTP {status}")


async def _by_rest(
    state: LinkageRuntime, unit: Unit, envelope: Envelope, spec: InterfaceSpec, wait_seconds: float
) -> Any:
    """Call the unit's REST API for ``envelope`` (protocol/rest.py) with a token of the hub's that the
    unit checks by introspection; return its answer's JSON document."""
    taken = _as_unit_takes(unit, envelope, spec)
    values, call = rest.call_of(spec, taken)
    header = taken.header()
    scope = da_scope(unit.code, spec.id, rest.operation_of(spec))  # the unit serves this API
    headers = {
        "Authorization": f"Bearer {hub_token(state.settings, scope)}",
        rest.MESSAGE_ID_HEADER: header.msgid,
        rest.SOURCE_HEADER: header.source,
    }
    reception = taken.message.findtext(f"{lk('MessageHeader')}/{lk('ReceptionNumber')}")
    if reception:
        headers[rest.RECEPTION_HEADER] = reception
    sent: dict[str, Any] = (
        {"params": values | call} if rest.method_of(spec) == "GET" else {"json": values | call}
    )
    url = unit.base_url + rest.path_of(spec)
    status, content = await _call(
        state, unit, rest.method_of(spec), url, wait_seconds, headers=headers, **sent
    )
    try:
        document = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise DeliveryFailed(f"unit {unit.code} answered HTTP {status} that is not JSON") from None
    if status != 200:
        raise DeliveryFailed(f"unit {unit.code} answered HTTP {status}{_da_error(document)}")
    return document


def _da_error(document: Any) -> str:
    """`` (E0003 E3002)``: the DA code and the hub's own of a unit's error body, if it has them."""
    try:
        first = document["errors"][0]
        return f" ({first['code']} {first.get('hubCode') or ''})".replace(" )", ")")
    except (KeyError, IndexError, TypeError):
        return ""


def hub_token(settings: Settings, scope: str) -> str:
    """The hub's own bearer token for ``scope`` (``{unit}:{interface}:{operation}``), reused while it has
    more than a minute to live. Its role is ``hub``, which the hub itself takes nowhere: a unit can only
    introspect it, not send with it."""
    key = (settings.token_secret, scope)
    cached = _HUB_TOKENS.get(key)
    if cached is not None and cached[1] - 60 > time.time():
        return cached[0]
    token, lifetime = issue_token(
        settings, client_id=HUB_CLIENT_ID, role="hub", unit_code=HUB_CODE, scopes={scope}
    )
    _HUB_TOKENS[key] = (token, time.time() + lifetime)
    return token


HUB_CLIENT_ID = "platform-hub"
HUB_CODE = "000"  # the hub's own code (its acknowledgements, the registry)
_HUB_TOKENS: dict[tuple[str | None, str], tuple[str, float]] = {}
