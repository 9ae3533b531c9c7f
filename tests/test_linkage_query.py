"""照会: queries routed to their provider, answered, recorded; every failure with its code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from tests.helpers import (
    NS,
    YAMADA,
    HubClient,
    count_rows,
    fault_code,
    header_field,
    rows,
    serve_in_thread,
    zei_query,
)
from tests.units import TestUnit, answer_envelope, zei_answer


@pytest.fixture
def zeimu() -> Iterator[tuple[TestUnit, str]]:
    unit = TestUnit(answer=zei_answer)
    with serve_in_thread(unit.app()) as url:
        yield unit, url


@pytest.fixture
def jidou(hub: HubClient, zeimu: tuple[TestUnit, str]) -> dict[str, str]:
    """011 児童手当, with 002 個人住民税 registered as the provider of IF_ZEI_0001."""
    hub.register("002", zeimu[1])
    credentials = hub.register("011")
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    return hub.unit_headers(credentials)


def test_query_is_forwarded_answered_and_recorded(
    hub: HubClient, jidou: dict[str, str], zeimu: tuple[TestUnit, str], database_url: str
) -> None:
    response = hub.send(zei_query(msgid="q-1"), jidou)
    assert response.status_code == 200, response.text
    reception_number = header_field(response.content, "ReceptionNumber")
    assert reception_number
    assert header_field(response.content, "MSGResult") == "0"
    assert b"<lk:SoshotokuKingaku>4200000</lk:SoshotokuKingaku>" in response.content
    unit, _ = zeimu
    # The provider sees the hub's reception number and itself as the destination.
    assert unit.header(0, "ReceptionNumber") == reception_number
    assert unit.header(0, "DestinationSystemID") == "002"
    (record,) = rows(
        database_url,
        "SELECT reception_number, msgid, interface_id, pattern, requesting_unit, "
        "requesting_organ, requesting_department, requesting_user, providing_unit, "
        "purpose_code, information_category, item_names, outcome, provided_at "
        "FROM transfer_records",
    )
    assert record[:11] == (
        reception_number,
        "q-1",
        "IF_ZEI_0001",
        "query",
        "011",
        "市長",
        "KODOMO-1",
        "u0123",
        "002",
        "JDT-001",
        "地方税関係情報",
    )
    item_names = json.loads(record.item_names) if isinstance(record.item_names, str) else record.item_names
    assert "総所得金額" in item_names and "4200000" not in str(item_names)
    assert record.outcome == "provided" and record.provided_at is not None


def test_resent_msgid_returns_the_original_answer(
    hub: HubClient, jidou: dict[str, str], zeimu: tuple[TestUnit, str], database_url: str
) -> None:
    first = hub.send(zei_query(msgid="same"), jidou)
    again = hub.send(zei_query(msgid="same"), jidou)
    assert again.status_code == 200
    assert again.content == first.content
    assert len(zeimu[0].received) == 1  # answered from the hub's store, not asked again
    assert count_rows(database_url, "transfer_records") == 1


def test_resent_msgid_with_another_body_is_a_conflict(
    hub: HubClient, jidou: dict[str, str], database_url: str
) -> None:
    hub.send(zei_query(msgid="same"), jidou)
    response = hub.send(zei_query(msgid="same", year="2025"), jidou)
    assert response.status_code == 409
    assert fault_code(response) == "E4002"
    assert count_rows(database_url, "messages") == 1


def test_xsd_errors_name_line_and_item(hub: HubClient, jidou: dict[str, str], database_url: str) -> None:
    response = hub.send(zei_query(year="20x6", atena="123"), jidou)
    assert response.status_code == 400
    assert fault_code(response) == "E1002"
    assert re.search(r"line \d+: AtenaNo \(00201101 宛名番号\): .*length of '15'", response.text)
    assert re.search(r"line \d+: KazeiNendo \(00201102 課税年度\): .*'20x6'", response.text)
    assert count_rows(database_url, "messages") == 0


def test_msgtypeid_must_name_the_element(hub: HubClient, jidou: dict[str, str]) -> None:
    body = zei_query().replace(b"<lk:MSGTypeID>IF_ZEI_0001_R01", b"<lk:MSGTypeID>IF_JUK_0002_R01")
    assert fault_code(hub.send(body, jidou)) == "E1002"


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        (zei_query().replace(b"IF_ZEI_0001_R01", b"IF_ZZZ_0001_R01"), "E1003", 404),
        (zei_query().replace(b"IF_ZEI_0001_R01", b"IF_ZEI_0001_S01"), "E1003", 404),
        (zei_query(destination="099"), "E1003", 404),
        (zei_query(destination="011"), "E1003", 404),  # 011 does not provide IF_ZEI_0001
        (zei_query(mode="1"), "E1003", 404),  # test messages never reach a production unit
    ],
)
def test_unknown_types_and_destinations(
    hub: HubClient, jidou: dict[str, str], database_url: str, body: bytes, code: str, status: int
) -> None:
    response = hub.send(body, jidou)
    assert response.status_code == status
    assert fault_code(response) == code
    assert count_rows(database_url, "messages") == 0


def test_checks_run_in_the_contract_order(hub: HubClient, jidou: dict[str, str]) -> None:
    """A message that is forged *and* invalid is refused for the earlier check (E1003 < E2002 < E1002)."""
    forged_and_invalid = zei_query(source="051", year="bad")
    hub.register("051")
    assert fault_code(hub.send(forged_and_invalid, jidou)) == "E2002"
    unknown_and_forged = zei_query(source="051", destination="099")
    assert fault_code(hub.send(unknown_and_forged, jidou)) == "E1003"


def test_provider_down_is_e4001_and_recorded_as_failed(hub: HubClient, database_url: str) -> None:
    hub.register("002", "http://127.0.0.1:9")  # nothing listens on the discard port
    jidou = hub.unit_headers(hub.register("011"))
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    response = hub.send(zei_query(msgid="down"), jidou)
    assert response.status_code == 502
    assert fault_code(response) == "E4001"
    assert header_field(response.content, "ReceptionNumber") is None  # faults carry it in detail
    assert b"<lk:ReceptionNumber>" in response.content
    assert [r.outcome for r in rows(database_url, "SELECT outcome FROM transfer_records")] == ["failed"]


def test_provider_timeout_is_504_and_a_resend_asks_again(hub: HubClient, database_url: str) -> None:
    slow = TestUnit(answer=zei_answer, delay=3.0)  # the hub waits 2 s in tests
    with serve_in_thread(slow.app()) as url:
        hub.register("002", url)
        jidou = hub.unit_headers(hub.register("011"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        response = hub.send(zei_query(msgid="slow"), jidou)
        assert response.status_code == 504
        assert fault_code(response) == "E4001"
        slow.delay = 0
        retried = hub.send(zei_query(msgid="slow"), jidou)
    assert retried.status_code == 200
    assert sorted(r.outcome for r in rows(database_url, "SELECT outcome FROM transfer_records")) == [
        "failed",
        "provided",
    ]


@pytest.mark.parametrize(
    "answer",
    [
        lambda request: "<lk:ShokaiKekkaCode>9</lk:ShokaiKekkaCode>",  # not in the code list, items missing
        lambda request: "<lk:Unexpected>1</lk:Unexpected>",
    ],
)
def test_provider_answer_failing_the_xsd_is_e4001(hub: HubClient, database_url: str, answer) -> None:  # type: ignore[no-untyped-def]
    bad = TestUnit(answer=answer)
    response = query_through(hub, bad)
    assert response.status_code == 502
    assert fault_code(response) == "E4001"
    assert "fails the IF_ZEI_0001 XSD" in response.text
    # The provider's values stay out of the error: the requester may not see an invalid answer.
    assert "3,456,789" not in response.text and "ErrorDetail" not in response.text


@pytest.mark.parametrize(
    "answer",
    [
        lambda request: answer_envelope(request, zei_answer(request)).replace(
            b"IF_ZEI_0001_S01", b"IF_ZEI_0001_R01"
        ),
        lambda request: answer_envelope(request, zei_answer(request)).replace(
            b"RelatesToMSGID>", b"RelatesToMSGID>x"
        ),
    ],
)
def test_provider_must_answer_the_query(hub: HubClient, answer) -> None:  # type: ignore[no-untyped-def]
    """An echo of the request, or an answer to another message, is not an answer."""
    odd = TestUnit(raw_answer=answer)
    response = query_through(hub, odd)
    assert fault_code(response) == "E4001"


def query_through(hub: HubClient, zeimu: TestUnit) -> httpx.Response:
    """A query from 011 for 山田太郎, answered by ``zeimu`` as 002."""
    with serve_in_thread(zeimu.app()) as url:
        hub.register("002", url)
        jidou = hub.unit_headers(hub.register("011"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        return hub.send(zei_query(), jidou)


def test_provider_http_error_is_e4001(hub: HubClient) -> None:
    broken = TestUnit(answer=zei_answer, status_code=500)
    response = query_through(hub, broken)
    assert response.status_code == 502
    assert fault_code(response) == "E4001"


def test_test_messages_reach_test_units(hub: HubClient, zeimu: tuple[TestUnit, str]) -> None:
    hub.register("002", zeimu[1], mode="test")
    jidou = hub.unit_headers(hub.register("011", mode="test"))
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    assert hub.send(zei_query(mode="1"), jidou).status_code == 200
    # A test unit sends test messages only; production messages never reach a test unit.
    assert fault_code(hub.send(zei_query(mode="0"), jidou)) == "E1003"


def test_the_senders_soap_header_is_checked_then_dropped(
    hub: HubClient, jidou: dict[str, str], zeimu: tuple[TestUnit, str], database_url: str
) -> None:
    """Blocks the hub need not understand (optional, or for another actor) are neither kept nor passed on."""
    header = (
        '<soap:Header><sec:Security xmlns:sec="urn:example:security" soap:mustUnderstand="0">'
        "<sec:Token>secret-token</sec:Token></sec:Security>"
        '<sec:Route xmlns:sec="urn:example:security" soap:mustUnderstand="1" '
        'soap:actor="urn:example:another-node"/></soap:Header>'
    )
    body = zei_query().replace(b"<soap:Body>", header.encode() + b"<soap:Body>", 1)
    response = hub.send(body, jidou)
    assert response.status_code == 200, response.text
    unit, _ = zeimu
    forwarded = etree.tostring(unit.received[0].getroottree())
    (stored,) = rows(database_url, "SELECT request_xml FROM messages")
    for content in (forwarded, bytes(stored.request_xml)):
        assert b"<soap:Header" not in content and b"urn:example:security" not in content


def test_a_fault_lists_the_first_20_xsd_errors_and_counts_the_rest(
    hub: HubClient, jidou: dict[str, str]
) -> None:
    """Each item carries 32 attributes the XSD does not allow (the most an element may have)."""
    body = zei_query()
    attributes = " ".join(f'a{i}="x"' for i in range(32))
    for item in (b"MSGID", b"MSGTypeID", b"MSGMode", b"SourceSystemID", b"AtenaNo", b"KazeiNendo"):
        body = body.replace(b"<lk:" + item + b">", b"<lk:" + item + b" " + attributes.encode() + b">", 1)
    response = hub.send(body, jidou)
    assert fault_code(response) == "E1002"
    message = etree.fromstring(response.content).findtext(".//lk:ErrorMessage", namespaces=NS) or ""
    total = int(re.search(r"\(([\d,]+) errors\)", message).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert total >= 6 * 32
    details = [e.text for e in etree.fromstring(response.content).iterfind(".//lk:ErrorDetail", NS)]
    assert len(details) == 21 and details[-1] == f"… and {total - 20:,} more"
    assert all(re.match(r"line \d+: ", line) for line in details[:20])


def test_a_fault_stays_small_whatever_the_names_in_the_message(hub: HubClient, jidou: dict[str, str]) -> None:
    name = "A" * 49_000  # libxml2 quotes the unexpected element's name (50,000 characters at most)
    body = zei_query().replace(b"</lk:Payload>", f"<lk:{name}/><lk:{name}/></lk:Payload>".encode())
    response = hub.send(body, jidou)
    assert fault_code(response) == "E1002"
    assert len(response.content) < 10_000
