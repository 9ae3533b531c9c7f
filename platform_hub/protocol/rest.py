"""The Digital Agency's REST/JSON binding of the catalog (共通機能標準仕様書: pull APIs with JSON).

One interface spec serves both bindings. A REST call is turned into the SOAP message it stands for
(``request_message``) and goes down the same path, every check in the same order; its ``_S01`` answer
comes back as the DA's envelope ``{"metadata", "_links", "result"}`` (``answer_document``). Item keys
are the spec's romaji names; values are strings (an integer is taken for a numeric item); a GROUP is
an object; an item that repeats is an array.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lxml import etree

from platform_hub.protocol.envelope import Envelope, build_message, lk
from platform_hub.protocol.errors import HubError, SchemaViolation
from platform_hub.protocol.specs import InterfaceSpec, Item, Pattern
from platform_hub.protocol.xml import local_name

MESSAGE_ID_HEADER = "X-Message-Id"
# What the hub adds when it calls a unit's REST API: who asked (the token is the hub's) and its receipt.
SOURCE_HEADER = "X-Source-System-Id"
RECEPTION_HEADER = "X-Reception-Number"
# Parameters of a call that are not items: lower case, so no romaji name (capitalised) can take them.
CALL_PARAMETERS = {
    "purpose": "事務 (PurposeCode) the information is asked or sent for",
    "mode": "MSGMode: 0 production (default), 1 test",
    "department": "the asking 部署 (RequestSourceUnitCode)",
    "user": "the asking clerk (RequestSourceUserID)",
}
_NUMERIC = {"9", "9V", "S9", "YEAR"}

# The DA's error codes and statuses, by the first digit of the hub's own code (docs/contract.md).
DA_ERRORS = {
    "1": ("E0001", 400),  # the request: malformed, failing its schema, unknown target
    "2": ("E0002", 401),  # authentication and authorisation
    "3": ("E0003", 400),  # refused: addressee unknown, the ordinance
    "4": ("E0003", 400),  # the message: a MSGID sent before with another body
    "5": ("E0004", 503),  # the hub or the provider cannot answer now
}
_UNAVAILABLE = {"E4001"}  # the provider failed or could not be reached: try again later


def path_of(spec: InterfaceSpec) -> str:
    """``/da/{provider 業務システムID}/v{version}/{interface}``: the provider names the API, as in a DA
    scope; a new version of the interface is a new path, served beside the old one."""
    return f"/da/{spec.provider}/v{spec.version}/{spec.id}"


def operation_of(spec: InterfaceSpec) -> str:
    """The DA scope's 操作名: ``get`` for a query (pulled), ``post`` for a notification (pushed)."""
    return "get" if spec.pattern == Pattern.QUERY else "post"


def method_of(spec: InterfaceSpec) -> str:
    """GET for a query whose request is flat (its items fit a query string) and holds no 個人番号 (a URL
    is written to access logs), else POST with a body."""
    flat = all(item.type != "GROUP" and item.repeat == 1 and not item.my_number for item in spec.request)
    return "GET" if spec.pattern == Pattern.QUERY and flat else "POST"


# --- JSON → the SOAP message it stands for ----------------------------------------------------------


def request_message(
    spec: InterfaceSpec,
    unit_code: str,
    values: Mapping[str, Any],
    call: Mapping[str, str],
    msgid: str | None,
    now: datetime,
) -> bytes:
    """The ``_R01`` envelope a SOAP unit would have sent; E1002 naming every item that is wrong."""
    problems: list[str] = []
    payload = etree.Element(lk("Payload"))
    _fill(payload, spec.request, values, problems, where="")
    if problems:
        raise SchemaViolation(f"the JSON request fails the {spec.id} schema", details=problems)
    if not call.get("purpose"):
        raise SchemaViolation("purpose (the 事務 the information is for) is required")
    header: dict[str, str | None] = {
        "MSGID": msgid or uuid.uuid4().hex,
        "MSGTypeID": spec.request_type,
        "MSGMode": call.get("mode") or "0",
        "SourceSystemID": unit_code,
        "PurposeCode": call["purpose"],
        "SendDateTime": now.isoformat(timespec="seconds"),
    }
    body = {"RequestSourceUnitCode": call.get("department"), "RequestSourceUserID": call.get("user")}
    envelope = build_message(
        spec.request_type, header, payload, {k: v for k, v in body.items() if v is not None}
    )
    return envelope.to_bytes()


