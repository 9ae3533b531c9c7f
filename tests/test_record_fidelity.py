"""The record says what happened, no less and no more: an entry for every person an answer tells about,
the items actually sent, the answer itself kept only as long as a resent MSGID needs it; and values
too long for their columns are refused before the database sees them (PostgreSQL made 500s of them)."""

from __future__ import annotations

import json
import time

from lxml import etree

from platform_hub.kit.settings import Settings
from platform_hub.protocol.numbers import atena_number
from tests.helpers import (
    NS,
    PERSON,
    YAMADA,
    HubClient,
    fault_code,
    rows,
    serve_in_thread,
    served_hub,
    soap_message,
    wait_until,
    zei_query,
)
from tests.units import TestUnit, zei_answer

CHILD = atena_number(102)  # 001's number for 山田 太郎's child


def household(request: etree._Element) -> str:
    """001's answer: 山田 太郎 and, when asked for the household, his child (no 氏名カナ, no 世帯番号)."""
    atena = request.findtext(".//lk:Payload/lk:AtenaNo", namespaces=NS)
    members = ""
    if request.findtext(".//lk:Payload/lk:SetaiShokaiKubun", namespaces=NS) == "1":
        members = "".join(
            f"<lk:SetaiIn><lk:AtenaNo>{number}</lk:AtenaNo><lk:Shimei>{name}</lk:Shimei>"
            f"<lk:ZokugaraCode>{relation}</lk:ZokugaraCode><lk:SeinengappiDate>{born}</lk:SeinengappiDate>"
            "</lk:SetaiIn>"
            for number, name, relation, born in (
                (atena, "山田　太郎", "01", "1985-04-01"),
                (CHILD, "山田　花", "04", "2015-06-01"),
            )
        )
    return (
        f"<lk:ShokaiKekkaCode>0</lk:ShokaiKekkaCode><lk:AtenaNo>{atena}</lk:AtenaNo>"
        "<lk:Shimei>山田　太郎</lk:Shimei><lk:SeinengappiDate>1985-04-01</lk:SeinengappiDate>"
        "<lk:SeibetsuCode>1</lk:SeibetsuCode><lk:Jusho>東京都千代田区千代田一丁目１番１号</lk:Jusho>"
        f"<lk:JuminJotaiCode>1</lk:JuminJotaiCode>{members}"
    )


def test_every_person_an_answer_tells_about_and_only_the_items_it_carried(
    hub: HubClient, database_url: str
) -> None:
    """Found: household members in an IF_JUK_0002 answer got no entry, and the entry listed every item
    of the spec (10 listed, 7 sent)."""
    juki = TestUnit(answer=household)
    with serve_in_thread(juki.app()) as url:
        hub.register("001", url)
        jidou = hub.unit_headers(hub.register("011"))
        father = hub.enroll({"001": YAMADA["001"], "011": YAMADA["011"]})
        child = hub.enroll(
            {"001": CHILD, "011": atena_number(1102)}, name="山田　花", birth_date="2015-06-01", sex="2"
        )
        asked = {"AtenaNo": YAMADA["011"], "KijunDate": "2026-01-01", "SetaiShokaiKubun": "1"}
        answer = hub.send(soap_message("IF_JUK_0002", "011", asked, purpose="JDT-001"), jidou)
        assert answer.status_code == 200, answer.text
    entries = rows(
        database_url, "SELECT subject_integrated_number, item_names FROM transfer_records ORDER BY id"
    )
    assert {e.subject_integrated_number for e in entries} == {father, child}
    items = entries[0].item_names
    names = items if isinstance(items, list) else json.loads(items)
    assert "世帯員氏名" in names and "住所" in names
    assert "氏名カナ" not in names and "世帯番号" not in names and "市区町村コード" not in names
    assert len(names) == 11  # of the 15 data items the spec has


def test_a_querys_answer_is_kept_only_as_long_as_a_resend_needs_it(
    settings: Settings, database_url: str
) -> None:
    """Found: messages.response_xml kept every full answer (incomes, households) forever."""
    brief = settings.model_copy(update={"answer_retention_seconds": 0.5})
    zeimu = TestUnit(answer=zei_answer)
    with (
        serve_in_thread(zeimu.app()) as zeimu_url,
        served_hub(brief) as (_, hub),
    ):
        hub.register("002", zeimu_url)
        jidou = hub.unit_headers(hub.register("011"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        first = hub.send(zei_query(msgid="income-1"), jidou)
        assert first.status_code == 200
        assert hub.send(zei_query(msgid="income-1"), jidou).content == first.content  # replayed
        time.sleep(0.6)
        wait_until(lambda: _answer_dropped(database_url), timeout=10)
        late = hub.send(zei_query(msgid="income-1"), jidou)
        assert late.status_code == 409 and fault_code(late) == "E4002" and "no longer kept" in late.text
    assert len(zeimu.received) == 1  # never asked twice
    (kept,) = rows(database_url, "SELECT response_xml, response_digest FROM messages")
    assert kept.response_xml is None and len(kept.response_digest) == 64


def _answer_dropped(database_url: str) -> bool:
    return rows(database_url, "SELECT response_xml FROM messages")[0].response_xml is None


def test_values_too_long_for_their_columns_are_refused_before_the_database(hub: HubClient) -> None:
    """Found on PostgreSQL: 33-character filter values, names that NFKC makes longer, and long
    base_urls were 500s."""
    auditor = hub.admin_auditor()
    for filters in (
        {"integrated_number": "1" * 33},
        {"organ": "機" * 101},
        {"interface": "IF_" + "X" * 30},
        {"atena_number": "9" * 33, "unit": "011"},
    ):
        answer = hub.http.get("/audit/transfers", params=filters, headers=auditor)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002", (filters, answer.text)
    hub.register("011")
    grows = {**PERSON, "name": "㍿" * 30, "unit_code": "011", "atena_number": atena_number(3), "reason": "x"}
    refused = hub.http.post("/addressees", json=grows, headers=hub.admin())  # 30 characters, 120 once NFKC'd
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "E1002", refused.text
    long_url = {
        "unit_code": "777",
        "name": "長いURL",
        "organ": "市長",
        "base_url": "http://127.0.0.1:9/" + "a" * 490,
    }
    answer = hub.http.post("/adapters", json=long_url, headers=hub.admin())
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002", answer.text
    hub_itself = {**long_url, "unit_code": "000", "base_url": "http://127.0.0.1:9"}
    assert hub.http.post("/adapters", json=hub_itself, headers=hub.admin()).status_code == 400
