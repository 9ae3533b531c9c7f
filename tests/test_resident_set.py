"""住民情報一括提供 (IF_JUK_0101): the resident register as one batch from 001, each record a 住民異動
of its own — applied to the registry, its 個人番号 kept there only, delivered to subscribers in their
numbers (or as 未採番), a refused record changing nothing."""

from __future__ import annotations

from typing import Any

from lxml import etree
from stdnum.jp import in_ as my_number_format

from platform_hub.protocol.numbers import UNNUMBERED_ATENA, atena_number
from tests.helpers import (
    CATALOG,
    NS,
    HubClient,
    count_rows,
    fault_code,
    rows,
    serve_in_thread,
    soap_message,
    wait_until,
)
from tests.units import TestUnit

HEAD = "<lk:ShoriKubun>{kubun}</lk:ShoriKubun><lk:KijunDate>2026-11-01</lk:KijunDate>"
HEAD += "<lk:SakuseiDate>2026-11-02</lk:SakuseiDate>"
PERSON = {
    "IdoDate": "2026-11-01",
    "SetaiNo": "000000000000027",
    "ZokugaraCode": "01",
    "ShimeiKana": "ジュウミン　タロウ",
    "SeinengappiDate": "1980-01-01",
    "SeibetsuCode": "1",
    "ShikuchosonCode": "131016",
    "Jusho": "東京都千代田区千代田一丁目１番１号",
    "JuminJotaiCode": "1",
}
ORDER = [item.romaji for item in CATALOG.interfaces["IF_JUK_0101"].spec.record.items or ()]


def my_number(serial: int) -> str:
    body = f"{serial:011d}"
    return body + my_number_format.calc_check_digit(body)


def resident_set(kubun: str, records: list[dict[str, str]], msgid: str) -> bytes:
    def record(n: int, items: dict[str, str]) -> str:
        fields = {"RecordNo": str(n), **PERSON, **items}
        return (
            "<lk:Jumin>"
            + "".join(f"<lk:{k}>{fields[k]}</lk:{k}>" for k in ORDER if k in fields)
            + "</lk:Jumin>"
        )

    body = HEAD.format(kubun=kubun) + "".join(record(n, items) for n, items in enumerate(records, 1))
    return soap_message("IF_JUK_0101", "001", body, msgid=msgid, purpose="JUK-001")


def upload(hub: HubClient, body: bytes, headers: dict[str, str]) -> Any:
    return hub.http.post("/batches", content=body, headers={**headers, "Content-Type": "text/xml"})


def results(response: Any) -> list[tuple[str | None, str | None]]:
    root = etree.fromstring(response.content)
    return [
        (r.findtext("lk:RecordNo", namespaces=NS), r.findtext("lk:ResultCode", namespaces=NS))
        for r in root.iterfind(".//lk:RecordResult", namespaces=NS)
    ]


def received(unit: TestUnit) -> list[tuple[str, str, bool]]:
    """(氏名, AtenaNo, whether a 個人番号 came along) of every record the unit received."""
    return [
        (
            record.findtext("lk:Shimei", namespaces=NS) or "",
            record.findtext("lk:AtenaNo", namespaces=NS) or "",
            record.find("lk:KojinBango", namespaces=NS) is not None,
        )
        for message in unit.received
        for record in message.iterfind(".//lk:Jumin", namespaces=NS)
    ]


def test_a_full_set_then_a_delta_feed_the_registry_record_by_record(
    hub: HubClient, database_url: str
) -> None:
    known = {"001": atena_number(1001), "011": atena_number(11_001)}
    hub.enroll(known, name="既存　一郎")
    jidou = TestUnit()
    with serve_in_thread(jidou.app()) as url:
        hub.register("011", url, subscribes=["IF_JUK_0101"])
        juki = hub.unit_headers(hub.register("001", provides=["IF_JUK_0101"]))
        full = resident_set(
            "1",
            [
                {"IdoJiyuCode": "03", "AtenaNo": known["001"], "Shimei": "既存　一郎"},
                # unknown to the registry and no 転入: a 全件 set brings every resident in
                {
                    "IdoJiyuCode": "03",
                    "AtenaNo": atena_number(1002),
                    "Shimei": "新規　二郎",
                    "KojinBango": my_number(7),
                },
                {
                    "IdoJiyuCode": "01",
                    "AtenaNo": atena_number(1003),
                    "Shimei": "誤番　三郎",
                    "KojinBango": "123456789012",
                },
            ],
            msgid="full-2026-11",
        )
        answer = upload(hub, full, juki)
        assert answer.status_code == 200, answer.text
        assert results(answer) == [("3", "E1002")] and b"123456789012" not in answer.content
        wait_until(lambda: len(jidou.received) == 1)
        # the known person in 011's number; the newcomer as 未採番, for 011 to number; no 個人番号 at all
        assert received(jidou) == [
            ("既存　一郎", known["011"], False),
            ("新規　二郎", UNNUMBERED_ATENA, False),
        ]
        assert count_rows(database_url, "persons") == 2

        delta = resident_set(
            "2",
            [
                {"IdoJiyuCode": "03", "AtenaNo": atena_number(1999), "Shimei": "不明　四郎"},  # nobody: E3002
                {"IdoJiyuCode": "05", "AtenaNo": known["001"], "Shimei": "既存　一郎", "JuminJotaiCode": "3"},
                {
                    "IdoJiyuCode": "01",
                    "AtenaNo": atena_number(1004),
                    "Shimei": "転入　五郎",
                    "TennyumaeJusho": "大阪府",
                },
            ],
            msgid="delta-2026-11-02",
        )
        answer = upload(hub, delta, juki)
        assert answer.status_code == 200 and results(answer) == [("1", "E3002")]
        wait_until(lambda: len(jidou.received) == 2)
        assert received(jidou)[2:] == [
            ("既存　一郎", known["011"], False),
            ("転入　五郎", UNNUMBERED_ATENA, False),
        ]
        # only the unit that provides the interface sends it
        other = upload(
            hub, delta.replace(b"delta-2026", b"other-2026"), hub.unit_headers(hub.register("002"))
        )
        assert fault_code(other) == "E2002"
    assert count_rows(database_url, "persons") == 3
    (deceased,) = rows(
        database_url,
        "SELECT v.status FROM person_versions v JOIN atena_links l ON l.person_id = v.person_id"
        f" WHERE l.atena_number = '{known['001']}' ORDER BY v.id DESC LIMIT 1",
    )
    assert deceased.status == "deceased"
    (newcomer,) = rows(
        database_url, f"SELECT person_id FROM atena_links WHERE atena_number = '{atena_number(1002)}'"
    )
    (holder,) = rows(database_url, "SELECT id FROM persons WHERE my_number_hash IS NOT NULL")
    assert holder.id == newcomer.person_id
    for table, column in (("batch_chunks", "records"), ("messages", "request_xml")):
        for row in rows(database_url, f"SELECT {column} AS kept FROM {table}"):
            assert my_number(7).encode() not in bytes(row.kept or b"")


