"""The SOAP 1.1 envelope of a linkage message: read its header, build answers and faults."""

from __future__ import annotations

import io
from dataclasses import dataclass

from lxml import etree

from platform_hub.protocol.errors import HubError, SchemaViolation
from platform_hub.protocol.namespaces import LK, SOAP
from platform_hub.protocol.xml import FencedReader, XmlLimits, local_name

SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
_NSMAP = {"soap": SOAP, "lk": LK}
_ENVELOPE, _HEADER, _BODY = (f"{{{SOAP}}}{name}" for name in ("Envelope", "Header", "Body"))
_ACTOR_NEXT = "http://schemas.xmlsoap.org/soap/actor/next"  # a header block for whoever receives it
_XML_SPACE = " \t\r\n"


def lk(name: str) -> str:
    return f"{{{LK}}}{name}"


@dataclass(frozen=True)
class Header:
    """The MessageHeader fields the hub routes by, read leniently so routing checks can run first."""

    msgid: str
    message_type_id: str
    mode: str
    source: str
    destination: str | None
    purpose_code: str
    department: str | None
    user: str | None


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope and the one message element its Body carries."""

    root: etree._Element
    message: etree._Element

    @property
    def message_type(self) -> str:
        return local_name(self.message)

    def header(self) -> Header:
        def text(path: str) -> str | None:
            value = self.message.findtext(path, namespaces=_NSMAP)
            return value.strip() if value is not None else None

        return Header(
            msgid=text("lk:MessageHeader/lk:MSGID") or "",
            message_type_id=text("lk:MessageHeader/lk:MSGTypeID") or "",
            mode=text("lk:MessageHeader/lk:MSGMode") or "0",
            source=text("lk:MessageHeader/lk:SourceSystemID") or "",
            destination=text("lk:MessageHeader/lk:DestinationSystemID") or None,
            purpose_code=text("lk:MessageHeader/lk:PurposeCode") or "",
            department=text("lk:MessageBody/lk:RequestSourceUnitCode"),
            user=text("lk:MessageBody/lk:RequestSourceUserID"),
        )

    def payload(self) -> etree._Element | None:
        return self.message.find("lk:MessageBody/lk:Payload", namespaces=_NSMAP)

    def elements_at(self, path: tuple[str, ...]) -> list[etree._Element]:
        """The payload's elements at a romaji path such as ``("SetaiIn", "AtenaNo")``."""
        payload = self.payload()
        if payload is None:
            return []
        return list(payload.iterfind("/".join(f"lk:{name}" for name in path), namespaces=_NSMAP))

    def set_header_fields(self, **fields: str) -> None:
        """Set (replace) trailing header fields such as ReceptionNumber and MSGResult, in order."""
        header = self.message.find("lk:MessageHeader", namespaces=_NSMAP)
        assert header is not None  # checked by the XSD before anyone calls this
        for name, value in fields.items():
            for old in header.findall(lk(name)):
                header.remove(old)
            etree.SubElement(header, lk(name)).text = value

    def set_destination(self, unit_code: str) -> None:
        """Name the receiving unit in the header (omitted by senders that let the hub route)."""
        header = self.message.find("lk:MessageHeader", namespaces=_NSMAP)
        assert header is not None
        destination = header.find(lk("DestinationSystemID"))
        if destination is None:
            source = header.find(lk("SourceSystemID"))
            assert source is not None
            destination = etree.Element(lk("DestinationSystemID"))
            source.addnext(destination)
        destination.text = unit_code

    def to_bytes(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8")


def read_envelope(root: etree._Element) -> Envelope:
    """Check the SOAP 1.1 structure as WS-I Basic Profile 1.1 has it: an Envelope holding an optional
    Header, then one Body and nothing after it; the Body holds exactly one message element.

    The sender's Header is checked (it may hold no block the hub must understand: it understands
    none) and then removed, so it is neither stored nor passed on.
    """
    if local_name(root) == "Envelope" and root.tag != _ENVELOPE:
        raise SchemaViolation(
            f"the hub speaks SOAP 1.1 ({SOAP}): not {_name(root)}", soap_fault_code="VersionMismatch"
        )
    if root.tag != _ENVELOPE:
        raise SchemaViolation(f"the document element must be soap:Envelope ({SOAP}), not {_name(root)}")
    parts = _elements(root, "soap:Envelope")
    header = parts[0] if parts and parts[0].tag == _HEADER else None
    bodies = parts[1:] if header is not None else parts
    if [part.tag for part in bodies] != [_BODY]:
        raise SchemaViolation("soap:Envelope holds an optional soap:Header, then one soap:Body, nothing else")
    if header is not None:
        _check_header(header)
        root.remove(header)
    messages = _elements(bodies[0], "soap:Body")
    if len(messages) != 1:
        raise SchemaViolation(f"soap:Body must hold exactly one message element, found {len(messages)}")
    message = messages[0]
    if not str(message.tag).startswith(f"{{{LK}}}"):
        raise SchemaViolation(f"the message element must be in namespace {LK}, not {_name(message)}")
    return Envelope(root=root, message=message)


def message_type_of(body: bytes, limits: XmlLimits) -> str | None:
    """The local name of the element in soap:Body, read without reading the rest (a batch is then read
    record by record); ``None`` when the document has none: reading it whole names the fault."""
    reader = FencedReader(io.BytesIO(body), limits)
    for event, element in reader:
        parent = element.getparent()
        if event == "start" and reader.depth == 3 and parent is not None and parent.tag == _BODY:
            return local_name(element)
    return None


def _elements(parent: etree._Element, name: str) -> list[etree._Element]:
    """The child elements of an envelope part, which holds no character data of its own."""
    children = [child for child in parent if isinstance(child.tag, str)]
    texts = [parent.text, *(child.tail for child in parent)]
    if any(text and text.strip(_XML_SPACE) for text in texts):
        raise SchemaViolation(f"{name} holds character data besides its elements")
    return children


def _check_header(header: etree._Element) -> None:
    """SOAP 1.1 §4.2.3: a block marked mustUnderstand for this node that the hub does not understand
    (any, since it understands none) is a MustUnderstand fault. Blocks for another actor are not ours."""
    for block in _elements(header, "soap:Header"):
        must_understand = (block.get(f"{{{SOAP}}}mustUnderstand") or "0").strip(_XML_SPACE)
        if must_understand not in {"0", "1", "false", "true"}:
            raise SchemaViolation(
                f"soap:mustUnderstand of {_name(block)} is 0 or 1, not {must_understand[:9]!r}"
            )
        if must_understand in {"1", "true"} and block.get(f"{{{SOAP}}}actor", _ACTOR_NEXT) == _ACTOR_NEXT:
            raise SchemaViolation(
                f"the header block {_name(block)} must be understood: the hub understands no header block",
                soap_fault_code="MustUnderstand",
            )


def _name(element: etree._Element) -> str:
    """An element's name for an error message (the sender chose it: it may be of any length)."""
    return str(element.tag)[:200]


def new_envelope(message_type: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=_NSMAP)
    message = etree.SubElement(etree.SubElement(root, f"{{{SOAP}}}Body"), lk(message_type))
    return root, message


def build_message(
    message_type: str,
    header: dict[str, str | None],
    payload: etree._Element | None = None,
    body_fields: dict[str, str] | None = None,
) -> Envelope:
    """Build an envelope: header fields in the given order (``None`` omitted), then the body."""
    root, message = new_envelope(message_type)
    header_element = etree.SubElement(message, lk("MessageHeader"))
    for name, value in header.items():
        if value is not None:
            etree.SubElement(header_element, lk(name)).text = value
    body = etree.SubElement(message, lk("MessageBody"))
    for name, value in (body_fields or {}).items():
        etree.SubElement(body, lk(name)).text = value
    body.append(payload if payload is not None else etree.Element(lk("Payload")))
    return Envelope(root=root, message=message)


def fault(error: HubError, reception_number: str | None = None) -> bytes:
    """A SOAP 1.1 Fault carrying the contract's error code in ``detail``."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=_NSMAP)
    soap_fault = etree.SubElement(etree.SubElement(root, f"{{{SOAP}}}Body"), f"{{{SOAP}}}Fault")
    code = error.soap_fault_code or ("Client" if error.status_code < 500 else "Server")
    etree.SubElement(soap_fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(soap_fault, "faultstring").text = f"{error.code}: {error.message}"
    detail = etree.SubElement(soap_fault, "detail")
    etree.SubElement(detail, lk("ErrorCode")).text = error.code
    etree.SubElement(detail, lk("ErrorMessage")).text = error.message
    for line in error.details:
        etree.SubElement(detail, lk("ErrorDetail")).text = line
    if reception_number:
        etree.SubElement(detail, lk("ReceptionNumber")).text = reception_number
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def read_fault(root: etree._Element) -> tuple[str, str] | None:
    """``(code, message)`` of a Fault envelope, or ``None`` when ``root`` is not one."""
    found = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    if found is None:
        return None
    code = found.findtext(f"detail/{lk('ErrorCode')}") or found.findtext("faultcode") or "?"
    message = found.findtext(f"detail/{lk('ErrorMessage')}") or found.findtext("faultstring") or ""
    return code, message