def _fill(
    parent: etree._Element,
    items: tuple[Item, ...],
    values: Mapping[str, Any],
    problems: list[str],
    where: str,
) -> None:
    """Append ``values`` to ``parent`` as the items' elements, in the spec's (the XSD's) order."""
    known = {item.romaji for item in items}
    problems.extend(f"{where}{key}: no such item" for key in values if key not in known)
    for item in items:
        value = values.get(item.romaji)
        if value is None:
            continue  # the XSD says whether it may be missing
        label = f"{where}{item.romaji} ({item.id} {item.name})"
        occurrences = value if item.repeat != 1 and isinstance(value, list) else [value]
        if item.repeat != 1 and not isinstance(value, list):
            problems.append(f"{label}: an array is expected (the item repeats)")
            continue
        for occurrence in occurrences:
            element = etree.SubElement(parent, lk(item.romaji))
            if item.type == "GROUP":
                if isinstance(occurrence, dict):
                    _fill(element, item.items or (), occurrence, problems, f"{where}{item.romaji}.")
                else:
                    problems.append(f"{label}: an object is expected (a group)")
            elif isinstance(occurrence, str):
                element.text = occurrence
            elif isinstance(occurrence, int) and not isinstance(occurrence, bool) and item.type in _NUMERIC:
                element.text = str(occurrence)
            else:
                problems.append(f"{label}: a string is expected, not {type(occurrence).__name__}")


