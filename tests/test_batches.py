"""一括 (IF_ZEI_0101, 002 → 011): each record checked, kept, delivered and recorded on its own; CSV
uploads; chunks; the same MSGID again; a hub killed while it receives and while it delivers."""

from __future__ import annotations

import contextlib
import csv
import io
import signal
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lxml import etree

from platform_hub.batches.reader import XmlBatch
from platform_hub.kit.settings import Settings
from platform_hub.protocol.errors import MalformedMessage
from platform_hub.protocol.numbers import atena_number
from platform_hub.protocol.xml import XmlLimits
from tests.helpers import (
    LK,
    NS,
    HubClient,
    count_rows,
    execute,
    fault_code,
    header_field,
    hub_process,
    income_batch,
    rows,
    seed_taxpayers,
    serve_in_thread,
    served_hub,
    taxpayer_atena,
    wait_until,
)
from tests.raw_http import exchange
from tests.units import TestUnit


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"batch_chunk_records": 100})


def upload(
    hub: HubClient, body: bytes | Iterator[bytes], headers: dict[str, str], **kw: Any
) -> httpx.Response:
    kind = kw.pop("content_type", "text/xml")
    return hub.http.post("/batches", content=body, headers={**headers, "Content-Type": kind}, **kw)


def whole(pieces: Iterator[bytes]) -> bytes:
    return b"".join(pieces)


def counts(response: httpx.Response) -> tuple[int, int, int]:
    root = etree.fromstring(response.content)
    return tuple(
        int(root.findtext(f".//lk:{name}", namespaces=NS) or -1)
        for name in ("UketsukeKensu", "SeijoKensu", "ErrorKensu")
    )  # type: ignore[return-value]


def record_results(response: httpx.Response) -> list[tuple[str | None, str | None]]:
    root = etree.fromstring(response.content)
    return [
        (result.findtext("lk:RecordNo", namespaces=NS), result.findtext("lk:ResultCode", namespaces=NS))
        for result in root.iterfind(".//lk:RecordResult", namespaces=NS)
    ]


def received_records(unit: TestUnit) -> list[tuple[str, str]]:
    """(RecordNo, AtenaNo) of every record the unit received, once per MSGID (as the SDK dedups)."""
    seen, records = set(), []
    for message in unit.received:
        msgid = message.findtext("lk:MessageHeader/lk:MSGID", namespaces=NS)
        if msgid in seen:
            continue
        seen.add(msgid)
        for record in message.iterfind(".//lk:Shotoku", namespaces=NS):
            records.append(
                (
                    record.findtext("lk:RecordNo", namespaces=NS) or "",
                    record.findtext("lk:AtenaNo", namespaces=NS) or "",
                )
            )
    return records


def delivery_status(database_url: str) -> str | None:
    found = rows(database_url, "SELECT status FROM deliveries")
    return found[0].status if found else None


def test_each_record_is_checked_kept_delivered_and_recorded_on_its_own(
    hub: HubClient, database_url: str
) -> None:
    seed_taxpayers(database_url, 6)
    execute(database_url, f"DELETE FROM atena_links WHERE atena_number = '{taxpayer_atena('011', 5)}'")
    jidou = TestUnit()
    odd = {2: {"kubun": "9"}, 3: {"atena": atena_number(77_777)}}  # not a 課税区分; nobody at 002
    batch = income_batch(
        6,
        msgid="income-2026",
        atena=lambda n: odd.get(n, {}).get("atena", taxpayer_atena("002", n)),
        kubun=lambda n: odd.get(n, {}).get("kubun", "1"),
    )
    with serve_in_thread(jidou.app()) as url:
        hub.register("011", url)
        zeimu = hub.unit_headers(hub.register("002"))
        response = upload(hub, batch, zeimu)
        assert response.status_code == 200, response.text
        assert counts(response) == (6, 4, 2)
        assert record_results(response) == [("2", "E1002"), ("3", "E3002")]
        assert header_field(response.content, "MSGResult") == "1"
        wait_until(lambda: delivery_status(database_url) == "delivered")
    # 5 is not linked at 011: refused there, and recorded as refused; the others arrive in 011's numbers.
    assert received_records(jidou) == [(str(n), taxpayer_atena("011", n)) for n in (1, 4, 6)]
    outcomes = rows(database_url, "SELECT outcome, count(*) AS n FROM transfer_records GROUP BY outcome")
    assert {row.outcome: row.n for row in outcomes} == {"delivered": 3, "refused": 1}
    reception = header_field(response.content, "ReceptionNumber")
    report = hub.http.get(f"/batches/{reception}/results", headers=zeimu)
    assert report.status_code == 200 and report.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert [(line[0], line[1], line[2], line[3]) for line in lines[1:]] == [
        ("2", "2", "", "E1002"),
        ("3", "3", "", "E3002"),
        ("5", "5", "011", "E3002"),
    ]
    progress = hub.http.get(f"/batches/{reception}", headers=zeimu).json()
    assert progress["status"] == "received" and progress["records_accepted"] == 4
    assert progress["deliveries"] == [
        {
            "subscriber_unit": "011",
            "status": "delivered",
            "chunks_done": 1,
            "records_delivered": 3,
            "records_refused": 1,
        }
    ]
    other = hub.unit_headers(hub.register("051"))
    refused = hub.http.get(f"/batches/{reception}", headers=other)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "E2002"


