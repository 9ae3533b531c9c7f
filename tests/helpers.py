"""What tests use to talk to the hub: tokens, registrations and linkage messages."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import sqlalchemy as sa
import uvicorn
from lxml import etree

from platform_hub.kit.settings import BUNDLED_SPECS, Settings
from platform_hub.protocol.catalog import load_catalog
from platform_hub.protocol.numbers import atena_number
from platform_hub.web.app import create_app

CATALOG = load_catalog(BUNDLED_SPECS)
ADMIN_ID = "test-admin"
ADMIN_SECRET = "test-admin-secret-0123456789"
LK = "urn:platform-hub:linkage:1"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {"lk": LK, "soap": SOAP}

# The demo city's units (docs/glossary.md): 001 住民基本台帳, 002 個人住民税, 011 児童手当 (市長),
# 051 就学援助 (教育委員会).
UNITS = {
    "001": ("住民基本台帳", "市長", ["IF_JUK_0001", "IF_JUK_0002"], [], ["JUK-001"]),
    "002": ("個人住民税", "市長", ["IF_ZEI_0001", "IF_ZEI_0101"], ["IF_JUK_0001"], ["ZEI-001"]),
    "011": ("児童手当", "市長", ["IF_JDT_0001"], ["IF_JUK_0001", "IF_ZEI_0101"], ["JDT-001"]),
    "051": ("就学援助", "教育委員会", [], ["IF_JUK_0001"], ["SHU-001"]),
}


PERSON = {
    "name": "山田　太郎",
    "name_kana": "ヤマダ　タロウ",
    "birth_date": "1985-04-01",
    "sex": "1",
    "address": "東京都千代田区千代田一丁目１番１号",
    "municipality_code": "131016",
}
# One resident, numbered differently by each unit (each a valid 宛名番号).
YAMADA = {
    "001": atena_number(101),
    "002": atena_number(202),
    "011": atena_number(1),
    "051": atena_number(505),
}


def soap_message(
    interface_id: str,
    source: str,
    payload: str | dict[str, str],
    *,
    destination: str | None = None,
    msgid: str | None = None,
    mode: str = "0",
    purpose: str = "JDT-001",
    suffix: str = "R01",
) -> bytes:
    """A linkage request envelope; ``payload`` is the Payload's inner XML or a flat item mapping."""
    if isinstance(payload, dict):
        payload = "".join(f"<lk:{k}>{escape(v)}</lk:{k}>" for k, v in payload.items())
    message_type = f"{interface_id}_{suffix}"
    destination_xml = f"<lk:DestinationSystemID>{destination}</lk:DestinationSystemID>" if destination else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{SOAP}">
 <soap:Body>
  <lk:{message_type} xmlns:lk="{LK}">
   <lk:MessageHeader>
    <lk:MSGID>{msgid or uuid.uuid4().hex}</lk:MSGID>
    <lk:MSGTypeID>{message_type}</lk:MSGTypeID>
    <lk:MSGMode>{mode}</lk:MSGMode>
    <lk:SourceSystemID>{source}</lk:SourceSystemID>
    {destination_xml}
    <lk:PurposeCode>{purpose}</lk:PurposeCode>
    <lk:SendDateTime>2026-11-26T10:00:00+09:00</lk:SendDateTime>
   </lk:MessageHeader>
   <lk:MessageBody>
    <lk:RequestSourceUnitCode>KODOMO-1</lk:RequestSourceUnitCode>
    <lk:RequestSourceUserID>u0123</lk:RequestSourceUserID>
    <lk:Payload>{payload}</lk:Payload>
   </lk:MessageBody>
  </lk:{message_type}>
 </soap:Body>
</soap:Envelope>""".encode()


def zei_query(source: str = "011", atena: str = YAMADA["011"], year: str = "2026", **kw: Any) -> bytes:
    return soap_message("IF_ZEI_0001", source, {"AtenaNo": atena, "KazeiNendo": year}, **kw)


def ido_notification(
    atena: str = YAMADA["001"],
    jiyu: str = "03",
    *,
    my_number: str | None = None,
    changes: dict[str, str] | None = None,
    **kw: Any,
) -> bytes:
    """A 住民異動通知 from 001 (転居 by default) about the person with 001's ``atena``."""
    items = {
        "IdoJiyuCode": jiyu,
        "IdoDate": "2026-11-01",
        "AtenaNo": atena,
        "SetaiNo": "000000000000027",
        "ZokugaraCode": "01",
        "Shimei": "山田　太郎",
        "ShimeiKana": "ヤマダ　タロウ",
        "SeinengappiDate": "1985-04-01",
        "SeibetsuCode": "1",
        "ShikuchosonCode": "131016",
        "Jusho": "東京都千代田区千代田一丁目１番１号",
        "JuminJotaiCode": "1",
        **({"KojinBango": my_number} if my_number else {}),
        **(changes or {}),
    }
    return soap_message("IF_JUK_0001", "001", in_spec_order("IF_JUK_0001", items), **kw)


