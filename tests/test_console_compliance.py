"""The console's 条例適合性 page: the re-check of ``GET /audit/compliance`` for a period, the refusals
by ground with a chart, the flows no rule covers, and two ordinance versions side by side — over HTTP
as a browser speaks it, and once in Debian's chromium."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from platform_hub.audit import service
from platform_hub.audit.schemas import Violation
from platform_hub.console.compliance import recent_days
from platform_hub.kit.clock import city_today
from platform_hub.kit.settings import Settings
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.console import MY_NUMBER, Seeded, create_account, operations, sign_in, signed_in
from tests.helpers import HubClient, rows
from tests.test_console_browser import Visit, change_password
from tests.test_console_browser import sign_in as sign_in_in_the_browser
from tests.test_console_charts import bars_of

TODAY = city_today().isoformat()
# The seeded refusal: 2026-11 repealed U-03, so 011 may no longer use 地方税関係情報 (same organ).
REFUSAL_GROUND = "番号法 第9条第2項（条例 2026-11）"


def test_a_reason_names_its_ground() -> None:
    assert service.ground_of(None) == "理由の記録なし"
    provide = "ordinance 2026-11 has no rule (provide, 番号法 第19条第11号) nor statute for 教育委員会"
    assert service.ground_of(provide) == "番号法 第19条第11号（条例 2026-11）"
    assert (
        service.ground_of("番号法 第19条第8号: JIDOU may not obtain 地方税関係情報") == "番号法 第19条第8号"
    )
    assert service.ground_of("no ordinance version is in force on 2020-01-01") == "施行中の条例なし"
    assert service.ground_of("unit 011 is not registered for the 事務 X") == "ユニットに登録のない事務"
    assert service.ground_of("something else") == "その他"
    moment = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    network = Violation(entry_id=1, reception_number="R", requested_at=moment, reason="番号法 第14条第2項: X")
    city = Violation(entry_id=2, reception_number="S", requested_at=moment, reason="ordinance 1 has no rule")
    assert service.by_network(network) and not service.by_network(city)


def test_the_last_thirty_days_are_the_default_period() -> None:
    assert recent_days(dt.date(2026, 12, 3)) == (dt.date(2026, 11, 4), dt.date(2026, 12, 3))
    assert recent_days(dt.date(2026, 3, 1)) == (dt.date(2026, 1, 31), dt.date(2026, 3, 1))


def test_the_compliance_page_for_an_auditor(
    seeded: Seeded,
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    home = browser_client.get("/console")
    assert 'href="/console/compliance"' in home.text and "条例適合性" in home.text

    default = browser_client.get("/console/compliance")
    assert default.status_code == 200 and re.search(r"<h1>[^<]*条例適合性", default.text)
    start, end = recent_days(city_today())
    assert f'name="from" value="{start}"' in default.text and f"{start}〜{end}の再確認" in default.text
    assert "<svg" in default.text and bars_of(default.text) != []  # today's refusal among them

    page = browser_client.get("/console/compliance", params={"from": TODAY, "to": TODAY})
    assert page.status_code == 200
    api = hub.http.get("/audit/compliance", params={"from": TODAY, "to": TODAY}, headers=hub.staff("auditor"))
    report = api.json()
    assert f'確かめた連携（提供）</dt><dd class="number">{report["checked"]}件' in page.text
    assert f'どのルールにも当たらない流れ</dt><dd class="number">{len(report["uncovered"])}件' in page.text
    for flow in report["uncovered"]:
        assert flow["interface_id"] in page.text
    assert '期間の記録：拒否</dt><dd class="number">1件' in page.text
    # The chart: the refusal the hub made under 2026-11, by its ground; the same in the table.
    assert bars_of(page.text) == [("refused", REFUSAL_GROUND, 1)]
    assert f'<th scope="row">{REFUSAL_GROUND}</th><td>1</td><td>0</td>' in page.text
    assert "表で見る" in page.text and "style=" not in page.text
    # The versions: the demo's 2026-04 and the seeded 2026-11, which repealed U-03.
    assert "2026-04 から 2026-11 への変更" in page.text
    assert "追加 0件・削除 1件・変更 0件" in page.text
    removed = page.text[page.text.index("削除されたルール") :]
    assert '<td class="code">U-03</td>' in removed
    backwards = browser_client.get(
        "/console/compliance", params={"from": TODAY, "to": TODAY, "a": "2026-11", "b": "2026-04"}
    )
    assert "2026-11 から 2026-04 への変更" in backwards.text and "追加 1件・削除 0件" in backwards.text

    for shown in (default, page, backwards):
        assert MY_NUMBER not in shown.text
    readings = rows(
        database_url,
        "SELECT client_id, role, outcome, detail, parameters FROM operations"
        " WHERE action = 'audit.compliance' ORDER BY id",
    )
    ours = [r for r in readings if r.client_id == "console:kansa"]
    assert [(r.role, r.outcome) for r in ours] == [("auditor", "ok")] * 3
    assert ours[1].detail == f"{report['checked']} checked, 0 violations"
    assert TODAY in str(ours[1].parameters) and "2026-04..2026-11" in str(ours[1].parameters)


def test_a_period_the_page_cannot_use_is_refused(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    bad = browser_client.get("/console/compliance", params={"from": "<b>", "to": TODAY})
    assert bad.status_code == 400 and "&lt;b&gt;" in bad.text and "<b>" not in bad.text
    backwards = browser_client.get("/console/compliance", params={"from": TODAY, "to": "2026-01-01"})
    assert backwards.status_code == 400 and "期間の終わりが始まりより前です" in backwards.text
    assert [entry[2] for entry in operations(database_url, "audit.compliance")] == ["refused"] * 2


def test_the_my_number_office_opens_it_and_an_operator_does_not(
    seeded: Seeded,
    hub: HubClient,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    office = create_account(settings, monkeypatch, "bango", role="mynumber_office")
    operator = create_account(settings, monkeypatch, "unyou", role="operator")
    for account, status in ((office, 200), (operator, 403)):
        with httpx.Client(base_url=str(hub.http.base_url), timeout=30) as http:
            assert sign_in(http, account).status_code == 303
            assert http.get("/console/compliance").status_code == status
    assert [entry[:3] for entry in operations(database_url, "access.refuse")] == [
        ("console:unyou", "operator", "refused")
    ]
    assert [entry[:2] for entry in operations(database_url, "audit.compliance")] == [
        ("console:bango", "mynumber_office")
    ]


@needs_chromium
def test_the_compliance_page_in_the_browser(
    seeded: Seeded,
    hub: HubClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    artefacts: Path,
) -> None:
    account = create_account(settings, monkeypatch, "kansa.taro")
    origin = str(hub.http.base_url).rstrip("/").replace("127.0.0.1", HUB_HOST)
    with chromium() as browser:
        visit = Visit(browser, origin, artefacts)
        page = visit.page
        page.goto(f"{origin}/console/signin")
        sign_in_in_the_browser(page, account.login, account.password, account.totp.now())
        change_password(page, account.password)
        page.click("nav.pages >> text=条例適合性")
        expect(page.locator("h1")).to_contain_text("条例適合性")
        page.fill("input[name=from]", TODAY)
        page.fill("input[name=to]", TODAY)
        page.click("form.filters button[type=submit]")
        chart = page.locator("svg.chart")
        expect(chart).to_be_visible()
        expect(chart.locator("rect.bar")).to_have_count(1)
        assert chart.evaluate("e => e.getBoundingClientRect().height") > 50
        page.click("summary:has-text('表で見る')")
        expect(page.locator("table.chart-table")).to_contain_text(REFUSAL_GROUND)
        expect(page.locator("table.rules-removed")).to_contain_text("U-03")
        visit.shot("compliance")
        assert visit.outside == [] and visit.dialogs == [] and visit.violations() == []
        assert all(MY_NUMBER not in html for html in visit.seen)
        page.close()
    assert (artefacts / "console-compliance.png").exists()