def test_a_csv_file_with_the_head_in_the_query(hub: HubClient, database_url: str) -> None:
    seed_taxpayers(database_url, 3)
    jidou = TestUnit()
    text = (
        "レコード番号,宛名番号,課税区分,総所得金額,所得割額,扶養人数\r\n"
        + "".join(f"{n},{taxpayer_atena('002', n)},1,3000000,150000,1\r\n" for n in range(1, 4))
        + "4,000000000000000,1,1,1,1,extra\r\n"
    )
    head = {
        "interface": "IF_ZEI_0101",
        "msgid": "income-csv",
        "purpose_code": "ZEI-001",
        "department": "ZEIMU-1",
        "user": "u0001",
        "KazeiNendo": "2026",
        "ShoriKubun": "1",
        "SakuseiDate": "2026-06-01",
    }
    with serve_in_thread(jidou.app()) as url:
        hub.register("011", url)
        zeimu = hub.unit_headers(hub.register("002"))
        missing = {k: v for k, v in head.items() if k != "KazeiNendo"}
        refused = upload(hub, text.encode("utf-8-sig"), zeimu, content_type="text/csv", params=missing)
        assert fault_code(refused) == "E1002" and b"KazeiNendo" in refused.content
        response = upload(hub, text.encode("utf-8-sig"), zeimu, content_type="text/csv", params=head)
        assert response.status_code == 200, response.text
        assert counts(response) == (4, 3, 1) and record_results(response) == [("4", "E1002")]
        wait_until(lambda: delivery_status(database_url) == "delivered")
    assert received_records(jidou) == [(str(n), taxpayer_atena("011", n)) for n in (1, 2, 3)]
    unknown = upload(hub, b"Bango\r\n1\r\n", zeimu, content_type="text/csv", params=head | {"msgid": "x"})
    assert fault_code(unknown) == "E1002"


def test_chunks_go_as_messages_of_their_own_and_the_same_msgid_is_answered_again(
    hub: HubClient, database_url: str
) -> None:
    seed_taxpayers(database_url, 250)
    jidou = TestUnit()
    with serve_in_thread(jidou.app()) as url:
        hub.register("011", url)
        zeimu = hub.unit_headers(hub.register("002"))
        first = upload(hub, income_batch(250, msgid="income-250"), zeimu)
        assert counts(first) == (250, 250, 0)
        wait_until(lambda: delivery_status(database_url) == "delivered")
        again = upload(hub, income_batch(250, msgid="income-250"), zeimu)
        assert again.content == first.content
        changed = upload(
            hub, income_batch(250, msgid="income-250", kubun=lambda n: "2" if n == 249 else "1"), zeimu
        )
        assert fault_code(changed) == "E4002"
        shorter = upload(hub, income_batch(120, msgid="income-250"), zeimu)
        assert fault_code(shorter) == "E4002"
    reception = header_field(first.content, "ReceptionNumber")
    assert [jidou.header(i, "MSGID") for i in range(3)] == [f"{reception}-{n:06d}" for n in range(3)]
    assert [len(m.findall(".//lk:Shotoku", NS)) for m in jidou.received] == [100, 100, 50]
    assert received_records(jidou) == [(str(n), taxpayer_atena("011", n)) for n in range(1, 251)]
    assert count_rows(database_url, "batch_chunks") == 3
    assert count_rows(database_url, "transfer_records") == 250