def in_spec_order(interface_id: str, items: dict[str, str]) -> dict[str, str]:
    """The items in the order the interface's XSD wants them."""
    order = [item.romaji for item in CATALOG.interfaces[interface_id].spec.request]
    return {name: items[name] for name in order if name in items}


def valid_my_number(body: str) -> str:
    """A 個人番号 of 11 digits and its check digit: tests make theirs rather than write them out."""
    from stdnum.jp import in_ as my_number_format

    return body + my_number_format.calc_check_digit(body)


def fault_code(response: httpx.Response) -> str | None:
    root = etree.fromstring(response.content)
    return root.findtext(".//lk:ErrorCode", namespaces=NS)


def header_field(xml: bytes, name: str) -> str | None:
    return etree.fromstring(xml).findtext(f".//lk:MessageHeader/lk:{name}", namespaces=NS)


@dataclass
class HubClient:
    """A client of the hub (in-process TestClient or a real server), with the admin's shortcuts."""

    http: httpx.Client

    def token(self, client_id: str, secret: str, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        response = self.http.post("/oauth/token", data=data, auth=(client_id, secret))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def admin(self) -> dict[str, str]:
        """The administrator's headers, with a token asked for once a minute (as a client keeps one)."""
        cached: tuple[float, dict[str, str]] | None = getattr(self, "_admin", None)
        if cached is None or time.monotonic() - cached[0] > 60:
            cached = (time.monotonic(), {"Authorization": f"Bearer {self.token(ADMIN_ID, ADMIN_SECRET)}"})
            self._admin = cached
        return cached[1]

    def register(self, code: str, base_url: str = "http://127.0.0.1:9", **overrides: Any) -> dict[str, Any]:
        name, organ, provides, subscribes, purposes = UNITS.get(code, (f"unit {code}", "市長", [], [], []))
        body = {
            "unit_code": code,
            "name": name,
            "organ": organ,
            "base_url": base_url,
            "provides": provides,
            "subscribes": subscribes,
            "purposes": purposes,
            **overrides,
        }
        response = self.http.post("/adapters", json=body, headers=self.admin())
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def unit_headers(self, credentials: dict[str, Any], scope: str | None = None) -> dict[str, str]:
        token = self.token(credentials["client_id"], credentials["client_secret"], scope)
        return {"Authorization": f"Bearer {token}"}

    def staff(self, role: str) -> dict[str, str]:
        """Headers of a new auditor / integrator / admin client."""
        created = self.http.post(
            "/clients", json={"name": f"test {role}", "role": role}, headers=self.admin()
        )
        assert created.status_code == 201, created.text
        token = self.token(created.json()["client_id"], created.json()["client_secret"])
        return {"Authorization": f"Bearer {token}"}

    def admin_auditor(self) -> dict[str, str]:
        """An auditor's headers, made once per client."""
        if not hasattr(self, "_auditor"):
            self._auditor = self.staff("auditor")
        return self._auditor

    def enroll(self, numbers: dict[str, str], my_number: str | None = None, **info: str) -> str:
        """Register a person in the registry with these units' 宛名番号; returns the integrated number."""
        first, *others = numbers.items()
        body = {
            **PERSON,
            **info,
            "unit_code": first[0],
            "atena_number": first[1],
            "status": "resident",
            "reason": "test fixture",
            **({"my_number": my_number} if my_number else {}),
        }
        response = self.http.post("/addressees", json=body, headers=self.admin())
        assert response.status_code == 201, response.text
        integrated = str(response.json()["person_id"])
        for unit, atena in others:
            linked = self.http.post(
                f"/addressees/{integrated}/links",
                headers=self.admin(),
                json={"unit_code": unit, "atena_number": atena, "reason": "test fixture"},
            )
            assert linked.status_code == 201, linked.text
        return integrated

    def send(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(
            "/linkage/messages", content=body, headers={"Content-Type": "text/xml; charset=utf-8", **headers}
        )


def count_rows(database_url: str, table: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def rows(database_url: str, query: str) -> list[sa.Row[Any]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query)))
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a loopback port; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def served_hub(settings: Settings) -> Iterator[tuple[str, HubClient]]:
    """The hub with these settings served on a loopback port: its URL, and a client of it."""
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield url, HubClient(http)


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def execute(database_url: str, *statements: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def drop_triggers(database_url: str) -> None:
    """What an intruder with database rights does first."""
    if database_url.startswith("sqlite"):
        names = rows(database_url, "SELECT name FROM sqlite_master WHERE type = 'trigger'")
        execute(database_url, *[f"DROP TRIGGER {row.name}" for row in names])
    else:  # one table at a time: the hub's sealer keeps reading meanwhile
        tables = ("transfer_records", "transfer_chain", "audit_checkpoints")
        tables += ("operations", "operation_chain", "operation_checkpoints")
        for table in tables:
            drop_retrying(database_url, f"DROP TRIGGER {table}_append_only ON {table}")


def drop_retrying(database_url: str, statement: str, attempts: int = 5) -> None:
    """PostgreSQL breaks a deadlock between the drop and the sealer by failing one of them; the
    intruder, like the sealer, just tries again."""
    for attempt in range(attempts):
        try:
            execute(database_url, statement)
            return
        except sa.exc.OperationalError as error:
            if "deadlock" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.2)


@dataclass
class HubProcess:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def hub_process(settings: Settings, port: int | None = None, log: Path | None = None) -> Iterator[HubProcess]:
    """``platform-hub serve`` as a separate OS process with these settings (a replica sharing the
    database and the keys, or a hub to kill); what it writes (uvicorn's access lines on stdout among
    it) goes to ``log`` if given."""
    port = port or free_port()
    chosen = {name: value for name, value in settings.model_dump().items() if value is not None}
    env = {**os.environ, **{f"PLATFORM_HUB_{name.upper()}": str(value) for name, value in chosen.items()}}
    command = [sys.executable, "-m", "platform_hub.cli", "serve", "--port", str(port)]
    with open(log or os.devnull, "wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    scheme = "https" if settings.tls_certfile else "http"
    hub = HubProcess(f"{scheme}://127.0.0.1:{port}", process)
    try:
        wait_until(lambda: answers(f"{hub.url}/healthz", settings.tls_certfile), timeout=30)
        yield hub
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)


def answers(url: str, ca_file: Path | None = None) -> bool:
    """Whether ``GET url`` answers 200 (a server up and ready); ``ca_file`` verifies an HTTPS one."""
    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    try:
        return httpx.get(url, timeout=1, verify=verify).status_code == 200
    except httpx.TransportError:
        return False


# --- 一括: the income set (IF_ZEI_0101) from 002 to 011 -------------------------------------------

INCOME_RECORD = (
    "<lk:Shotoku><lk:RecordNo>{n}</lk:RecordNo><lk:AtenaNo>{atena}</lk:AtenaNo>"
    "<lk:KazeiKubunCode>{kubun}</lk:KazeiKubunCode><lk:SoshotokuKingaku>{income}</lk:SoshotokuKingaku>"
    "<lk:ShotokuwariGaku>{tax}</lk:ShotokuwariGaku><lk:FuyoNinzu>1</lk:FuyoNinzu></lk:Shotoku>"
)
INCOME_HEAD = (
    "<lk:KazeiNendo>2026</lk:KazeiNendo><lk:ShoriKubun>1</lk:ShoriKubun>"
    "<lk:SakuseiDate>2026-06-01</lk:SakuseiDate>"
)


def taxpayer_atena(unit: str, n: int) -> str:
    """Taxpayer ``n``'s 宛名番号 at 002 or 011 (as ``seed_taxpayers`` links them)."""
    return atena_number({"002": 20_000_000, "011": 11_000_000}[unit] + n)


def income_batch(count: int, *, msgid: str, atena: Any = None, kubun: Any = None) -> Iterator[bytes]:
    """An IF_ZEI_0101 message of ``count`` records, streamed in pieces (a million fit in no memory).
    ``atena(n)`` / ``kubun(n)`` may replace record n's 宛名番号 / 課税区分."""
    head, tail = soap_message(
        "IF_ZEI_0101", "002", INCOME_HEAD + "@RECORDS@", destination="011", msgid=msgid, purpose="ZEI-001"
    ).split(b"@RECORDS@")
    yield head
    piece = []
    for n in range(1, count + 1):
        piece.append(
            INCOME_RECORD.format(
                n=n,
                atena=atena(n) if atena else taxpayer_atena("002", n),
                kubun=kubun(n) if kubun else "1",
                income=3_000_000 + n % 1000,
                tax=150_000,
            )
        )
        if len(piece) == 1000:
            yield "".join(piece).encode()
            piece = []
    yield "".join(piece).encode() + tail


def seed_taxpayers(database_url: str, count: int) -> None:
    """``count`` persons linked at 002 and 011, written straight into the registry (the API would take
    minutes for a city): integrated numbers far above what the registry hands out."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            for start in range(1, count + 1, 10_000):
                serials = range(start, min(start + 10_000, count + 1))
                connection.execute(
                    sa.text(
                        "INSERT INTO persons (id, integrated_number, restricted_attributes, created_at) "
                        "VALUES (:id, :number, '[]', CURRENT_TIMESTAMP)"
                    ),
                    [{"id": 10_000_000 + n, "number": atena_number(900_000_000 + n)} for n in serials],
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO atena_links (person_id, unit_code, atena_number, non_resident, "
                        "linked_at, linked_by, link_reason) "
                        "VALUES (:person, :unit, :atena, false, CURRENT_TIMESTAMP, 'tests', 'seeded')"
                    ),
                    [
                        {"person": 10_000_000 + n, "unit": unit, "atena": taxpayer_atena(unit, n)}
                        for n in serials
                        for unit in ("002", "011")
                    ],
                )
        with engine.begin() as connection:  # the statistics autovacuum would gather in a minute or so
            connection.execute(sa.text("ANALYZE persons"))
            connection.execute(sa.text("ANALYZE atena_links"))
    finally:
        engine.dispose()
