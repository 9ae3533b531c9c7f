"""The door (``platform_hub/web/request_guard.py``): no byte of a body is read before the bearer token is
checked, every body is capped and counted as it arrives, JSON nesting is limited, and a body that
trickles in is dropped. Requests go over raw sockets, as an attacker sends them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from platform_hub.kit.settings import Settings
from platform_hub.web.app import create_app
from tests.helpers import HubClient, count_rows, serve_in_thread
from tests.raw_http import RawAnswer, exchange

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
HUGE = 128 * 1024 * 1024  # what the attack sent, three times, to /healthz
JSON, FORM = "application/json", "application/x-www-form-urlencoded"


def head(path: str, kind: str, *, token: str | None = None, length: int | None = HUGE) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: hub", f"Content-Type: {kind}"]
    lines += [f"Authorization: {token}"] if token else []
    lines += [f"Content-Length: {length}"] if length is not None else ["Transfer-Encoding: chunked"]
    return "\r\n".join(lines)


def test_no_byte_of_a_body_is_read_before_the_token_is_checked(hub: HubClient) -> None:
    """A huge body declared on an authenticated path and never sent: without a valid token the answer
    is E2001 at once, and the connection is closed rather than the body read."""
    url = str(hub.http.base_url)
    for path, kind in (
        ("/adapters", JSON),
        ("/clients", JSON),
        ("/addressees/search", JSON),
        ("/ordinance/versions", "application/yaml"),
        ("/no/such/path", JSON),
    ):
        for token in (None, "Bearer not-a-token", "Basic YWRtaW46YWRtaW4="):
            answer = exchange(url, head(path, kind, token=token), timeout=10)
            assert answer.status == 401 and answer.code() == "E2001", (path, token, answer)
            assert answer.closed, (path, token)


def test_bodies_are_capped_before_they_are_buffered(hub: HubClient) -> None:
    """Declared over the cap: 413 E1001 at once, on the public paths too. Streamed (chunked, no length):
    counted as it arrives and refused at the cap, long before the client is done."""
    url = str(hub.http.base_url)
    for path, kind in (("/healthz", JSON), ("/oauth/token", FORM), ("/openapi.json", JSON)):
        answer = exchange(url, head(path, kind), timeout=10)
        assert answer.status == 413 and answer.code() == "E1001", (path, answer)
        assert answer.closed
    admin = hub.admin()["Authorization"]
    over = exchange(url, head("/adapters", JSON, token=admin, length=2 * 1024 * 1024), timeout=10)
    assert over.status == 413 and over.code() == "E1001"
    form = exchange(url, head("/oauth/token", FORM, length=1024 * 1024), timeout=10)
    assert form.status == 413, "the token's form is capped far below the JSON bodies"

    piece = b"10000\r\n" + b" " * 0x10000 + b"\r\n"  # chunks of 64 KiB of JSON whitespace
    for path, token in (("/healthz", None), ("/adapters", admin)):
        streamed = exchange(url, head(path, JSON, token=token, length=None), itertools.repeat(piece, 1024))
        assert streamed.status == 413 and streamed.code() == "E1001", (path, streamed)
        assert streamed.sent < 32 * 1024 * 1024, f"{path}: {streamed.sent} bytes sent of 64 MiB"
    assert hub.http.get("/healthz").status_code == 200


def test_json_nested_too_deep_is_refused_never_a_500(hub: HubClient, database_url: str) -> None:
    deep = (HOSTILE / "deep_nesting.json").read_bytes()
    admin = hub.admin()
    for path, headers in (("/adapters", admin), ("/addressees/search", admin), ("/healthz", {})):
        answer = hub.http.post(path, content=deep, headers={**headers, "Content-Type": JSON})
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002", (path, answer.text)
    nested = '{"name": ' * 33 + '"x"' + "}" * 33
    answer = hub.http.post("/clients", content=nested, headers={**admin, "Content-Type": JSON})
    assert answer.status_code == 400 and "deeper than 32" in answer.json()["error"]["message"]
    assert count_rows(database_url, "clients") == 0


# --- a body that trickles in --------------------------------------------------------------------------

PACE = {"body_grace_seconds": 1.0, "body_min_bytes_per_second": 1000}


@pytest.fixture
def hurried(settings: Settings) -> Iterator[HubClient]:
    """A hub that gives a body one second, then wants 1,000 bytes a second of it on average."""
    hurried = settings.model_copy(update=PACE)
    with serve_in_thread(create_app(hurried)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield HubClient(client)


def trickle(url: str, request_head: str, pieces: int = 200) -> RawAnswer:
    """Five bytes a second (one every 0.2 s) of a body declared long enough never to end."""
    return exchange(url, request_head, itertools.repeat(b" ", pieces), interval=0.2, timeout=20)


def test_a_body_that_trickles_in_is_dropped(hurried: HubClient, database_url: str) -> None:
    """Past the grace period a body must come at the minimum rate: 408 E1001 (as a SOAP Fault from the
    SOAP endpoints), the connection closed, nothing kept. Before, such a client held a request forever."""
    hub, url = hurried, str(hurried.http.base_url)
    admin = hub.admin()["Authorization"]
    hub.register("011")
    zeimu = hub.unit_headers(hub.register("002"))["Authorization"]
    clients = count_rows(database_url, "clients")
    cases = {
        "authenticated JSON": head("/clients", JSON, token=admin, length=10_000),
        "the public token endpoint": head("/oauth/token", FORM, length=10_000),
        "a SOAP message": head("/linkage/messages", "text/xml", token=zeimu, length=10_000),
        "a batch file": head("/batches", "text/xml", token=zeimu, length=10_000_000),
    }
    for case, request_head in cases.items():
        answer = trickle(url, request_head)
        assert answer.status == 408, (case, answer)
        assert answer.seconds < 10, (case, answer.seconds)
        assert answer.code() == "E1001", (case, answer)
        assert answer.closed, case
    silent = exchange(url, head("/clients", JSON, token=admin, length=100), timeout=20)
    assert silent.status == 408 and silent.seconds < 10, "a body declared and never sent"
    assert count_rows(database_url, "clients") == clients
    assert count_rows(database_url, "messages") == count_rows(database_url, "batch_chunks") == 0
    assert hub.http.get("/healthz").status_code == 200


def test_a_slow_body_at_the_minimum_rate_goes_through(hurried: HubClient) -> None:
    """Three seconds of upload at three times the minimum rate: past the grace period, and accepted."""
    body = b'{"name": "integrator", "role": "integrator"}'.ljust(9000)
    pieces = [body[n : n + 300] for n in range(0, len(body), 300)]
    request_head = head("/clients", JSON, token=hurried.admin()["Authorization"], length=len(body))
    answer = exchange(str(hurried.http.base_url), request_head, pieces, interval=0.1, timeout=30)
    assert answer.status == 201, answer
    assert answer.seconds > PACE["body_grace_seconds"]