def test_hostile_batches_are_refused_with_their_code_and_nothing_kept(
    hub: HubClient, database_url: str
) -> None:
    seed_taxpayers(database_url, 2)
    zeimu = hub.unit_headers(hub.register("002"))
    hub.register("011")
    jidou = hub.unit_headers(hub.register("051"))
    good = whole(income_batch(2, msgid="hostile"))
    doctype = good.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY a "aaaa">]>', 1)
    cases = {
        "E1001": [
            upload(hub, doctype, zeimu),
            upload(hub, good[:-40], zeimu),  # cut short
            upload(hub, good, zeimu, content_type="application/json"),
            upload(hub, b"", zeimu),
        ],
        "E2001": [upload(hub, good, {})],
        "E2002": [upload(hub, good, jidou)],  # 051 sending as 002
        "E1003": [upload(hub, good.replace(b"IF_ZEI_0101", b"IF_ZEI_0001"), zeimu)],  # not a batch
        "E1002": [upload(hub, good.replace(b"<lk:KazeiNendo>2026", b"<lk:KazeiNendo>26"), zeimu)],
    }
    for code, responses in cases.items():
        assert [fault_code(r) for r in responses] == [code] * len(responses), code
    assert count_rows(database_url, "batch_chunks") == 0 and count_rows(database_url, "deliveries") == 0
    assert hub.http.get("/healthz").status_code == 200


def _read(body: bytes, limits: XmlLimits) -> int:
    """How many records the batch reader hands on from ``body`` (its head and rest read too)."""
    reader = XmlBatch(io.BytesIO(body), limits=limits)
    reader.head({"IF_ZEI_0101_R01": f"{{{LK}}}Shotoku"})
    count = sum(1 for _ in reader.records(f"{{{LK}}}Shotoku"))
    reader.rest()
    return count


def test_the_readers_element_limit_counts_each_record_on_its_own() -> None:
    limits = Settings().xml_limits
    records = limits.elements // 7 + 1  # 7 elements a record: more than the limit in all
    assert _read(whole(income_batch(records, msgid="many")), limits) == records
    crowded = whole(income_batch(2, msgid="crowded")).replace(
        b"<lk:FuyoNinzu>1</lk:FuyoNinzu>", b"<lk:FuyoNinzu>1</lk:FuyoNinzu>" + b"<x/>" * limits.elements, 1
    )
    with pytest.raises(MalformedMessage, match=f"more than {limits.elements:,} elements"):
        _read(crowded, limits)


def test_the_readers_namespace_and_attribute_limits() -> None:
    limits = Settings().xml_limits
    declarations = " ".join(f'xmlns:n{i}="urn:example:{i}"' for i in range(limits.namespaces))
    attributes = declarations.replace("xmlns:", "")
    body = whole(income_batch(3, msgid="ns"))
    per_record = body.replace(b"<lk:Shotoku>", b'<lk:Shotoku xmlns:n="urn:example:record">')
    assert _read(per_record, limits) == 3  # a declaration on each record: one in scope at a time
    for hostile, problem in [
        (body.replace(b"<soap:Envelope ", f"<soap:Envelope {declarations} ".encode(), 1), "namespace"),
        (body.replace(b"<lk:Shotoku>", b'<lk:Shotoku xmlns:r="relative">', 1), "absolute URI"),
        (body.replace(b"<lk:Shotoku>", f"<lk:Shotoku {attributes}>".encode()), "attributes"),
    ]:
        with pytest.raises(MalformedMessage, match=problem):
            _read(hostile, limits)


def test_a_batch_sent_whole_to_the_linkage_endpoint_is_counted_by_record(
    hub: HubClient, database_url: str
) -> None:
    """A batch in one message (up to the body cap) holds more elements than a message may: its records
    are counted one at a time there too."""
    records = Settings().max_xml_elements // 7 + 1
    seed_taxpayers(database_url, records)
    hub.register("011")
    zeimu = hub.unit_headers(hub.register("002"))
    body = whole(income_batch(records, msgid="whole"))
    response = hub.send(body, zeimu)
    assert response.status_code == 200, response.text[:500]
    assert counts(response) == (records, records, 0)


SECURITY = '<sec:Security xmlns:sec="urn:example:security" soap:mustUnderstand="{}"/>'


