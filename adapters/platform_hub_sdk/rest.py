"""The unit's REST/JSON API: the Digital Agency's binding, for the interfaces a unit has the hub send
it by REST (``Unit(…, rest=[…])``).

The hub calls ``GET`` (a query) or ``POST`` (a notification) ``/da/{provider}/v{version}/{interface}``
with the items as ``protocol.rest`` writes them, the message id in ``X-Message-Id`` and a bearer
token of the hub's. The unit checks that token by introspection at the hub (RFC 7662: active, and
naming this unit's API in its scope) before it reads a byte of the body; then the call is handled
exactly as the SOAP message it stands for (``Unit.receive``: the XSD, once per MSGID, the handler) and
answered with the DA envelope, or the DA's error body.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from platform_hub.kit.clock import city_now
from platform_hub.protocol import rest
from platform_hub.protocol.envelope import read_envelope, read_fault
from platform_hub.protocol.errors import HubError
from platform_hub.protocol.specs import InterfaceSpec
from platform_hub.protocol.xml import parse_xml
from platform_hub_sdk.auth import ASSERTION_TYPE, Credentials, client_assertion
from platform_hub_sdk.catalog import InterfaceCatalog
from platform_hub_sdk.errors import LinkageError
from platform_hub_sdk.hub import HUB_XML_LIMITS, MAX_ANSWER_BYTES, HubConnection

ROUTE = "/da/{provider}/v{version}/{interface_id}"
_INTROSPECTED = 4096  # tokens whose introspection is kept until they expire


class Served(Protocol):
    """What of a ``Unit`` its REST API uses."""

    code: str
    catalog: InterfaceCatalog

    @property
    def hub(self) -> HubConnection: ...
    def handles(self, interface_id: str) -> bool: ...
    async def own_credentials(self) -> Credentials: ...
    async def receive(self, body: bytes, version: int = 1) -> tuple[int, bytes]: ...


class RestApi:
    """The unit's ``/da/…`` endpoint and the introspection of the hub's tokens it takes."""

    def __init__(self, unit: Served) -> None:
        self.unit = unit
        self._active: dict[str, tuple[frozenset[str], float]] = {}  # token → (scopes, expiry)

    async def endpoint(self, request: Request) -> JSONResponse:
        href = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        try:
            spec = await self._spec(request)
            await self._check_token(request, spec)
            return JSONResponse(await self._exchange(request, spec, href))
        except HubError as error:
            status, body = rest.error_document(error, href)
            return JSONResponse(body, status_code=status)

    async def _spec(self, request: Request) -> InterfaceSpec:
        interface_id = request.path_params["interface_id"]
        if not self.unit.handles(interface_id):
            raise LinkageError("E1003", f"unit {self.unit.code} takes no {interface_id}")
        version = int(request.path_params["version"]) if request.path_params["version"].isdigit() else 0
        spec = (await self.unit.catalog.get(interface_id, version)).spec
        if (request.method, request.url.path) != (rest.method_of(spec), rest.path_of(spec)):
            raise LinkageError("E1003", f"{spec.id} is {rest.method_of(spec)} {rest.path_of(spec)}")
        return spec

    async def _check_token(self, request: Request, spec: InterfaceSpec) -> None:
        """The bearer token must be active for this unit's API of ``spec`` (its DA scope)."""
        kind, _, token = request.headers.get("Authorization", "").partition(" ")
        if kind.lower() != "bearer" or not token:
            raise LinkageError("E2001", "a bearer token is required")
        scope = f"{self.unit.code}:{spec.id}:{rest.operation_of(spec)}"
        scopes, expires = self._active.get(token, (frozenset(), 0.0))
        if expires <= time.time():
            scopes, expires = await self._introspect(token)
        if scope not in scopes:
            raise LinkageError("E2002", f"the token has no scope {scope}")

    async def _introspect(self, token: str) -> tuple[frozenset[str], float]:
        answer = await introspect(self.unit.hub.http, await self.unit.own_credentials(), token)
        if not answer.get("active"):
            raise LinkageError("E2001", "the bearer token is not active")
        found = frozenset(str(answer.get("scope", "")).split()), float(answer.get("exp", 0))
        if len(self._active) >= _INTROSPECTED:
            now = time.time()
            self._active = {t: v for t, v in self._active.items() if v[1] > now}
        self._active[token] = found
        return found

    async def _exchange(self, request: Request, spec: InterfaceSpec, href: str) -> dict[str, Any]:
        if request.method == "GET":
            values, call = rest.query_values(spec, dict(request.query_params))
        else:
            values, call = await _body(request)
        msgid = request.headers.get(rest.MESSAGE_ID_HEADER)
        source = request.headers.get(rest.SOURCE_HEADER)
        if not msgid or not source:
            raise LinkageError("E1002", f"{rest.MESSAGE_ID_HEADER} and {rest.SOURCE_HEADER} are required")
        sent = rest.request_message(spec, source, values, call, msgid, city_now())
        message = read_envelope(parse_xml(sent, max_bytes=len(sent) + 1, limits=HUB_XML_LIMITS))
        message.set_destination(self.unit.code)
        if reception := request.headers.get(rest.RECEPTION_HEADER):
            message.set_header_fields(ReceptionNumber=reception)
        status, answer = await self.unit.receive(message.to_bytes(), spec.version)
        root = parse_xml(answer, max_bytes=len(answer) + 1, limits=HUB_XML_LIMITS)
        refused = read_fault(root)
        if refused is not None:
            raise LinkageError(refused[0], refused[1], status_code=status)
        return rest.answer_document(spec, read_envelope(root), href)


async def _body(request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    raw = await request.body()
    if len(raw) > MAX_ANSWER_BYTES:
        raise LinkageError("E1001", f"the body exceeds {MAX_ANSWER_BYTES} bytes")
    return rest.body_values(raw)


async def introspect(http: httpx.AsyncClient, credentials: Credentials, token: str) -> dict[str, Any]:
    """RFC 7662 at the hub, the unit authenticated by client_secret_jwt (basic if the hub refuses it)."""
    endpoint = str(http.base_url).rstrip("/") + "/oauth/introspect"
    attempts: list[Callable[[], Awaitable[httpx.Response]]] = [
        lambda: http.post(
            "/oauth/introspect",
            data={
                "token": token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(credentials, endpoint),
            },
        ),
        lambda: http.post(
            "/oauth/introspect",
            data={"token": token},
            auth=(credentials.client_id, credentials.client_secret),
        ),
    ]
    for attempt in attempts:
        response = await attempt()
        if response.status_code == 200:
            answer: dict[str, Any] = response.json()
            return answer
    raise LinkageError("E2001", f"the hub refused to introspect: HTTP {response.status_code}")
