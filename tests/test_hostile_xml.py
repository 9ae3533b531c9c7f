"""Hostile XML: each fixture is refused with its code, nothing is stored, and the hub stays healthy;
the parser's limits hold against inputs under the body cap, and one client cannot stall another."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from lxml import etree

from platform_hub.kit.settings import Settings
from platform_hub.protocol.envelope import build_message, lk
from platform_hub.protocol.errors import MalformedMessage
from platform_hub.protocol.specs import InterfaceSpec, Item
from platform_hub.protocol.xml import XmlLimits, canonical, parse_xml
from tests.helpers import (
    CATALOG,
    YAMADA,
    HubClient,
    count_rows,
    fault_code,
    hub_process,
    serve_in_thread,
    zei_query,
)
from tests.units import TestUnit, zei_answer

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
EXPECTED = {
    "xxe_file.xml": "E1001",
    "xxe_network.xml": "E1001",
    "xxe_parameter_entity.xml": "E1001",
    "billion_laughs.xml": "E1001",
    "doctype_plain.xml": "E1001",
    "deep_nesting.xml": "E1001",
    "oversized_20mb.xml.gz": "E1001",
    "not_well_formed.xml": "E1001",
    "wrong_namespace.xml": "E1002",
    "not_soap.xml": "E1002",
    "relative_namespace.xml": "E1001",
    "soap12_envelope.xml": "E1002",
    "must_understand.xml": "E1002",
    "element_after_body.xml": "E1002",
}
SETTINGS = Settings()


def _body(name: str) -> bytes:
    path = HOSTILE / name
    return gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()


def test_every_fixture_has_an_expectation() -> None:
    on_disk = {p.name for p in HOSTILE.iterdir() if p.suffix in {".xml", ".gz"}}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_input_is_refused_and_nothing_stored(hub: HubClient, database_url: str, name: str) -> None:
    hub.register("002")
    headers = hub.unit_headers(hub.register("011"))
    response = hub.send(_body(name), headers)
    assert response.status_code == 400, response.text[:500]
    assert fault_code(response) == EXPECTED[name], response.text[:500]
    assert b"root:" not in response.content  # no file content leaked through an entity
    for table in ("messages", "deliveries", "transfer_records"):
        assert count_rows(database_url, table) == 0
    assert hub.http.get("/healthz").status_code == 200


def test_oversized_body_is_refused_without_reading_it(hub: HubClient) -> None:
    """A declared Content-Length over the limit is answered before a byte of the body is sent."""
    token = hub.unit_headers(hub.register("011"))["Authorization"]
    url = httpx.URL(str(hub.http.base_url))
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(
            f"POST /linkage/messages HTTP/1.1\r\nHost: hub\r\nAuthorization: {token}\r\n"
            "Content-Type: text/xml\r\nContent-Length: 20971520\r\n\r\n".encode()
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"<lk:ErrorCode>E1001</lk:ErrorCode>" in answer


def faultcode(response: httpx.Response) -> str | None:
    return etree.fromstring(response.content).findtext(".//faultcode")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("must_understand.xml", "soap:MustUnderstand"),
        ("soap12_envelope.xml", "soap:VersionMismatch"),
        ("element_after_body.xml", "soap:Client"),
    ],
)
def test_soap_faults_say_what_soap_1_1_names(hub: HubClient, name: str, code: str) -> None:
    hub.register("002")
    response = hub.send(_body(name), hub.unit_headers(hub.register("011")))
    assert (response.status_code, fault_code(response), faultcode(response)) == (400, "E1002", code)


def with_header(blocks: str, body: bytes | None = None) -> bytes:
    """``body`` (a query by default) with a ``soap:Header`` holding ``blocks``."""
    header = f"<soap:Header>{blocks}</soap:Header><soap:Body>"
    return (body or zei_query()).replace(b"<soap:Body>", header.encode(), 1)


BLOCK = '<sec:Security xmlns:sec="urn:example:security" soap:mustUnderstand="{}"/>'


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (with_header(BLOCK.format("true")), "soap:MustUnderstand"),
        (with_header(BLOCK.format(" 1 ")), "soap:MustUnderstand"),
        (with_header(BLOCK.format("yes")), "soap:Client"),  # xs:boolean: 0, 1, false or true
        (zei_query().replace(b"</soap:Body>", b"</soap:Body><soap:Header/>"), "soap:Client"),
        (with_header("", with_header("")), "soap:Client"),  # two headers
        (zei_query().replace(b"</soap:Body>", b"</soap:Body>text"), "soap:Client"),
        (zei_query().replace(b"<soap:Body>", b"stray text<soap:Body>"), "soap:Client"),
        (zei_query().replace(b"soap/envelope/", b"soap/envelope"), "soap:VersionMismatch"),
    ],
)
def test_the_envelope_is_soap_1_1_as_ws_i_basic_profile_has_it(
    hub: HubClient, database_url: str, body: bytes, code: str
) -> None:
    hub.register("002")
    response = hub.send(body, hub.unit_headers(hub.register("011")))
    assert (response.status_code, fault_code(response), faultcode(response)) == (400, "E1002", code)
    assert count_rows(database_url, "messages") == 0


# --- the parser's limits: inputs under the body cap that cost the hub time quadratic in their size --


def _declarations(count: int) -> str:
    """``count`` namespace declarations, as short as they come (120,000 fit under the body cap)."""
    return " ".join(f'xmlns:{_base36(i)}="u:"' for i in range(count))


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    name = ""
    while True:
        n, digit = divmod(n, 36)
        name = digits[digit] + name
        if not n:
            return "n" + name


def many_namespaces(count: int, source: str = "011") -> bytes:
    """``count`` namespace declarations on the envelope: in scope at every element of the message."""
    envelope = f"<soap:Envelope {_declarations(count)} "
    return zei_query(source).replace(b"<soap:Envelope ", envelope.encode(), 1)


def many_attributes(count: int, source: str = "011") -> bytes:
    """``count`` attributes on one payload item: each an XSD error, each a line of the fault."""
    attributes = " ".join(f'a{i}=""' for i in range(count))
    return zei_query(source).replace(b"<lk:AtenaNo>", f"<lk:AtenaNo {attributes}>".encode(), 1)


def many_elements(count: int) -> bytes:
    return zei_query().replace(b"</lk:Payload>", b"<a/>" * count + b"</lk:Payload>", 1)


GENERATED = {
    "120,000 namespace declarations": lambda: many_namespaces(120_000),
    "65 namespace declarations": lambda: many_namespaces(SETTINGS.max_xml_namespaces + 1),
    "150,000 attributes": lambda: many_attributes(150_000),
    "33 attributes": lambda: many_attributes(SETTINGS.max_xml_attributes + 1),
    "too many elements": lambda: many_elements(SETTINGS.max_xml_elements),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_hostile_input_is_refused_at_once(hub: HubClient, database_url: str, name: str) -> None:
    body = GENERATED[name]()
    assert len(body) < SETTINGS.max_body_bytes
    hub.register("002")
    headers = hub.unit_headers(hub.register("011"))
    started = time.monotonic()
    response = hub.send(body, headers)
    assert (response.status_code, fault_code(response)) == (400, "E1001"), response.text[:500]
    assert time.monotonic() - started < 5
    assert len(response.content) < 2000
    assert count_rows(database_url, "messages") == 0


def _limits(**changes: int) -> XmlLimits:
    return XmlLimits(
        **{"depth": 32, "namespaces": 64, "attributes": 32, "elements": 20_000, **changes}  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (f"<r {_declarations(3)}><a {_declarations(2)}/></r>", "more than 4 namespace declarations in scope"),
        ("<r><a/><a/><a/><a/></r>", "more than 4 elements"),
        ('<r><a x="1" y="2" z="3" w="4" v="5"/></r>', "5 attributes"),
        ('<r xmlns:a="rel"/>', "not an absolute URI"),
        ('<r xmlns="relative/path"/>', "not an absolute URI"),
        ('<r xmlns:a="urn:a b"/>', "not an absolute URI"),
    ],
)
def test_each_limit_is_e1001_with_its_reason(document: str, problem: str) -> None:
    with pytest.raises(MalformedMessage, match=problem):
        parse_xml(document.encode(), max_bytes=10_000, limits=_limits(namespaces=4, attributes=4, elements=4))


def test_what_the_limits_allow() -> None:
    """Declarations count while in scope: siblings each declaring one are fine; ``xmlns=""`` is."""
    siblings = "".join(f'<a xmlns:n="urn:example:{i}" n:x="1"/>' for i in range(50))
    document = f'<r xmlns="urn:example:r" a="1" b="2" c="3" d="4"><s xmlns="">{siblings}</s></r>'
    root = parse_xml(document.encode(), max_bytes=10_000, limits=_limits(namespaces=4, attributes=4))
    assert len(root[0]) == 50


NOT_BATCHES = sorted(i for i, c in CATALOG.interfaces.items() if not c.record_schema)


def largest_message(spec: InterfaceSpec, direction: str) -> bytes:
    """A message of ``spec`` with every item present, each group repeated to its maximum."""

    def fill(parent: etree._Element, items: tuple[Item, ...]) -> None:
        for item in items:
            for _ in range(item.repeat if isinstance(item.repeat, int) else 1):
                element = etree.SubElement(parent, lk(item.romaji))
                if item.items:
                    fill(element, item.items)
                else:
                    element.text = "0" * (item.length or 10)

    payload = etree.Element(lk("Payload"))
    fill(payload, spec.request if direction == "request" else spec.response)
    message_type = spec.request_type if direction == "request" else spec.response_type
    header = {name: "0" for name in ("MSGID", "MSGMode", "SourceSystemID", "PurposeCode", "SendDateTime")}
    return build_message(message_type, header, payload, {"RequestSourceUnitCode": "0"}).to_bytes()


@pytest.mark.parametrize("direction", ["request", "response"])
@pytest.mark.parametrize("interface_id", NOT_BATCHES)
def test_the_catalogs_messages_pass_a_tenth_of_each_limit(interface_id: str, direction: str) -> None:
    """The largest message of each interface (住民票関係情報照会's answer with a household of 30 is the
    largest) passes with a wide margin; a batch's records are counted one at a time (test_batches)."""
    body = largest_message(CATALOG.interfaces[interface_id].spec, direction)
    limits = SETTINGS.xml_limits if direction == "request" else SETTINGS.answer_xml_limits
    tenth = XmlLimits(
        depth=limits.depth,
        namespaces=limits.namespaces // 10,
        attributes=limits.attributes // 10,
        elements=limits.elements // 10,
    )
    parse_xml(body, max_bytes=SETTINGS.max_body_bytes, limits=tenth)


