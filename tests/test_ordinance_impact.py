"""条例改正の影響: a draft ordinance, neither stored nor in force, replayed over a past period of the
record — the pure replay on its own, then over HTTP (POST /ordinance/impact) and from the CLI."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.settings import Settings
from platform_hub.ordinance import impact
from platform_hub.ordinance.impact import ChangeKind, Flow, RecordedGroup
from platform_hub.ordinance.schemas import ImpactExample
from platform_hub.ordinance.service import parse_ordinance, version_of
from tests.helpers import CATALOG, YAMADA, HubClient, rows, serve_in_thread, soap_message, zei_query
from tests.test_ordinance import DEMO, TODAY, amendment
from tests.units import TestUnit, zei_answer

# 児童手当 (011) asks 個人住民税 (002) for 地方税関係情報: allowed by U-03.
ZEI_FLOW = Flow("011", "市長", "IF_ZEI_0001", ("JDT-001",), "地方税関係情報", "002", "市長")
# 住民基本台帳 (001) asks 児童手当 (011) for 児童手当関係情報: the demo's flow no rule covers.
JDT_FLOW = Flow("001", "市長", "IF_JDT_0001", ("JUK-001",), "児童手当関係情報", "011", "市長")
JDT_RULE = {
    "code": "U-21",
    "kind": "use",
    "receiving_organ": "市長",
    "purpose": "JUK-001",
    "category": "児童手当関係情報",
    "holding_organ": "市長",
    "holding_unit": "011",
    "article": "別表第2 第9項",
    "text": "住民基本台帳法による住民基本台帳に関する事務であって規則で定めるもの",
}
AT = dt.datetime(2026, 6, 1, 3, tzinfo=dt.UTC)


def with_rule(version: str, rule: dict[str, str]) -> str:
    """The demo ordinance with one rule more."""
    return yaml.safe_dump(
        {**DEMO, "version": version, "rules": [*DEMO["rules"], rule]}, allow_unicode=True, sort_keys=False
    )


def books(draft_text: str) -> tuple[impact.Rulebook, impact.Rulebook]:
    """The demo ordinance as what governed (in force at any moment), and the draft."""
    demo = parse_ordinance(yaml.safe_dump(DEMO, allow_unicode=True), CATALOG)
    return impact.draft_rulebook(demo), impact.draft_rulebook(parse_ordinance(draft_text, CATALOG))


# --- the replay, on its own ----------------------------------------------------------------------


def test_a_draft_that_repeals_a_rule_would_refuse_the_transfers_it_allowed() -> None:
    current, draft = books(amendment("2027-04", drop={"U-03"}))
    replay = impact.Replay(current, draft, examples=2)
    allowed = RecordedGroup(ZEI_FLOW, allowed=True, moment=AT, entries=7, deciding=("JDT-001",))
    assert replay.add(allowed) is ChangeKind.WOULD_REFUSE
    assert replay.add(RecordedGroup(ZEI_FLOW, True, AT + dt.timedelta(days=30), 3, ("JDT-001",))) is not None
    # A flow the draft leaves as it was, and a refusal the ordinance did not make, change nothing.
    kept = Flow("011", "市長", "IF_JUK_0001", ("JDT-001",), "住民票関係情報", "001", "市長")
    assert replay.add(RecordedGroup(kept, True, AT, 5, ("JDT-001",))) is None
    assert replay.add(RecordedGroup(kept, False, AT, 1, ("JDT-001",))) is None
    for n in range(3):  # more examples than it keeps
        replay.example(
            ChangeKind.WOULD_REFUSE,
            ZEI_FLOW,
            ImpactExample(entry_id=10 - n, reception_number=f"R{n}", requested_at=AT),
        )
    (change,) = replay.changes()
    assert (change.change, change.entries, change.rules_before, change.rules_after) == (
        "would_refuse",
        10,
        ["2026-04/U-03"],
        [],
    )
    assert "ordinance 2027-04 has no rule (use, 番号法 第9条第2項)" in change.reasons[0]
    assert [e.entry_id for e in change.examples] == [9, 10]
    assert (
        replay.checked,
        replay.entries(ChangeKind.WOULD_REFUSE),
        replay.entries(ChangeKind.WOULD_ALLOW),
    ) == (16, 10, 0)
    assert impact.touched(replay.changes(), [], []) == (["002", "011"], ["JDT-001"])


def test_a_draft_that_adds_a_rule_covers_a_flow_no_rule_covered() -> None:
    current, draft = books(with_rule("2027-04", JDT_RULE))
    uncovered, covered = impact.coverage(current, draft, AT, [JDT_FLOW, ZEI_FLOW])
    assert uncovered == []
    (newly,) = covered
    assert (newly.flow.interface_id, newly.rule_before, newly.rule_after) == (
        "IF_JDT_0001",
        None,
        "2027-04/U-21",
    )
    # The other way round: the draft without the rule leaves the flow uncovered, as it was.
    left, gained = impact.coverage(draft, current, AT, [JDT_FLOW])
    assert (left[0].rule_before, left[0].rule_after, gained) == ("2027-04/U-21", None, [])
    # Refused then (no rule), allowed by the draft.
    replay = impact.Replay(current, draft)
    assert replay.add(RecordedGroup(JDT_FLOW, False, AT, 2, ("JUK-001",))) is ChangeKind.WOULD_ALLOW
    assert replay.changes()[0].rules_after == ["2027-04/U-21"]


def test_the_draft_governs_every_moment_and_a_group_before_any_version_was_refused() -> None:
    current, draft = books(with_rule("2027-04", JDT_RULE))
    long_ago = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
    assert draft.in_force(long_ago) is not None and draft.in_force(AT) is not None
    then, after = impact.decisions(current, draft, RecordedGroup(JDT_FLOW, False, None, 1, ("JUK-001",)))
    assert then.rule is None and after.rule_id == "2027-04/U-21"


def test_rule_changes_against_the_version_in_force() -> None:
    demo = version_of(parse_ordinance(yaml.safe_dump(DEMO, allow_unicode=True), CATALOG), "x", "test")
    amended = {**DEMO, "rules": [*(r for r in DEMO["rules"] if r["code"] != "U-03"), JDT_RULE]}
    amended["rules"][0] = {**amended["rules"][0], "article": "別表第2 第1項の2"}
    draft = parse_ordinance(yaml.safe_dump(amended, allow_unicode=True), CATALOG)
    found = {(r.code, r.change) for r in impact.rule_changes(demo, draft)}
    assert found == {("U-01", "changed"), ("U-03", "removed"), ("U-21", "added")}
    assert [r.change for r in impact.rule_changes(None, draft)] == ["added"] * len(draft.rules)


# --- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def recorded(hub: HubClient, database_url: str) -> Iterator[None]:
    """Two answered queries 011 → 002 (U-03), and a query 001 → 011 the ordinance refused."""
    zeimu, jidou_unit = TestUnit(answer=zei_answer), TestUnit(answer=lambda request: "")
    with serve_in_thread(zeimu.app()) as zeimu_url, serve_in_thread(jidou_unit.app()) as jidou_url:
        hub.register("002", zeimu_url)
        jidou = hub.unit_headers(hub.register("011", jidou_url))
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"001": YAMADA["001"], "011": YAMADA["011"], "002": YAMADA["002"]})
        for year in ("2025", "2026"):
            assert hub.send(zei_query(year=year), jidou).status_code == 200
        body = soap_message(
            "IF_JDT_0001", "001", {"AtenaNo": YAMADA["001"], "KijunDate": "2026-11-01"}, purpose="JUK-001"
        )
        assert hub.send(body, juki).status_code == 403
    yield


def replay(hub: HubClient, text: str | bytes, headers: dict[str, str] | None = None, **params: str) -> Any:
    return hub.http.post(
        "/ordinance/impact",
        params={"start": str(TODAY), "end": str(TODAY), **params},
        content=text.encode() if isinstance(text, str) else text,
        headers={"Content-Type": "application/yaml", **(headers or hub.admin())},
    )


def test_the_api_replays_a_draft_over_the_record(hub: HubClient, recorded: None, database_url: str) -> None:
    answer = replay(hub, amendment("2027-04", drop={"U-03"}))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["from"], report["to"], report["compared_with"]) == (str(TODAY), str(TODAY), "2026-04")
    assert (report["checked"], report["would_refuse"], report["would_allow"]) == (3, 2, 0)
    (change,) = report["changes"]
    assert (
        change["flow"] | {"receiving_unit": "011", "interface_id": "IF_ZEI_0001", "holding_unit": "002"}
        == change["flow"]
    )
    assert change["rules_before"] == ["2026-04/U-03"] and len(change["examples"]) == 2
    numbers = {
        r.reception_number
        for r in rows(
            database_url, "SELECT reception_number FROM transfer_records WHERE outcome = 'provided'"
        )
    }
    assert {e["reception_number"] for e in change["examples"]} == numbers
    # 011 loses IF_ZEI_0001 from 002 in the registry too; the rules say so.
    assert ("011", "IF_ZEI_0001", "2026-04/U-03") in {
        (u["flow"]["receiving_unit"], u["flow"]["interface_id"], u["rule_before"])
        for u in report["uncovered"]
    }
    assert [(r["code"], r["change"]) for r in report["rules"]] == [("U-03", "removed")]
    assert report["units"] == ["002", "011"] and report["purposes"] == ["JDT-001"]
    # Nothing was stored: the version in force is the same, and no draft version exists.
    assert hub.http.get("/ordinance/rules", headers=hub.admin()).json()["version"] == "2026-04"
    (entry,) = rows(
        database_url, "SELECT outcome, detail, parameters FROM operations WHERE action = 'ordinance.impact'"
    )
    assert entry.outcome == "ok" and "2 would be refused" in entry.detail and "2027-04" in entry.parameters


def test_a_draft_that_adds_a_rule_would_allow_what_was_refused(hub: HubClient, recorded: None) -> None:
    report = replay(
        hub,
        with_rule("2027-04", JDT_RULE),
        headers=hub.staff("auditor"),
        start="2026-01-01",
        end="2030-12-31",
    ).json()
    assert (report["would_refuse"], report["would_allow"]) == (0, 1)
    (change,) = report["changes"]
    assert (change["change"], change["flow"]["interface_id"], change["rules_after"]) == (
        "would_allow",
        "IF_JDT_0001",
        ["2027-04/U-21"],
    )
    assert [(c["flow"]["receiving_unit"], c["flow"]["interface_id"]) for c in report["covered"]] == [
        ("001", "IF_JDT_0001")
    ]
    assert "IF_JDT_0001" not in {u["flow"]["interface_id"] for u in report["uncovered"]}
    assert report["units"] == ["001", "011"] and report["purposes"] == ["JUK-001"]


def test_bad_drafts_and_callers_are_refused(hub: HubClient, database_url: str) -> None:
    broken = replay(hub, "rules: [")
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "E1002"
    assert "not YAML" in broken.json()["error"]["message"]
    unknown = replay(hub, with_rule("2027-04", {**JDT_RULE, "purpose": "XXX-999"}))
    assert unknown.json()["error"]["code"] == "E1002" and "XXX-999" in unknown.text
    json_body = hub.http.post(
        "/ordinance/impact",
        params={"start": str(TODAY), "end": str(TODAY)},
        json={"version": "x"},
        headers=hub.admin(),
    )
    assert json_body.status_code == 400 and "application/yaml" in json_body.json()["error"]["message"]
    backwards = replay(hub, amendment("2027-04", drop=set()), start="2026-02-01", end="2026-01-01")
    assert backwards.json()["error"]["code"] == "E1002"
    misnamed = replay(hub, amendment("2027-04", drop=set()), **{"from": "2026-01-01"})
    assert misnamed.status_code == 400 and "query.from: not a parameter" in misnamed.text
    for headers in (hub.staff("integrator"), hub.unit_headers(hub.register("011"))):
        assert replay(hub, amendment("2027-04", drop=set()), headers=headers).status_code == 403
    refused = rows(database_url, "SELECT outcome FROM operations WHERE action = 'ordinance.impact'")
    assert [r.outcome for r in refused] == ["refused"] * 4
    assert "/ordinance/impact" in hub.http.get("/openapi.json").json()["paths"]


# --- from the command line -----------------------------------------------------------------------


def test_the_cli_prints_the_impact(
    hub: HubClient,
    recorded: None,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(settings.key_file))
    path = tmp_path / "draft.yaml"
    path.write_text(amendment("2027-04", drop={"U-03"}), encoding="utf-8")
    period = ["--from", str(TODAY), "--to", str(TODAY)]
    shown = CliRunner().invoke(app, ["ordinance", "impact", str(path), *period])
    assert shown.exit_code == 0, shown.output
    assert "3 transfers replayed, 2 would be refused, 0 would be allowed" in shown.stdout
    assert "would_refuse" in shown.stdout and "IF_ZEI_0001" in shown.stdout and "2026-04/U-03" in shown.stdout
    as_json = CliRunner().invoke(app, ["ordinance", "impact", str(path), *period, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["would_refuse"] == 2
    recorded_ = rows(database_url, "SELECT client_id FROM operations WHERE action = 'ordinance.impact'")
    assert len(recorded_) == 2 and recorded_[0].client_id.startswith("cli:")
    path.write_text("version: [", encoding="utf-8")
    broken = CliRunner().invoke(app, ["ordinance", "impact", str(path), *period])
    assert broken.exit_code == 1 and "E1002" in broken.output
