"""Hostile XML: each fixture is refused with its code, nothing is stored, and the hub stays healthy."""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import httpx
import pytest

from tests.helpers import HubClient, count_rows, fault_code

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
}


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
