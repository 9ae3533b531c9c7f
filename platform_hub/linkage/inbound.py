"""A message that passed the routing checks, with the units it concerns; the answers the hub writes
to it; and a delivery of it, prepared."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from lxml import etree

from platform_hub.kit.clock import utcnow
from platform_hub.linkage.configuration import Configuration
from platform_hub.models import (
    Message,
    Unit,
)
from platform_hub.ordinance.service import Decision
from platform_hub.protocol.catalog import CompiledInterface
from platform_hub.protocol.envelope import Envelope, Header, build_message, lk
from platform_hub.protocol.specs import InterfaceSpec

HUB_SYSTEM_ID = "000"  # the hub's own SourceSystemID on the acknowledgements it writes


@dataclass
class Inbound:
    """A message that passed the routing checks, with the units it concerns."""

    envelope: Envelope
    compiled: CompiledInterface
    header: Header
    source: Unit
    destination: Unit | None
    subscribers: list[Unit]
    configuration: Configuration  # the snapshot it was routed by: its ordinance decides it too
    digest: str = ""
    binding: str = "soap"  # soap, rest (protocol/rest.py) or file (a CSV batch): kept in the record
    my_numbers: tuple[str, ...] = field(default=(), repr=False)

    @property
    def spec(self) -> InterfaceSpec:
        return self.compiled.spec


def payload_fields(envelope: Envelope) -> dict[str, str]:
    """The top-level items of a flat payload (a 住民異動), by romaji name."""
    payload = envelope.payload()
    assert payload is not None
    return {etree.QName(e).localname: (e.text or "").strip() for e in payload if isinstance(e.tag, str)}


def acknowledgement(inbound: Inbound, reception_number: str) -> Envelope:
    return answer(inbound, reception_number, etree.Element(lk("Payload")))


def answer(inbound: Inbound, reception_number: str, payload: etree._Element, result: str = "0") -> Envelope:
    """The hub's ``_S01`` acknowledgement of an accepted notification or batch."""
    spec, header = inbound.spec, inbound.header
    ack = build_message(
        spec.response_type,
        {
            "MSGID": uuid.uuid4().hex,
            "MSGTypeID": spec.response_type,
            "MSGMode": header.mode,
            "SourceSystemID": HUB_SYSTEM_ID,
            "DestinationSystemID": header.source,
            "PurposeCode": header.purpose_code,
            "SendDateTime": utcnow().isoformat(timespec="seconds"),
            "RelatesToMSGID": header.msgid,
            "ReceptionNumber": reception_number,
            "MSGResult": result,
        },
        payload,
    )
    inbound.compiled.validate(ack.message)
    return ack


@dataclass
class Prepared:
    """One leased delivery made ready: translated for its subscriber and decided by the ordinance."""

    inbound: Inbound
    message: Message
    subscriber: Unit
    subjects: list[str] = field(default_factory=list)
    refusal: str | None = None
    rule: Decision | None = None
