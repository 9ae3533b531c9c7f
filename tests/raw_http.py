"""A raw HTTP/1.1 client on a socket: a request head, then its body piece by piece at the pace a test
chooses (or not at all), stopping as soon as the server answers. What httpx will not do: declare a
body and never send it, or trickle one."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from lxml import etree

LK = "urn:platform-hub:linkage:1"


@dataclass
class RawAnswer:
    status: int | None  # None: no answer in time
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the client got to send before the answer came
    seconds: float  # from the request's first byte to the answer's last
    closed: bool  # the server closed the connection after answering

    def code(self) -> str | None:
        """The error code of the answer: a JSON error's, or a SOAP Fault's."""
        if "json" in self.headers.get("content-type", ""):
            return str(json.loads(self.body)["error"]["code"])
        if "xml" in self.headers.get("content-type", ""):
            return etree.fromstring(self.body).findtext(".//lk:ErrorCode", namespaces={"lk": LK})
        return None


def exchange(
    base_url: str,
    head: str,
    pieces: Iterable[bytes] = (),
    *,
    interval: float = 0.0,
    timeout: float = 15.0,
) -> RawAnswer:
    """Send ``head`` (the request line and header lines, no blank line), then each piece ``interval``
    seconds after the last unless the server has answered meanwhile; read the answer until ``timeout``."""
    url = httpx.URL(base_url)
    started = time.monotonic()
    deadline = started + timeout
    with socket.create_connection((url.host, url.port or 80), timeout=timeout) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n")
        sent = 0
        for piece in pieces:
            # Sending on after the server answered and closed would be reset, losing the answer.
            if _readable(sock, min(interval, max(deadline - time.monotonic(), 0))):
                break
            if time.monotonic() > deadline:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        status, headers, body = _read_answer(sock, deadline)
        seconds = time.monotonic() - started
        closed = status is not None and _closed(sock)
    return RawAnswer(status, headers, body, sent, seconds, closed)


def _readable(sock: socket.socket, seconds: float) -> bool:
    readable, _, _ = select.select([sock], [], [], seconds)
    return bool(readable)


def _read_answer(sock: socket.socket, deadline: float) -> tuple[int | None, dict[str, str], bytes]:
    received = b""
    while time.monotonic() < deadline:
        if not _readable(sock, deadline - time.monotonic()):
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
        head, separator, body = received.partition(b"\r\n\r\n")
        if separator:
            headers = _headers(head)
            if len(body) >= int(headers.get("content-length", "-1")) >= 0:
                return int(head.split()[1]), headers, body
    if b"\r\n\r\n" not in received:
        return None, {}, b""
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), _headers(head), body


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}


def _closed(sock: socket.socket, seconds: float = 5.0) -> bool:
    try:
        return _readable(sock, seconds) and sock.recv(1) == b""
    except ConnectionResetError:
        return True
