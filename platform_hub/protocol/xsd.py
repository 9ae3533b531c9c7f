"""XSDs and the WSDL, derived from the interface specs (never written by hand)."""

from __future__ import annotations

from lxml import etree

from platform_hub.protocol.namespaces import LK, SOAP_HTTP, WSDL, WSOAP, XS
from platform_hub.protocol.specs import InterfaceSpec, Item

# X: half-width (ASCII printable and half-width katakana); N: full-width, so anything else but controls.
_HALF_WIDTH = "[ -~\uff61-\uff9f]*"
_FULL_WIDTH = "[^ -~\uff61-\uff9f\\p{Cc}]*"


def _xs(tag: str, parent: etree._Element | None = None, **attrs: str) -> etree._Element:
    if parent is None:
        return etree.Element(f"{{{XS}}}{tag}", attrs, nsmap={"xs": XS, "lk": LK})
    return etree.SubElement(parent, f"{{{XS}}}{tag}", attrs)


def _restriction(parent: etree._Element, base: str, **facets: str) -> etree._Element:
    restriction = _xs("restriction", _xs("simpleType", parent), base=f"xs:{base}")
    for facet, value in facets.items():
        _xs(facet, restriction, value=value)
    return restriction


def _text(
    parent: etree._Element, name: str, *, max_length: int, pattern: str = _HALF_WIDTH, min_occurs: str = "1"
) -> None:
    element = _xs("element", parent, name=name, minOccurs=min_occurs)
    _restriction(element, "string", minLength="1", maxLength=str(max_length), pattern=pattern)


def _item_type(element: etree._Element, item: Item) -> None:
    """Put the simple type of one item (its 型 and 桁数, or its code list) under ``element``."""
    length = str(item.length)
    if item.codes is not None:
        restriction = _restriction(element, "string")
        for code in item.codes:
            _xs("enumeration", restriction, value=code)
        return
    match item.type:
        case "X" if item.my_number:  # a 個人番号 is X(12) in the 項目定義書, and always 12 digits
            _restriction(element, "string", length=length, pattern="[0-9]{12}")
        case "X" if item.addressee:  # a 宛名番号 is always all 15 characters
            _restriction(element, "string", length=length, pattern="[0-9A-Z]+")
        case "X":
            _restriction(element, "string", minLength="1", maxLength=length, pattern=_HALF_WIDTH)
        case "N":
            _restriction(element, "string", minLength="1", maxLength=length, pattern=_FULL_WIDTH)
        case "9":
            _restriction(element, "string", pattern=f"[0-9]{{1,{length}}}")
        case "S9":
            _restriction(element, "string", pattern=f"-?[0-9]{{1,{length}}}")
        case "9V":
            _restriction(
                element,
                "decimal",
                totalDigits=length,
                fractionDigits=str(item.fraction),
                minInclusive="0",
                pattern="[0-9]+(\\.[0-9]+)?",
            )
        case "BLOB":  # base64 in XML; an XSD's length facets of base64Binary count the decoded bytes
            _restriction(element, "base64Binary", maxLength=length)
        case "DATE":
            _restriction(element, "date", pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}")
        case "TIME":
            _restriction(element, "time", pattern="[0-9]{2}:[0-9]{2}:[0-9]{2}")
        case "YEAR":
            _restriction(element, "gYear", pattern="[0-9]{4}")


def _items(sequence: etree._Element, items: tuple[Item, ...]) -> None:
    for item in items:
        element = _xs(
            "element", sequence, name=item.romaji, minOccurs=item.min_occurs, maxOccurs=item.max_occurs
        )
        doc = _xs("documentation", _xs("annotation", element))
        doc.text = f"{item.id} {item.name}" + (
            f" (必須: {item.condition.describe()})" if item.condition else ""
        )
        if item.type == "GROUP":
            _items(_xs("sequence", _xs("complexType", element)), item.items or ())
        else:
            _item_type(element, item)


def _header_type(schema: etree._Element, name: str, *, response: bool) -> None:
    sequence = _xs("sequence", _xs("complexType", schema, name=name))
    _text(sequence, "MSGID", max_length=64, pattern="[!-~]+")
    _text(sequence, "MSGTypeID", max_length=32, pattern="IF_[A-Z]{3}_[0-9]{4}_[RS]01")
    mode = _restriction(_xs("element", sequence, name="MSGMode"), "string")
    for value in ("0", "1"):
        _xs("enumeration", mode, value=value)
    _text(sequence, "SourceSystemID", max_length=3, pattern="[0-9A-Z]{3}")
    _text(sequence, "DestinationSystemID", max_length=3, pattern="[0-9A-Z]{3}", min_occurs="0")
    _text(sequence, "PurposeCode", max_length=16)
    _xs("element", sequence, name="SendDateTime", type="xs:dateTime")
    if response:
        _text(sequence, "RelatesToMSGID", max_length=64, pattern="[!-~]+", min_occurs="0")
    _text(sequence, "ReceptionNumber", max_length=32, min_occurs="0")
    if response:
        _text(sequence, "MSGResult", max_length=1, pattern="[0-9]", min_occurs="0")