def test_a_batch_header_is_checked_then_dropped(hub: HubClient, database_url: str) -> None:
    seed_taxpayers(database_url, 2)
    hub.register("011")
    zeimu = hub.unit_headers(hub.register("002"))

    def batch(msgid: str, header: str = "", trailer: str = "") -> bytes:
        body = whole(income_batch(2, msgid=msgid))
        body = body.replace(b"<soap:Body>", f"<soap:Header>{header}</soap:Header><soap:Body>".encode(), 1)
        return body.replace(b"</soap:Body>", f"</soap:Body>{trailer}".encode(), 1)

    refused = upload(hub, batch("must-understand", SECURITY.format("1")), zeimu)
    assert (refused.status_code, fault_code(refused)) == (400, "E1002")
    assert etree.fromstring(refused.content).findtext(".//faultcode") == "soap:MustUnderstand"
    assert count_rows(database_url, "batch_chunks") == 0
    trailer = "<x:Trailer xmlns:x='urn:example:x'/>"
    assert fault_code(upload(hub, batch("after-body", trailer=trailer), zeimu)) == "E1002"
    taken = upload(hub, batch("optional-header", SECURITY.format("0")), zeimu)
    assert taken.status_code == 200, taken.text
    (stored,) = rows(database_url, "SELECT request_xml FROM messages WHERE msgid = 'optional-header'")
    assert b"<soap:Header" not in bytes(stored.request_xml)


def test_a_batch_the_token_may_not_send_is_refused_before_a_byte_is_read(hub: HubClient) -> None:
    """A unit that sends no batch (051), one that does not send this one (011 and IF_ZEI_0101), an
    auditor: E2002 at once, the 300 MiB they declare never read (nothing spooled), the connection closed."""
    hub.register("002")
    uploads = {
        "051, no batch interface": ("/batches", "text/xml", hub.unit_headers(hub.register("051"))),
        "011, not IF_ZEI_0101": (
            "/batches?interface=IF_ZEI_0101&msgid=m1&purpose_code=JDT-001&department=D&user=u",
            "text/csv",
            hub.unit_headers(hub.register("011")),
        ),
        "an auditor": ("/batches", "text/xml", hub.staff("auditor")),
    }
    for case, (target, kind, headers) in uploads.items():
        request_head = (
            f"POST {target} HTTP/1.1\r\nHost: hub\r\nContent-Type: {kind}\r\n"
            f"Authorization: {headers['Authorization']}\r\nContent-Length: {300 * 1024 * 1024}"
        )
        answer = exchange(str(hub.http.base_url), request_head, timeout=10)
        assert answer.status == 403 and answer.code() == "E2002", (case, answer)
        assert answer.closed, case


def test_a_batch_survives_a_hub_killed_while_receiving_it_and_while_delivering_it(
    settings: Settings, database_url: str
) -> None:
    """kill -9 mid-upload: the same batch sent again is kept from where it stopped; kill -9 mid-delivery:
    the next hub goes on. The subscriber has every record once (after MSGID dedup), in order, and each
    has exactly one transfer record entry."""
    count = 20_000
    settings = settings.model_copy(update={"batch_chunk_records": 500, "sealer_enabled": False})
    seed_taxpayers(database_url, count)
    jidou = TestUnit(delay=0.05)

    def progress(query: str) -> int:
        return int(rows(database_url, query)[0][0] or 0)

    with serve_in_thread(jidou.app()) as unit_url:
        with hub_process(settings) as first, httpx.Client(base_url=first.url, timeout=60) as client:
            hub = HubClient(client)
            hub.register("011", unit_url)
            credentials = hub.register("002")
            sending = threading.Thread(
                target=lambda: _quietly(
                    lambda: upload(
                        hub, income_batch(count, msgid="income-killed"), {**hub.unit_headers(credentials)}
                    )
                )
            )
            sending.start()
            wait_until(
                lambda: progress("SELECT max(records_received) FROM batches") >= 1000,
                timeout=60,
                interval=0.01,
            )
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
            sending.join()
        assert progress("SELECT max(records_received) FROM batches") < count  # it was cut short
        with hub_process(settings) as second, httpx.Client(base_url=second.url, timeout=120) as client:
            hub = HubClient(client)
            settings_stale = settings.query_timeout_seconds * 2
            wait_until(lambda: _resumed(hub, credentials, count), timeout=settings_stale + 60, interval=0.5)
            wait_until(
                lambda: progress("SELECT count(*) FROM batch_chunk_deliveries") >= 3,
                timeout=60,
                interval=0.01,
            )
            second.process.send_signal(signal.SIGKILL)
            second.process.wait()
        done = progress("SELECT count(*) FROM batch_chunk_deliveries")
        assert done < count // 500
        with hub_process(settings):
            wait_until(lambda: delivery_status(database_url) == "delivered", timeout=120, interval=0.2)
    assert received_records(jidou) == [(str(n), taxpayer_atena("011", n)) for n in range(1, count + 1)]
    assert count_rows(database_url, "batch_chunks") == count // 500
    assert count_rows(database_url, "transfer_records") == count
    assert progress("SELECT count(DISTINCT subject_integrated_number) FROM transfer_records") == count


