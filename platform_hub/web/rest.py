"""HTTP: the Digital Agency's REST/JSON binding, one route per interface generated from the catalog
(``protocol.rest``): a query is a GET at ``/da/{provider}/v{version}/{interface}``, a notification a
POST there. No route is written by hand; the OpenAPI document lists each with its parameters and
JSON Schemas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from platform_hub.auth.service import Principal, da_scope_of
from platform_hub.exchange import intake
from platform_hub.kit.clock import utcnow
from platform_hub.protocol import rest
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.envelope import read_envelope
from platform_hub.protocol.errors import Forbidden, SchemaViolation
from platform_hub.protocol.specs import InterfaceSpec, Pattern
from platform_hub.protocol.xml import parse_xml
from platform_hub.web.linkage import as_hub_error, read_capped
from platform_hub.web.security import authenticate
from platform_hub.web.state import HubState, get_state

log = structlog.get_logger()
Handler = Callable[[Request], Awaitable[JSONResponse]]


def add_rest_routes(app: FastAPI, catalog: Catalog) -> frozenset[str]:
    """A route for every query and notification interface of the catalog (a batch goes as a file);
    returns their paths. Each checks the token and reads its body itself, as the SOAP endpoint does,
    so every refusal is the DA's error body."""
    paths = set()
    for spec in catalog.specs(every_version=True):
        if spec.pattern == Pattern.BATCH or (spec.version != 1 and spec.pattern != Pattern.QUERY):
            continue  # a later version of a notification would need every subscriber to take it
        method = rest.method_of(spec)
        app.add_api_route(
            rest.path_of(spec),
            _handler(spec, method),
            methods=[method],
            tags=["REST (Digital Agency)"],
            summary=f"{spec.id} {spec.name}",
            description=_description(spec),
            response_class=JSONResponse,
            openapi_extra=_openapi(spec, method),
            name=f"rest_{spec.id}_v{spec.version}",
        )
        paths.add(rest.path_of(spec))
    return frozenset(paths)


def _handler(spec: InterfaceSpec, method: str) -> Handler:
    async def call(request: Request) -> JSONResponse:
        state = get_state(request)
        structlog.contextvars.clear_contextvars()
        href = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        try:
            principal = authenticate(request)
            if da_scope_of(spec) not in principal.scopes:
                raise Forbidden(f"the token has no scope {da_scope_of(spec)}")
            await state.rate_limit.take(principal.client_id)
            async with state.client_slots.take(principal.client_id):
                return JSONResponse(await _exchange(state, request, principal, spec, method, href))
        except Exception as caught:  # every failure answers the DA's error body, with the hub's code
            error = as_hub_error(caught)
            if error.status_code < 500:
                state.metrics.refusals.labels(error.code).inc()
            log.info("REST call refused", code=error.code, error=error.message, interface=spec.id)
            status, body = rest.error_document(error, href)
            return JSONResponse(body, status_code=status, headers=error.headers)

    return call


async def _exchange(
    state: HubState, request: Request, principal: Principal, spec: InterfaceSpec, method: str, href: str
) -> dict[str, Any]:
    if method == "GET":
        values, call = rest.query_values(spec, dict(request.query_params))
    else:
        values, call = rest.body_values(await read_capped(request, state.settings.max_json_bytes))
    msgid = request.headers.get(rest.MESSAGE_ID_HEADER)
    if spec.pattern == Pattern.NOTIFICATION and not msgid:  # a resend must be known as one
        raise SchemaViolation(f"a notification needs its message id in the {rest.MESSAGE_ID_HEADER} header")
    message = rest.request_message(spec, principal.unit_code or "", values, call, msgid, utcnow())
    answer = await intake.receive(state, principal, message, binding="rest", version=spec.version)
    envelope = read_envelope(parse_xml(answer, max_bytes=len(answer) + 1, limits=state.settings.xml_limits))
    return rest.answer_document(spec, envelope, href)


def _description(spec: InterfaceSpec) -> str:
    operation = rest.operation_of(spec)
    return (
        f"{spec.description or spec.name}\n\nScope: `{da_scope_of(spec)}`. "
        f"The same checks as the SOAP message {spec.request_type}; answers the DA envelope."
        + (f" The message id goes in `{rest.MESSAGE_ID_HEADER}` (required)." if operation == "post" else "")
    )


def _openapi(spec: InterfaceSpec, method: str) -> dict[str, Any]:
    answer = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object"},
            "_links": {"type": "object"},
            "result": rest.json_schema(spec.response)
            if spec.pattern == Pattern.QUERY
            else {"type": "object"},
        },
    }
    extra: dict[str, Any] = {
        "responses": {
            "200": {"description": "the DA envelope", "content": {"application/json": {"schema": answer}}}
        },
    }
    message_id = {
        "name": rest.MESSAGE_ID_HEADER,
        "in": "header",
        "required": spec.pattern != Pattern.QUERY,
        "schema": {"type": "string"},
    }
    if method == "GET":
        extra["parameters"] = [*rest.query_parameters(spec), message_id]
    else:
        body = rest.json_schema(spec.request)
        body["properties"].update(
            {name: {"type": "string", "description": text} for name, text in rest.CALL_PARAMETERS.items()}
        )
        body["required"] = [*body["required"], "purpose"]
        extra["parameters"] = [message_id]
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return extra
