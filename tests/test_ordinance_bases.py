"""The bases real ordinances and statutes give a transfer beyond the tables' rows: the blanket clause
for 法定事務 (bounded by the 番号法 第19条第8号 table) and a flow another statute requires; and that
table itself, the check before every network 照会 and 提供."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from lxml import etree

from platform_hub.kit.clock import city_today, utcnow
from platform_hub.kit.settings import DEMO_ORDINANCE
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.network import (
    NETWORK_TABLE,
    bundled_network_table,
    network_allowed,
    parse_network_table,
)
from platform_hub.protocol.errors import OrdinanceRefusal, SchemaViolation
from tests.helpers import (
    CATALOG,
    YAMADA,
    HubClient,
    fault_code,
    rows,
    serve_in_thread,
    soap_message,
    zei_query,
)
from tests.units import NS, TestUnit, zei_answer

DEMO = yaml.safe_load(DEMO_ORDINANCE.read_text(encoding="utf-8"))
TODAY = city_today()
# 鰺ヶ沢町 第3条第3項, 十日町市 第4条 …: the clause for 法定事務, with its proviso.
BLANKET = {
    "code": "B-01",
    "kind": "blanket",
    "receiving_organ": "市長",
    "holding_organ": "市長",
    "article": "第4条第3項",
    "text": "市長は、特定個人番号利用事務を処理するために必要な限度で、利用特定個人情報であって自らが保有する"
    "ものを利用することができる。ただし、法の規定により、情報提供ネットワークシステムを使用して他の個人番号"
    "利用事務実施者から当該利用特定個人情報の提供を受けることができる場合は、この限りでない。",
}
# A flow the 住民基本台帳法 requires: the 児童手当 受給資格 recorded in the 住民票.
STATUTE = {
    "code": "S-01",
    "kind": "statute",
    "receiving_organ": "市長",
    "purpose": "JUK-001",
    "category": "児童手当関係情報",
    "holding_organ": "市長",
    "holding_unit": "011",
    "article": "住民基本台帳法 第7条",
    "text": "住民票に児童手当の支給を受けている者の受給資格に関する事項を記載する",
}


def version(name: str, *, drop: set[str] = frozenset(), add: tuple[dict[str, Any], ...] = ()) -> str:  # type: ignore[assignment]
    rules = [rule for rule in DEMO["rules"] if rule["code"] not in drop] + list(add)
    when = str(TODAY)
    return yaml.safe_dump(
        {**DEMO, "version": name, "enacted": when, "effective": when, "rules": rules}, allow_unicode=True
    )


def book(text: str) -> ordinance.Rulebook:
    """The rulebook of one version, in memory, in force since yesterday."""
    stored = ordinance.version_of(ordinance.parse_ordinance(text, CATALOG), "0" * 64, "tests")
    stored.id, stored.loaded_at = 1, utcnow() - dt.timedelta(days=2)
    stored.effective_on = TODAY - dt.timedelta(days=1)
    return ordinance.rulebook_of([stored])


def decide(rules: ordinance.Rulebook, **facts: Any) -> ordinance.Decision:
    where = {"receiving_organ": "市長", "holding_organ": "市長"} | facts
    return ordinance.decide(rules, utcnow(), **where)


def test_the_blanket_clause_covers_what_the_network_table_lets_the_statutory_jimu_obtain() -> None:
    rules = book(version("b", drop={"U-02", "U-03"}, add=(BLANKET,)))
    income = decide(rules, purposes=["JDT-001"], category="地方税関係情報", holding_unit="002")
    assert income.rule_id == "b/B-01" and income.network is not None
    assert income.network.article == "番号法 第19条第8号・別表 第81項"
    household = decide(rules, purposes=["JDT-001"], category="住民票関係情報", holding_unit="001")
    assert household.rule_id == "b/B-01"
    # A row of the tables is the more specific basis: it is the one named.
    assert (
        decide(rules, purposes=["ZEI-001"], category="住民票関係情報", holding_unit="001").rule_id == "b/U-01"
    )


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        # 個人住民税 has no row in the table: the clause does not reach it.
        ({"purposes": ["ZEI-001"], "category": "地方税関係情報", "holding_unit": "002"}, "no rule (use"),
        # 児童手当 may not obtain 児童手当関係情報 of itself through the network.
        ({"purposes": ["JDT-001"], "category": "児童手当関係情報", "holding_unit": "011"}, "no rule (use"),
        # 就学援助 is the city's own 事務 (条例 別表第1); between organs only 別表第3 counts.
        (
            {
                "purposes": ["SHU-001"],
                "category": "住民票関係情報",
                "holding_unit": "001",
                "receiving_organ": "教育委員会",
            },
            "no rule (provide",
        ),
    ],
)
def test_the_blanket_clause_goes_no_further(facts: dict[str, Any], why: str) -> None:
    rules = book(version("b", drop={"U-02", "U-03", "P-01"}, add=(BLANKET,)))
    decision = decide(rules, **facts)
    assert decision.rule is None and decision.reason is not None and why in decision.reason
    within = facts.get("receiving_organ", "市長") == "市長"
    assert ("its blanket clause for 法定事務 reaches only" in decision.reason) is within


def test_without_the_clause_a_statutory_jimu_is_refused_what_no_row_allows() -> None:
    rules = book(version("n", drop={"U-03"}))
    refused = decide(rules, purposes=["JDT-001"], category="地方税関係情報", holding_unit="002")
    assert refused.rule is None


def test_a_flow_another_statute_requires_is_not_refused() -> None:
    rules = book(version("s", add=(STATUTE,)))
    allowed = decide(rules, purposes=["JUK-001"], category="児童手当関係情報", holding_unit="011")
    assert allowed.rule_id == "s/S-01" and allowed.rule is not None
    assert allowed.rule.kind == "statute" and allowed.rule.article == "住民基本台帳法 第7条"
    # Only from the unit, for the 事務 and the information the statute names.
    assert decide(rules, purposes=["JUK-001"], category="児童手当関係情報", holding_unit="002").rule is None
    assert decide(rules, purposes=["ZEI-001"], category="児童手当関係情報", holding_unit="011").rule is None
    # Between organs too: a statute is no 第9条第2項 use.
    to_board = book(version("t", add=({**STATUTE, "receiving_organ": "教育委員会", "purpose": "SHU-001"},)))
    between = decide(
        to_board,
        receiving_organ="教育委員会",
        purposes=["SHU-001"],
        category="児童手当関係情報",
        holding_unit="011",
    )
    assert between.rule_id == "t/S-01"


@pytest.mark.parametrize(
    "rule",
    [
        {**BLANKET, "holding_organ": "教育委員会"},  # the clause is about what the organ holds itself
        {**BLANKET, "purpose": "JDT-001"},  # the table names the 事務, not the clause
        {**BLANKET, "category": "地方税関係情報"},
        {**BLANKET, "holding_unit": "002"},
        {key: value for key, value in STATUTE.items() if key != "category"},  # a statute names both
        {key: value for key, value in STATUTE.items() if key != "purpose"},
        {**STATUTE, "kind": "use", "purpose": None},
    ],
)
def test_bases_are_checked_as_they_are_loaded(rule: dict[str, Any]) -> None:
    with pytest.raises(SchemaViolation):
        ordinance.parse_ordinance(version("x", add=(rule,)), CATALOG)


def test_the_rules_as_shown_name_no_jimu_for_the_clause(hub: HubClient) -> None:
    created = hub.http.post(
        "/ordinance/versions",
        content=version("2026-11", add=(BLANKET, STATUTE)).encode(),
        headers={**hub.admin(), "Content-Type": "application/yaml"},
    )
    assert created.status_code == 201, created.text
    shown = {r["code"]: r for r in hub.http.get("/ordinance/rules", headers=hub.admin()).json()["rules"]}
    assert (shown["B-01"]["kind"], shown["B-01"]["purpose"], shown["B-01"]["category"]) == (
        "blanket",
        None,
        None,
    )
    assert shown["S-01"]["purpose"] == "JUK-001" and shown["S-01"]["rule_id"] == "2026-11/S-01"


def _not_a_recipient(request: etree._Element) -> str:
    atena = request.findtext(".//lk:Payload/lk:AtenaNo", namespaces=NS)
    return f"<lk:ShokaiKekkaCode>1</lk:ShokaiKekkaCode><lk:AtenaNo>{atena}</lk:AtenaNo>"


def test_the_hub_records_the_blanket_clause_and_the_statute_it_decided_by(
    hub: HubClient, database_url: str
) -> None:
    zeimu, jidou_unit = TestUnit(answer=zei_answer), TestUnit(answer=_not_a_recipient)
    loaded = hub.http.post(
        "/ordinance/versions",
        content=version("2026-11", drop={"U-03"}, add=(BLANKET, STATUTE)).encode(),
        headers={**hub.admin(), "Content-Type": "application/yaml"},
    )
    assert loaded.status_code == 201, loaded.text
    with serve_in_thread(zeimu.app()) as zei_url, serve_in_thread(jidou_unit.app()) as jdt_url:
        hub.register("002", zei_url)
        jidou = hub.unit_headers(hub.register("011", jdt_url))
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"], "001": YAMADA["001"]})
        income = hub.send(zei_query(msgid="income"), jidou)
        assert income.status_code == 200, income.text
        jukyu = soap_message(
            "IF_JDT_0001", "001", {"AtenaNo": YAMADA["001"], "KijunDate": "2026-11-01"}, purpose="JUK-001"
        )
        asked = hub.send(jukyu, juki)
    assert fault_code(asked) is None, asked.text
    records = rows(
        database_url, "SELECT interface_id, outcome, ordinance_rule_id FROM transfer_records ORDER BY id"
    )
    assert [tuple(r) for r in records] == [
        ("IF_ZEI_0001", "provided", "2026-11/B-01"),
        ("IF_JDT_0001", "provided", "2026-11/S-01"),
    ]
    # The compliance re-check decides them again by the same bases.
    report = hub.http.get(
        "/audit/compliance", params={"from": str(TODAY), "to": str(TODAY)}, headers=hub.staff("auditor")
    ).json()
    assert report["checked"] == 2 and report["violations"] == []


# --- 番号法 第19条第8号: the network table ------------------------------------------------------------


def test_the_network_table_lets_児童手当_obtain_income_and_residence_through_the_network() -> None:
    table = bundled_network_table()
    for category in ("地方税関係情報", "住民票関係情報"):
        rule = network_allowed(table, "JDT-001", category)
        assert (rule.item, rule.receiver, rule.provider) == (81, "市町村長", "市町村長")
    assert network_allowed(table, "JDT-001", "地方税関係情報", provider="市町村長").item == 81
    # What the network gateway calls, with the configuration's rulebook (whatever the ordinance says).
    rules = book(version("n", drop={"U-02", "U-03"}))
    assert (
        ordinance.network_allowed(rules, "JDT-001", "地方税関係情報").article
        == "番号法 第19条第8号・別表 第81項"
    )
    with pytest.raises(OrdinanceRefusal):
        ordinance.network_allowed(rules, "ZEI-001", "地方税関係情報")


@pytest.mark.parametrize(
    ("purpose", "category", "provider"),
    [
        ("JDT-001", "児童手当関係情報", None),  # not a 利用特定個人情報 of 児童手当
        ("KOH-001", "住民票関係情報", None),  # 広報 is no 個人番号利用事務 at all
        ("SHU-001", "地方税関係情報", None),  # the city's own 事務: no network row (第19条第9号 not modelled)
        ("JDT-001", "地方税関係情報", "都道府県知事"),  # provided by another than the table names
    ],
)
def test_the_network_table_refuses_what_it_does_not_list(
    purpose: str, category: str, provider: str | None
) -> None:
    with pytest.raises(OrdinanceRefusal) as refused:
        network_allowed(bundled_network_table(), purpose, category, provider=provider)
    assert refused.value.code == "E3001" and "第19条第8号" in refused.value.message


def _table(rows: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"as_of": "2025-09-01", "source": "tests", "rows": rows}, allow_unicode=True)


ROW = {
    "item": 81,
    "purpose": "JDT-001",
    "receiver": "市町村長",
    "category": "地方税関係情報",
    "provider": "市町村長",
    "jimu": "児童手当",
}


@pytest.mark.parametrize(
    ("rows_", "problem"),
    [
        ([ROW, ROW], "rows repeat"),
        ([{**ROW, "purpose": "NOP-001"}], "unknown purpose NOP-001"),
        # The lecture's old numbering (別表第1 56 — today 56 is 児童扶養手当) disagrees with purposes.yaml.
        ([{**ROW, "item": 56}], "purposes.yaml cites 別表 第81項, the table 第56項"),
        ([{**ROW, "extra": 1}], "extra"),
    ],
)
def test_a_network_table_that_disagrees_is_refused(rows_: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(SchemaViolation) as refused:
        parse_network_table(_table(rows_), CATALOG.purposes)
    told = refused.value.message + " ".join(refused.value.details or [])
    assert problem in told, told


def test_the_bundled_table_agrees_with_the_bundled_jimu() -> None:
    """purposes.yaml's 別表 citations and the table's items are checked against each other."""
    table = parse_network_table(NETWORK_TABLE.read_bytes(), CATALOG.purposes)
    assert {row.item for row in table.rows if row.purpose == "JDT-001"} == {81}
    assert "第81項" in CATALOG.purposes["JDT-001"].basis
    assert "第9条" not in CATALOG.purposes["JUK-001"].basis  # 住民基本台帳 is no 個人番号利用事務