def body_values(raw: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """A POST's JSON object: the items, and the call's parameters (``purpose`` …) beside them."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaViolation(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise SchemaViolation("the JSON body is nested too deep") from None
    if not isinstance(document, dict):
        raise SchemaViolation("the body is a JSON object of items")
    call = {k: document.pop(k) for k in list(document) if k in CALL_PARAMETERS}
    if not all(isinstance(v, str) for v in call.values()):
        raise SchemaViolation(f"{', '.join(sorted(call))}: strings are expected")
    return document, call


def query_values(spec: InterfaceSpec, parameters: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A query's items and call parameters from its URL's query string (a query's request is flat)."""
    items = {k: v for k, v in parameters.items() if k not in CALL_PARAMETERS}
    call = {k: v for k, v in parameters.items() if k in CALL_PARAMETERS}
    return items, call


def call_of(spec: InterfaceSpec, request: Envelope) -> tuple[dict[str, Any], dict[str, str]]:
    """An ``_R01`` message as the REST call it stands for: its items' values and the call's parameters
    (the inverse of ``request_message``: the hub calls a REST unit with them)."""
    header = request.header()
    payload = request.payload()
    values = _values(payload, spec.request) if payload is not None else {}
    call = {"purpose": header.purpose_code, "mode": header.mode}
    call |= {k: v for k, v in (("department", header.department), ("user", header.user)) if v}
    return values, call


def answer_message(
    spec: InterfaceSpec, document: Any, request: Envelope, provider: str, now: datetime
) -> Envelope:
    """The ``_S01`` answer a REST unit's DA envelope stands for (the inverse of ``answer_document``):
    E1002 naming every item of ``result`` that is wrong, as for a request."""
    if not isinstance(document, dict) or not isinstance(document.get("metadata", {}), dict):
        raise SchemaViolation("the answer is not the DA envelope {metadata, _links, result}")
    result = document.get("result") or {}
    if not isinstance(result, dict):
        raise SchemaViolation("the answer's result is not an object")
    problems: list[str] = []
    payload = etree.Element(lk("Payload"))
    if spec.pattern == Pattern.QUERY:
        _fill(payload, spec.response, result, problems, where="")
    if problems:
        raise SchemaViolation(f"the JSON answer fails the {spec.id} schema", details=problems)
    metadata = document.get("metadata") or {}
    asked = request.header()
    header: dict[str, str | None] = {
        "MSGID": str(metadata.get("messageId") or uuid.uuid4().hex),
        "MSGTypeID": spec.response_type,
        "MSGMode": asked.mode,
        "SourceSystemID": provider,
        "DestinationSystemID": asked.source,
        "PurposeCode": asked.purpose_code,
        "SendDateTime": now.isoformat(timespec="seconds"),
        "RelatesToMSGID": asked.msgid,
        "ReceptionNumber": _header_fields(request).get("ReceptionNumber"),
        "MSGResult": str(metadata.get("messageResult") or "0"),
    }
    return build_message(spec.response_type, header, payload)


# --- the _S01 answer → the DA envelope --------------------------------------------------------------


def answer_document(spec: InterfaceSpec, answer: Envelope, self_href: str) -> dict[str, Any]:
    """``{"metadata", "_links", "result"}`` of an ``_S01`` answer (a notification's holds its
    acknowledgement only: ``result`` is empty)."""
    header = answer.header()
    fields = _header_fields(answer)
    payload = answer.payload()
    result = _values(payload, spec.response) if payload is not None and spec.pattern == Pattern.QUERY else {}
    return {
        "metadata": {
            "interfaceId": spec.id,
            "version": spec.version,
            "messageId": header.msgid,
            "relatesToMessageId": fields.get("RelatesToMSGID"),
            "receptionNumber": fields.get("ReceptionNumber"),
            "messageResult": fields.get("MSGResult"),
            "mode": header.mode,
        },
        "_links": {"self": {"href": self_href}},
        "result": result,
    }


def _header_fields(answer: Envelope) -> dict[str, str]:
    header = answer.message.find(lk("MessageHeader"))
    return (
        {local_name(e): (e.text or "") for e in header if isinstance(e.tag, str)}
        if header is not None
        else {}
    )


def _values(parent: etree._Element, items: tuple[Item, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items:
        elements = parent.findall(lk(item.romaji))
        if not elements:
            continue
        decoded = [_values(e, item.items or ()) if item.type == "GROUP" else (e.text or "") for e in elements]
        found[item.romaji] = decoded if item.repeat != 1 else decoded[0]
    return found


def error_document(error: HubError, self_href: str) -> tuple[int, dict[str, Any]]:
    """The DA's status and error body for one of the hub's errors; the hub's own code stays beside the
    DA's, with the message and every detail (the items a schema failure names)."""
    code, status = DA_ERRORS.get(error.code[1:2], ("E0004", 503))
    if error.code in _UNAVAILABLE:
        code, status = "E0004", 503
    body = {
        "metadata": {"receptionNumber": error.reception_number},
        "_links": {"self": {"href": self_href}},
        "result": None,
        "errors": [{"code": code, "hubCode": error.code, "message": error.message, "details": error.details}],
    }
    return status, body


# --- JSON Schema, for the OpenAPI document ----------------------------------------------------------


def json_schema(items: tuple[Item, ...]) -> dict[str, Any]:
    """The JSON Schema of an object holding ``items`` (the request body, or ``result``)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {item.romaji: _item_schema(item) for item in items},
        "required": [item.romaji for item in items if item.requirement == "必須"],
    }


def _item_schema(item: Item) -> dict[str, Any]:
    if item.type == "GROUP":
        one: dict[str, Any] = json_schema(item.items or ())
    else:
        one = {"type": "string"}
        if item.length is not None:
            one["maxLength"] = item.length + (1 if item.type in {"9V", "S9"} else 0)
        if item.codes:
            one["enum"] = list(item.codes)
    one["title"] = f"{item.id} {item.name}"
    if item.repeat == 1:
        return one
    many: dict[str, Any] = {"type": "array", "items": one, "title": one["title"]}
    if item.repeat != "*":
        many["maxItems"] = item.repeat
    return many


def query_parameters(spec: InterfaceSpec) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a query's GET: its items, then the call's own."""
    items = [
        {
            "name": item.romaji,
            "in": "query",
            "required": item.requirement == "必須",
            "description": f"{item.id} {item.name}",
            "schema": _item_schema(item),
        }
        for item in spec.request
    ]
    call = [
        {
            "name": name,
            "in": "query",
            "required": name == "purpose",
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in CALL_PARAMETERS.items()
    ]
    return [*items, *call]
