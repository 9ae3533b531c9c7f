"""Linkage messages as a unit writes and reads them: the hub's own envelope, with dict payloads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from platform_hub.kit.clock import city_now
from platform_hub.protocol.catalog import CompiledInterface
from platform_hub.protocol.envelope import Envelope, build_message, lk
from platform_hub_sdk.payload import Payload, from_element, to_element


def send_time() -> str:
    """Now on the city's clock (PLATFORM_HUB_TIME_ZONE, Asia/Tokyo unless set), with its offset."""
    return city_now().isoformat(timespec="seconds")


def new_msgid() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Received:
    """A message as its handler sees it: the routing header and the payload in the unit's own numbers."""

    interface_id: str
    message_type: str
    msgid: str
    source: str
    destination: str | None
    purpose_code: str
    mode: str
    reception_number: str | None
    department: str | None
    user: str | None
    payload: Payload = field(repr=False)  # may hold a 個人番号: kept out of reprs and logs
    version: int = 1  # the interface's: a later one comes by REST, and its answer has that version's items


def request_message(
    compiled: CompiledInterface,
    payload: Payload,
    *,
    source: str,
    destination: str | None,
    purpose: str,
    msgid: str,
    mode: str = "0",
    department: str,
    user: str,
) -> Envelope:
    """An ``_R01`` request or notification, in the header order of the hub's XSD."""
    spec = compiled.spec
    header: dict[str, str | None] = {
        "MSGID": msgid,
        "MSGTypeID": spec.request_type,
        "MSGMode": mode,
        "SourceSystemID": source,
        "DestinationSystemID": destination,
        "PurposeCode": purpose,
        "SendDateTime": send_time(),
    }
    body = {"RequestSourceUnitCode": department, "RequestSourceUserID": user}
    return build_message(spec.request_type, header, to_element(spec.request, payload), body)


def answer_message(compiled: CompiledInterface, request: Received, source: str, payload: Payload) -> Envelope:
    """The ``_S01`` answer to ``request``, addressed back to its sender."""
    spec = compiled.spec
    header: dict[str, str | None] = {
        "MSGID": new_msgid(),
        "MSGTypeID": spec.response_type,
        "MSGMode": request.mode,
        "SourceSystemID": source,
        "DestinationSystemID": request.source,
        "PurposeCode": request.purpose_code,
        "SendDateTime": send_time(),
        "RelatesToMSGID": request.msgid,
        "ReceptionNumber": request.reception_number,
        "MSGResult": "0",
    }
    return build_message(spec.response_type, header, to_element(spec.response, payload))


def read_message(compiled: CompiledInterface, envelope: Envelope) -> Received:
    """Read a (valid) message of ``compiled``'s interface, request or answer."""
    spec = compiled.spec
    header = envelope.header()
    items = spec.request if envelope.message_type == spec.request_type else spec.response
    reception = envelope.message.findtext(f"{lk('MessageHeader')}/{lk('ReceptionNumber')}")
    return Received(
        interface_id=spec.id,
        message_type=envelope.message_type,
        msgid=header.msgid,
        source=header.source,
        destination=header.destination,
        purpose_code=header.purpose_code,
        mode=header.mode,
        reception_number=reception.strip() if reception else None,
        department=header.department,
        user=header.user,
        payload=from_element(items, envelope.payload()),
        version=spec.version,
    )
