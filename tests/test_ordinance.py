"""The ordinance as versioned data: rules in force decide each transfer; amendments take effect on a day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.clock import city_today
from platform_hub.kit.settings import DEMO_ORDINANCE
from platform_hub.kit.vault import generate_key_file
from tests.helpers import YAMADA, HubClient, fault_code, rows, serve_in_thread, soap_message, zei_query
from tests.units import TestUnit, zei_answer

DEMO = yaml.safe_load((DEMO_ORDINANCE).read_text(encoding="utf-8"))
TODAY = city_today()


@pytest.fixture
def zeimu(hub: HubClient) -> Iterator[TestUnit]:
    unit = TestUnit(answer=zei_answer)
    with serve_in_thread(unit.app()) as url:
        hub.register("002", url)
        yield unit


def amendment(version: str, *, drop: set[str], effective: dt.date = TODAY) -> str:
    """The demo ordinance amended: the rules in ``drop`` repealed, in force from ``effective``."""
    rules = [rule for rule in DEMO["rules"] if rule["code"] not in drop]
    return yaml.safe_dump(
        {**DEMO, "version": version, "enacted": str(effective), "effective": str(effective), "rules": rules},
        allow_unicode=True,
    )


def load(hub: HubClient, text: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    response = hub.http.post(
        "/ordinance/versions",
        content=text.encode(),
        headers={**(headers or hub.admin()), "Content-Type": "application/yaml"},
    )
    return {"status": response.status_code, **response.json()}


def test_rules_in_force(hub: HubClient) -> None:
    current = hub.http.get("/ordinance/rules", headers=hub.admin()).json()
    assert current["version"] == "2026-04"
    rules = {rule["code"]: rule for rule in current["rules"]}
    assert (
        rules["P-02"] | {"kind": "provide", "receiving_organ": "教育委員会", "article": "別表第3 第2項"}
        == rules["P-02"]
    )
    assert rules["U-03"]["rule_id"] == "2026-04/U-03"
    before = hub.http.get("/ordinance/rules", params={"at": "2020-01-01"}, headers=hub.admin())
    assert before.status_code == 404 and before.json()["error"]["code"] == "E1003"


def test_a_query_allowed_until_an_amendment_takes_effect(
    hub: HubClient, zeimu: TestUnit, database_url: str
) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    assert hub.send(zei_query(msgid="before"), jidou).status_code == 200
    assert load(hub, amendment("2026-11", drop={"U-03"}))["status"] == 201
    refused = hub.send(zei_query(msgid="after"), jidou)
    assert refused.status_code == 403 and fault_code(refused) == "E3001"
    assert "2026-11" in refused.text and "地方税関係情報" in refused.text
    assert len(zeimu.received) == 1  # the refused query never reached 個人住民税
    records = rows(
        database_url,
        "SELECT msgid, outcome, ordinance_rule_id, refusal_reason FROM transfer_records ORDER BY id",
    )
    assert [(r.msgid, r.outcome, r.ordinance_rule_id) for r in records] == [
        ("before", "provided", "2026-04/U-03"),
        ("after", "refused", None),
    ]
    assert "no rule (use, 番号法 第9条第2項)" in records[1].refusal_reason
    # The amendment does not reach back: the earlier transfer was allowed when it was decided.
    report = hub.http.get(
        "/audit/compliance", params={"from": str(TODAY), "to": str(TODAY)}, headers=hub.staff("auditor")
    ).json()
    assert report["checked"] == 1 and report["violations"] == []
    # The older version still answers for the days it was in force.
    earlier = hub.http.get(
        "/ordinance/rules", params={"at": str(TODAY - dt.timedelta(days=1))}, headers=hub.admin()
    ).json()
    assert earlier["version"] == "2026-04"


def test_a_provide_case_between_organs(hub: HubClient, zeimu: TestUnit, database_url: str) -> None:
    shugaku = hub.unit_headers(hub.register("051"))  # 教育委員会
    hub.enroll({"051": YAMADA["051"], "002": YAMADA["002"]})
    allowed = hub.send(zei_query(source="051", atena=YAMADA["051"], purpose="SHU-001"), shugaku)
    assert allowed.status_code == 200, allowed.text
    (record,) = rows(
        database_url, "SELECT requesting_organ, providing_organ, ordinance_rule_id FROM transfer_records"
    )
    assert tuple(record) == ("教育委員会", "市長", "2026-04/P-02")
    # A 事務 the unit is not registered for is refused, whatever the ordinance says.
    other = hub.send(zei_query(source="051", atena=YAMADA["051"], purpose="JDT-001"), shugaku)
    assert fault_code(other) == "E3001" and "not registered for the 事務 JDT-001" in other.text


def test_a_flow_the_ordinance_does_not_allow_at_all(hub: HubClient) -> None:
    """児童手当関係情報 to 住民基本台帳 (IF_JDT_0001) has no rule in the demo city's ordinance."""
    jidou_unit = TestUnit(answer=lambda request: "")
    with serve_in_thread(jidou_unit.app()) as url:
        hub.register("011", url)
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"001": YAMADA["001"], "011": YAMADA["011"]})
        body = soap_message(
            "IF_JDT_0001", "001", {"AtenaNo": YAMADA["001"], "KijunDate": "2026-11-01"}, purpose="JUK-001"
        )
        response = hub.send(body, juki)
    assert fault_code(response) == "E3001"
    assert jidou_unit.received == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"rules": [{**DEMO["rules"][0], "holding_organ": "教育委員会"}]}, "E1002"),  # a "use" between organs
        ({"rules": [{**DEMO["rules"][0], "purpose": "NOP-001"}]}, "E1002"),
        ({"effective": "2026-01-01"}, "E1002"),  # in force before it was enacted
        ({}, "E1004"),  # the version exists
    ],
)
def test_bad_versions_are_refused(hub: HubClient, change: dict[str, object], code: str) -> None:
    result = load(hub, yaml.safe_dump({**DEMO, **change}, allow_unicode=True))
    assert result["error"]["code"] == code  # type: ignore[index]


def test_a_file_nested_too_deep_is_refused_not_a_500(hub: HubClient) -> None:
    """PyYAML's composer recurses: a flow sequence nested 10,000 deep (40 KB) made a RecursionError."""
    result = load(hub, "[" * 10_000 + "]" * 10_000)
    assert result["status"] == 400 and result["error"]["code"] == "E1002"  # type: ignore[index]


def test_only_admins_load_versions(hub: HubClient) -> None:
    for headers in (hub.staff("auditor"), hub.staff("integrator"), hub.unit_headers(hub.register("011"))):
        assert load(hub, amendment("2027-04", drop=set()), headers)["status"] == 403


def test_cli_load(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    generate_key_file(tmp_path / "keys.json")  # the operations record's MAC needs it
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(tmp_path / "keys.json"))
    path = tmp_path / "2027-04.yaml"
    path.write_text(amendment("2027-04", drop={"P-01"}, effective=dt.date(2027, 4, 1)), encoding="utf-8")
    loaded = CliRunner().invoke(app, ["ordinance", "load", str(path)])
    assert loaded.exit_code == 0, loaded.output
    assert "ordinance 2027-04 loaded: 7 rules, in force from 2027-04-01" in loaded.output
    (recorded,) = rows(database_url, "SELECT action, parameters FROM operations")
    assert recorded.action == "ordinance.load" and "2027-04" in recorded.parameters
    again = CliRunner().invoke(app, ["ordinance", "load", str(path)])
    assert again.exit_code == 1 and "E1004" in again.output