def _quietly(work: Any) -> None:
    with contextlib.suppress(httpx.TransportError):  # the hub was killed under it
        work()


def _resumed(hub: HubClient, credentials: dict[str, Any], count: int) -> bool:
    """The same batch sent again: answered with every record, or 503 while the dead upload looks alive."""
    response = upload(hub, income_batch(count, msgid="income-killed"), hub.unit_headers(credentials))
    if response.status_code == 503:
        return False
    assert response.status_code == 200, response.text
    assert counts(response) == (count, count, 0)
    return True


def test_a_csv_file_in_the_senders_encoding_and_a_file_for_a_subscriber_that_takes_files(
    settings: Settings, database_url: str, tmp_path: Any
) -> None:
    """002 declares CP932 for its IF_ZEI_0101 files (its results come back in CP932); 011 takes the
    batch as a UTF-8 file with a BOM, fetched over HTTP, each record recorded as a delivery is."""
    seed_taxpayers(database_url, 3)
    settings = settings.model_copy(update={"files_dir": tmp_path / "files"})
    header = "レコード番号,宛名番号,課税区分,総所得金額,所得割額,扶養人数\r\n"
    text = header + "".join(f"{n},{taxpayer_atena('002', n)},1,3000000,150000,1\r\n" for n in range(1, 4))
    body = text.encode("cp932") + b"4,\x82,1,1,1,1\r\n"
    head = {
        "interface": "IF_ZEI_0101",
        "msgid": "income-cp932",
        "purpose_code": "ZEI-001",
        "department": "ZEIMU-1",
        "user": "u0001",
        "KazeiNendo": "2026",
        "ShoriKubun": "2",
        "SakuseiDate": "2026-06-01",
    }
    with served_hub(settings) as (_, hub):
        jidou = hub.unit_headers(hub.register("011"))
        zeimu = hub.unit_headers(hub.register("002"))
        for unit, declared in (("002", {"encoding": "cp932"}), ("011", {"delivery": "file"})):
            put = hub.http.put(f"/adapters/{unit}/files/IF_ZEI_0101", json=declared, headers=hub.admin())
            assert put.status_code == 200, put.text
        not_a_batch = hub.http.put("/adapters/011/files/IF_ZEI_0001", json={}, headers=hub.admin())
        assert not_a_batch.status_code == 400
        response = upload(hub, body, zeimu, content_type="text/csv", params=head)
        assert response.status_code == 200, response.text
        assert counts(response) == (4, 3, 1)
        reception = header_field(response.content, "ReceptionNumber")
        report = hub.http.get(f"/batches/{reception}/results", headers=zeimu)
        assert report.headers["content-type"] == "text/csv; charset=cp932"
        lines = list(csv.reader(io.StringIO(report.content.decode("cp932"))))
        assert lines[0][0] == "連番" and lines[1][3] == "E1002" and "0x82" in lines[1][4]
        wait_until(lambda: delivery_status(database_url) == "delivered")
        name = f"IF_ZEI_0101_{reception}_diff.csv"
        got = hub.http.get(f"/batches/outbox/IF_ZEI_0101/{name}", headers=jidou)
        assert got.status_code == 200 and got.content.startswith(b"\xef\xbb\xbf")
        assert hub.http.get(f"/batches/outbox/IF_ZEI_0101/{name}", headers=zeimu).status_code == 404
        assert hub.http.get("/batches/outbox/IF_ZEI_0101/..%2F..%2F002", headers=jidou).status_code == 404
    rows_out = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows_out[0][:2] == ["RecordNo", "AtenaNo"]
    assert [(r[0], r[1]) for r in rows_out[1:]] == [(str(n), taxpayer_atena("011", n)) for n in (1, 2, 3)]
    outcomes = rows(database_url, "SELECT outcome, count(*) AS n FROM transfer_records GROUP BY outcome")
    assert {row.outcome: row.n for row in outcomes} == {"delivered": 3}
    assert not (tmp_path / "files" / ".parts" / "011" / reception).exists()
