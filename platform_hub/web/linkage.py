"""HTTP: the SOAP linkage endpoint, the WSDL, and the interface catalog."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from platform_hub.auth.service import Principal
from platform_hub.exchange import intake
from platform_hub.linkage.schemas import InterfaceSummary
from platform_hub.protocol.catalog import CompiledInterface
from platform_hub.protocol.envelope import SOAP_CONTENT_TYPE, fault
from platform_hub.protocol.errors import (
    HubError,
    InternalError,
    MalformedMessage,
    UnknownTarget,
    database_unavailable,
)
from platform_hub.protocol.specs import InterfaceSpec
from platform_hub.protocol.xsd import wsdl
from platform_hub.web.security import CurrentPrincipal, authenticate
from platform_hub.web.state import HubState, State, get_state

router = APIRouter(tags=["linkage"])
log = structlog.get_logger()
XML = "application/xml"
MESSAGES_PATH = "/linkage/messages"


@router.post(
    MESSAGES_PATH,
    response_class=Response,
    responses={
        200: {"content": {"text/xml": {}}, "description": "the _S01 answer"},
        400: {"content": {"text/xml": {}}, "description": "a SOAP Fault with an error code"},
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/xml": {"schema": {"type": "string"}}}}
    },
)
async def receive_message(request: Request) -> Response:
    """Receive one SOAP 1.1 linkage message; answer its ``_S01`` message or a SOAP Fault."""

    async def handle(state: HubState, principal: Principal) -> bytes:
        body = await read_capped(request, state.settings.max_body_bytes)
        return await intake.receive(state, principal, body)

    return await soap_exchange(request, handle)


async def receive_message_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """``receive_message`` as a plain ASGI route: ``web.app.Hub`` calls it before FastAPI's middleware,
    routing and dependencies, whose cost per message was a tenth of the hub's (docs/performance.md).
    The route above stays FastAPI's too, for the OpenAPI schema and for a hub under a root path."""
    response = await receive_message(Request(scope, receive))
    await response(scope, receive, send)


async def soap_exchange(
    request: Request, handle: Callable[[HubState, Principal], Awaitable[bytes]]
) -> Response:
    """Authenticate, rate-limit and take one of the client's slots before a byte of the body is read,
    then ``handle`` it: its answer, or a SOAP Fault with the error code. Every outcome is counted."""
    state = get_state(request)
    structlog.contextvars.clear_contextvars()
    started, result = time.perf_counter(), "0"
    principal: Principal | None = None
    try:
        principal = authenticate(request)
        await state.rate_limit.take(principal.client_id)
        async with state.client_slots.take(principal.client_id):
            return Response(await handle(state, principal), media_type=SOAP_CONTENT_TYPE)
    except Exception as caught:
        error = as_hub_error(caught)
        result = error.code
        if error.status_code < 500:
            state.metrics.refusals.labels(error.code).inc()
        log.info("message refused", code=error.code, error=error.message)
        return Response(
            fault(error, error.reception_number),
            status_code=await _fault_status(state, principal, error),
            media_type=SOAP_CONTENT_TYPE,
            headers=error.headers,
        )
    finally:
        bound = structlog.contextvars.get_contextvars()
        interface, pattern = bound.get("interface", "unknown"), bound.get("pattern", "unknown")
        state.metrics.messages.labels(interface, result).inc()
        state.metrics.latency.labels(interface, pattern).observe(time.perf_counter() - started)


async def _fault_status(state: HubState, principal: Principal | None, error: HubError) -> int:
    """The contract's status for the error, or 500 for every fault to a unit registered for WS-I
    faults (Basic Profile R1126: toolkits such as suds read a fault only on a 500)."""
    if principal is None or principal.unit_code is None:
        return error.status_code
    try:
        unit = (await state.configuration.get()).unit(principal.unit_code)
    except SQLAlchemyError:  # the database's being away may be what the fault says
        return error.status_code
    return 500 if unit is not None and unit.soap_faults == "wsi" else error.status_code


def as_hub_error(caught: Exception) -> HubError:
    """Every failure answers a Fault with a code: the database's as E5001, a bug's as E5000."""
    if isinstance(caught, HubError):
        return caught
    if isinstance(caught, OperationalError | InterfaceError):
        return database_unavailable(caught)
    if isinstance(caught, ClientDisconnect):  # no one is left to answer: not the hub's failure
        return MalformedMessage("the client went away before its message had arrived")
    log.exception("unexpected error on the linkage endpoint")
    return InternalError("the hub failed to handle this message; it was not accepted")


async def read_capped(request: Request, limit: int) -> bytes:
    """Read the body, giving up as soon as it passes ``limit`` (never buffering a huge body)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MalformedMessage(f"message body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MalformedMessage(f"message body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    if not size:
        raise MalformedMessage("empty message body")
    return b"".join(chunks)


@router.get("/linkage/wsdl", response_class=Response, responses={200: {"content": {XML: {}}}})
async def get_wsdl(request: Request, state: State, _: CurrentPrincipal) -> Response:
    """WSDL 1.1 (document/literal) of every interface, for SOAP toolkits."""
    address = str(request.url_for("receive_message"))
    return Response(wsdl(state.catalog.specs(), address), media_type=XML)


@router.get("/interfaces", response_model=list[InterfaceSummary])
async def list_interfaces(state: State, _: CurrentPrincipal) -> list[InterfaceSummary]:
    return [InterfaceSummary.of(spec) for spec in state.catalog.specs()]


Version = Annotated[int, Query(ge=1, le=99, description="the interface's version (1: the SOAP one)")]


@router.get("/interfaces/{interface_id}", response_model=InterfaceSpec)
async def get_interface(
    interface_id: str, state: State, _: CurrentPrincipal, version: Version = 1
) -> InterfaceSpec:
    """The whole spec: every item with its ID, names, type, length, codes and requirement."""
    return _compiled(state, interface_id, version).spec


@router.get(
    "/interfaces/{interface_id}/xsd", response_class=Response, responses={200: {"content": {XML: {}}}}
)
async def get_interface_xsd(
    interface_id: str, state: State, _: CurrentPrincipal, version: Version = 1
) -> Response:
    return Response(_compiled(state, interface_id, version).xsd, media_type=XML)


def _compiled(state: State, interface_id: str, version: int) -> CompiledInterface:
    compiled = state.catalog.get(interface_id, version)
    if compiled is None:
        raise UnknownTarget(f"unknown interface {interface_id} version {version}")
    return compiled