def _csv(header: list[str], rows_: list[list[str]]) -> bytes:
    return ("\r\n".join(",".join(row) for row in [header, *rows_]) + "\r\n").encode("utf-8")


def test_a_record_with_its_my_number_twice_is_refused_and_kept_nowhere(
    hub: HubClient, database_url: str
) -> None:
    """A 個人番号 item repeated in a record (XML, or a CSV header naming it by romaji and by 項目名) is
    refused with nothing kept: taking out only the first would let the second through to subscribers."""
    twice, once = my_number(31), my_number(32)
    shusaku = TestUnit()
    with serve_in_thread(shusaku.app()) as url:
        hub.register("051", url, subscribes=["IF_JUK_0101"])
        juki = hub.unit_headers(hub.register("001", provides=["IF_JUK_0101"]))
        fields = {
            "RecordNo": "1",
            "IdoJiyuCode": "01",
            "IdoDate": "2026-11-01",
            "AtenaNo": atena_number(3101),
            "Shimei": "重複　一郎",
            **PERSON,
        }
        items = [(k, fields[k]) for k in ORDER if k in fields]
        at = [k for k, _ in items].index("SetaiNo")  # where the spec puts the 個人番号
        items[at:at] = [("KojinBango", twice), ("KojinBango", twice)]
        doubled = "<lk:Jumin>" + "".join(f"<lk:{k}>{v}</lk:{k}>" for k, v in items) + "</lk:Jumin>"
        body = soap_message("IF_JUK_0101", "001", HEAD.format(kubun="2") + doubled, purpose="JUK-001")
        answer = upload(hub, body, juki)
        assert answer.status_code == 200, answer.text
        assert results(answer) == [("1", "E1002")] and twice.encode() not in answer.content

        fields |= {"AtenaNo": atena_number(3102), "Shimei": "重複　二郎"}
        header = [*fields, "KojinBango", "個人番号"]
        values = [*fields.values(), once, once]
        head = {
            "interface": "IF_JUK_0101",
            "msgid": "csv-twice",
            "purpose_code": "JUK-001",
            "department": "SHIMIN-1",
            "user": "u0001",
            "ShoriKubun": "2",
            "KijunDate": "2026-11-01",
            "SakuseiDate": "2026-11-02",
        }
        answer = hub.http.post(
            "/batches",
            content=_csv(header, [values]),
            params=head,
            headers={**juki, "Content-Type": "text/csv"},
        )
        assert answer.status_code == 200, answer.text
        assert results(answer) == [("1", "E1002")] and once.encode() not in answer.content
    assert shusaku.received == []
    assert count_rows(database_url, "persons") == 0
    for table, column in (
        ("batch_chunks", "records"),
        ("messages", "request_xml"),
        ("batch_record_results", "message"),
    ):
        for row in rows(database_url, f"SELECT {column} AS kept FROM {table}"):
            kept = row.kept.encode() if isinstance(row.kept, str) else bytes(row.kept or b"")
            assert twice.encode() not in kept and once.encode() not in kept


def test_a_record_missing_a_conditional_item_refuses_only_itself(hub: HubClient, database_url: str) -> None:
    hub.register("051", "http://127.0.0.1:9", subscribes=["IF_JUK_0101"])
    juki = hub.unit_headers(hub.register("001", provides=["IF_JUK_0101"]))
    full = resident_set(
        "1",
        [
            {"IdoJiyuCode": "03", "AtenaNo": atena_number(4001), "Shimei": "転居　一郎"},
            {"IdoJiyuCode": "02", "AtenaNo": atena_number(4002), "Shimei": "転出　二郎"},  # no 転出先
        ],
        msgid="conditions-2026-11",
    )
    answer = upload(hub, full, juki)
    assert answer.status_code == 200, answer.text
    assert results(answer) == [("2", "E1002")]
    message = etree.fromstring(answer.content).findtext(".//lk:RecordResult/lk:ResultMessage", namespaces=NS)
    # ResultMessage is X (half-width): the item's Japanese name is left out there, its ID is not
    assert message is not None and "TenshutsusakiJusho (00111117 ): missing, required when" in message
    assert count_rows(database_url, "persons") == 1
