"""The console's 業務ユニット page over HTTP: the registered units with their heartbeats and last
traffic in the transfer record, the interface catalog with every item's データ項目ID, type, length
and requirement; read-only, recorded, for operators and administrators only."""

from __future__ import annotations

import re

import httpx
import pytest

from platform_hub.kit.settings import Settings
from tests.console import SCRIPT_NAME, Seeded, operations, signed_in
from tests.helpers import CATALOG, HubClient, execute


def test_an_operator_sees_the_units_their_heartbeats_and_traffic(
    hub: HubClient,
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credentials = hub.register("005", name=SCRIPT_NAME)
    beat = hub.http.post("/adapters/005/heartbeat", headers=hub.unit_headers(credentials))
    assert beat.status_code == 200, beat.text
    hub.register("021")
    execute(database_url, "UPDATE units SET enabled = false WHERE code = '021'")
    http = signed_in(browser_client, settings, monkeypatch, "operator", "operator.taro")
    answer = http.get("/console/units")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    row = {code: _row(html, code) for code in ("002", "005", "011")}
    assert "受信なし" in row["002"] and "有効" in row["002"]
    assert re.search(r'class="word heartbeat">20[0-9-]+ [0-9:]+<', row["005"]), row["005"]
    assert re.search(r'class="word heartbeat-age">[0-9]+秒<', row["005"]), row["005"]
    # 011 asked 002: the last traffic of each, 011 as the side that received, 002 as the one that provided.
    traffic_011 = re.findall(r'class="word traffic">([^<]*)<', row["011"])
    traffic_002 = re.findall(r'class="word traffic">([^<]*)<', row["002"])
    assert traffic_011[0] and not traffic_011[1] and traffic_002[1] and not traffic_002[0]
    assert "停止中" in _row(html, "021")
    for spec in CATALOG.specs():
        assert f'href="/console/units/interfaces/{spec.id}"' in html
    assert operations(database_url, "unit.list") == [("console:operator.taro", "operator", "ok", "4 units")]


def _row(html: str, code: str) -> str:
    found = re.search(rf'<tr id="unit-{code}".*?</tr>', html, re.S)
    assert found, code
    return found.group(0)


def test_an_interface_shows_every_item_with_its_id_type_length_and_requirement(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = signed_in(browser_client, settings, monkeypatch, "admin", "admin.taro")
    spec = CATALOG.get("IF_JUK_0001")
    assert spec is not None
    answer = http.get("/console/units/interfaces/IF_JUK_0001")
    assert answer.status_code == 200, answer.text
    for item in spec.spec.all_items():
        assert f'<td class="code">{item.id}</td>' in answer.text
        assert f'<td class="code">{item.romaji}</td>' in answer.text
    conditional = [item for item in spec.spec.all_items() if item.condition is not None]
    for item in conditional:
        assert item.condition is not None and item.condition.describe().split(" ")[0] in answer.text
    assert "X(15)" in answer.text and "必須" in answer.text
    later = next(s for s in CATALOG.specs(every_version=True) if s.version > 1)
    newer = http.get(f"/console/units/interfaces/{later.id}?version={later.version}")
    assert newer.status_code == 200 and f"<dt>版</dt><dd>{later.version}</dd>" in newer.text
    for missing in ("IF_XXX_9999", "IF_JUK_0001?version=abc", "IF_JUK_0001?version=99"):
        answer = http.get(f"/console/units/interfaces/{missing}")
        assert answer.status_code == 404 and "カタログにありません" in answer.text, missing
    assert [entry[2] for entry in operations(database_url, "interface.read")] == ["ok", "ok"]


@pytest.mark.parametrize("role", ["auditor", "mynumber_office"])
def test_other_roles_may_not_open_it(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
) -> None:
    http = signed_in(browser_client, settings, monkeypatch, role, f"{role[:8]}.taro")
    assert 'href="/console/units"' not in http.get("/console").text
    for url in ("/console/units", "/console/units/interfaces/IF_JUK_0001"):
        refused = http.get(url)
        assert refused.status_code == 403 and "業務ユニットを開く権限がありません" in refused.text
    assert operations(database_url, "unit.list") == []