def test_a_document_lxml_cannot_canonicalise_is_the_senders_fault() -> None:
    """The fence refuses relative namespace URIs already; C14N's own refusal is E1001 all the same."""
    with pytest.raises(MalformedMessage, match="C14N"):
        canonical(etree.Element("{relative}message"))


def test_one_client_cannot_stall_another(settings: Settings) -> None:
    """While 051 sends hostile messages under the body cap from three threads, 011's queries and
    /healthz keep answering promptly (before the parser's limits, each such message held the hub for
    seconds: its XSD check, C14N digest and fault grow quadratically with their size).

    The hub runs in a process of its own, as it does in production: the test's threads would
    otherwise share its interpreter (and its GIL) with the attackers' clients and the unit.
    """
    zeimu = TestUnit(answer=zei_answer)
    with (
        serve_in_thread(zeimu.app()) as url,
        hub_process(settings) as served,
        httpx.Client(base_url=served.url, timeout=30) as client,
    ):
        hub = HubClient(client)
        hub.register("002", url)
        jidou = hub.unit_headers(hub.register("011"))
        attacker = hub.unit_headers(hub.register("051"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        # Sized so that, without the limits, one message costs seconds but not minutes (120,000
        # declarations cost 154 s): the test stays bounded either way.
        hostile = [many_namespaces(30_000, "051"), many_attributes(150_000, "051")]
        stop, refused = threading.Event(), []

        def attack(body: bytes) -> None:
            with httpx.Client(base_url=served.url, timeout=60) as attacking:
                while not stop.is_set():
                    response = attacking.post(
                        "/linkage/messages", content=body, headers={"Content-Type": "text/xml", **attacker}
                    )
                    refused.append(fault_code(response))

        threads = [threading.Thread(target=attack, args=(hostile[i % 2],), daemon=True) for i in range(3)]
        for thread in threads:
            thread.start()
        waits: list[float] = []
        try:
            time.sleep(0.5)
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                started = time.monotonic()
                assert hub.send(zei_query(), jidou).status_code == 200
                assert hub.http.get("/healthz").status_code == 200
                waits.append(time.monotonic() - started)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=20)
    assert len(waits) >= 3 and max(waits) < 3, waits
    assert refused and set(refused) == {"E1001"}