def common_types(schema: etree._Element) -> None:
    """Types every message shares: the two headers."""
    _header_type(schema, "RequestHeader", response=False)
    _header_type(schema, "ResponseHeader", response=True)


def interface_types(schema: etree._Element, spec: InterfaceSpec) -> None:
    """The ``_R01`` and ``_S01`` elements of one interface and their payload types."""
    for message_type, items, is_request in (
        (spec.request_type, spec.request, True),
        (spec.response_type, spec.response, False),
    ):
        _xs("element", schema, name=message_type, type=f"lk:{message_type}")
        message = _xs("sequence", _xs("complexType", schema, name=message_type))
        header = "RequestHeader" if is_request else "ResponseHeader"
        _xs("element", message, name="MessageHeader", type=f"lk:{header}")
        body = _xs("sequence", _xs("complexType", _xs("element", message, name="MessageBody")))
        if is_request:
            _text(body, "RequestSourceUnitCode", max_length=16)
            _text(body, "RequestSourceUserID", max_length=32)
        payload = _xs("sequence", _xs("complexType", _xs("element", body, name="Payload")))
        _items(payload, items)


def new_schema() -> etree._Element:
    return _xs("schema", targetNamespace=LK, elementFormDefault="qualified")


def interface_xsd(spec: InterfaceSpec) -> bytes:
    """A standalone XSD for one interface (no imports: nothing is fetched when it is compiled)."""
    schema = new_schema()
    common_types(schema)
    interface_types(schema, spec)
    return etree.tostring(schema, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def batch_xsds(spec: InterfaceSpec) -> tuple[etree._Element, etree._Element]:
    """A batch's head (the interface's XSD with the records optional) and its record alone."""
    head = etree.fromstring(interface_xsd(spec))
    request = head.find(f"{{{XS}}}complexType[@name='{spec.request_type}']")
    assert request is not None
    for element in request.iter(f"{{{XS}}}element"):
        if element.get("name") == spec.record.romaji:
            element.set("minOccurs", "0")
    record = new_schema()
    element = _xs("element", record, name=spec.record.romaji)
    _items(_xs("sequence", _xs("complexType", element)), spec.record.items or ())
    return head, record


def wsdl(specs: list[InterfaceSpec], address: str) -> bytes:
    """A WSDL 1.1 document/literal description of every interface, one operation each."""
    nsmap = {"wsdl": WSDL, "soap": WSOAP, "xs": XS, "lk": LK}
    definitions = etree.Element(
        f"{{{WSDL}}}definitions", name="PlatformHubLinkage", targetNamespace=LK, nsmap=nsmap
    )
    schema = new_schema()
    common_types(schema)
    for spec in specs:
        interface_types(schema, spec)
    etree.SubElement(definitions, f"{{{WSDL}}}types").append(schema)

    def wsdl_element(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{WSDL}}}{tag}", attrs)

    for spec in specs:
        for message_type in (spec.request_type, spec.response_type):
            message = wsdl_element(definitions, "message", name=message_type)
            wsdl_element(message, "part", name="parameters", element=f"lk:{message_type}")
    port_type = wsdl_element(definitions, "portType", name="LinkagePortType")
    binding = wsdl_element(definitions, "binding", name="LinkageBinding", type="lk:LinkagePortType")
    etree.SubElement(binding, f"{{{WSOAP}}}binding", style="document", transport=SOAP_HTTP)
    for spec in specs:
        operation = wsdl_element(port_type, "operation", name=spec.id)
        doc = wsdl_element(operation, "documentation")
        doc.text = f"{spec.name} ({spec.pattern}, {spec.category})"
        wsdl_element(operation, "input", message=f"lk:{spec.request_type}")
        wsdl_element(operation, "output", message=f"lk:{spec.response_type}")
        bound = wsdl_element(binding, "operation", name=spec.id)
        etree.SubElement(bound, f"{{{WSOAP}}}operation", soapAction=f"{LK}#{spec.id}", style="document")
        for direction in ("input", "output"):
            etree.SubElement(wsdl_element(bound, direction), f"{{{WSOAP}}}body", use="literal")
    service = wsdl_element(definitions, "service", name="PlatformHubLinkageService")
    port = wsdl_element(service, "port", name="LinkagePort", binding="lk:LinkageBinding")
    etree.SubElement(port, f"{{{WSOAP}}}address", location=address)
    return etree.tostring(definitions, xml_declaration=True, encoding="UTF-8", pretty_print=True)
