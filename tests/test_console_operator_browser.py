"""The operators' console pages in a real browser (Debian's chromium, driven by Playwright): an
operator retries a dead letter and sees it leave the list, then reads the units and the catalog;
the My Number office reads a day's report and downloads its CSV. Screenshots are kept in the test's
folder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from platform_hub.kit.clock import city_today
from platform_hub.kit.settings import Settings
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.console import Seeded, create_account, operations
from tests.helpers import HubClient, rows
from tests.test_console_browser import Visit, change_password, sign_in
from tests.test_console_deliveries import seed_queue

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_an_operator_retries_a_dead_letter_in_the_browser(
    browser: Browser,
    hub: HubClient,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    artefacts: Path,
) -> None:
    ids = seed_queue(database_url)
    account = create_account(settings, monkeypatch, "unyo", role="operator")
    origin = str(hub.http.base_url).rstrip("/").replace("127.0.0.1", HUB_HOST)
    visit = Visit(browser, origin, artefacts)
    page = visit.page
    page.goto(f"{origin}/console/signin")
    sign_in(page, account.login, account.password, account.totp.now())
    change_password(page, account.password)

    page.click("nav.pages >> text=配送")
    expect(page.locator("h1")).to_have_text("配送")
    dead = page.locator(f"#delivery-{ids['dead']}")
    expect(dead).to_have_count(1)
    expect(dead.locator(".last-error")).to_contain_text("<script>alert(1)</script>")
    visit.shot("deliveries")

    dead.locator("input[name=reason]").fill("002が復旧した")
    dead.locator("button[type=submit]").click()
    expect(page.locator(".notice")).to_have_text("配送不能の通知を配送待ちに戻しました")
    expect(page.locator(f"#delivery-{ids['dead']}")).to_have_count(0)
    expect(page.locator("table.dead-letters tbody")).to_contain_text("配送不能の通知はありません")
    visit.shot("deliveries-retried")

    page.click("nav.pages >> text=業務ユニット")
    expect(page.locator("h1")).to_have_text("業務ユニット")
    expect(page.locator("#unit-002 .state")).to_have_text("停止中")
    visit.shot("units")
    page.click("text=IF_JUK_0001")
    expect(page.locator("h1")).to_contain_text("IF_JUK_0001")
    expect(page.locator("table.items.request tbody tr").first).to_be_visible()
    visit.shot("interface")

    assert [entry[2:] for entry in operations(database_url, "deliveries.retry")] == [
        ("ok", "1 queued again: 002が復旧した")
    ]
    assert len(rows(database_url, "SELECT id FROM deliveries WHERE status = 'pending'")) == 3
    assert visit.outside == [] and visit.dialogs == [] and visit.violations() == []
    page.close()


def test_the_my_number_office_reads_the_daily_report_in_the_browser(
    browser: Browser,
    hub: HubClient,
    seeded: Seeded,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    artefacts: Path,
) -> None:
    account = create_account(settings, monkeypatch, "bango", role="mynumber_office")
    origin = str(hub.http.base_url).rstrip("/").replace("127.0.0.1", HUB_HOST)
    visit = Visit(browser, origin, artefacts)
    page = visit.page
    page.goto(f"{origin}/console/signin")
    sign_in(page, account.login, account.password, account.totp.now())
    change_password(page, account.password)
    page.click("nav.pages >> text=日次報告")
    yesterday = (city_today() - dt.timedelta(days=1)).isoformat()
    expect(page.locator("h1")).to_have_text(f"日次報告（{yesterday}）")
    page.fill("input[name=day]", city_today().isoformat())
    page.click("form.filters button[type=submit]")
    expect(page.locator("h1")).to_have_text(f"日次報告（{city_today().isoformat()}）")
    expect(page.locator("table.daily-transfers tfoot")).to_contain_text("2")
    expect(page.locator("table.daily-refusals tbody")).to_contain_text("JDT-001")
    visit.shot("daily")
    with page.expect_download() as download:
        page.click("a.csv")
    saved = artefacts / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.read_bytes().startswith("\ufeff日次報告".encode())
    assert visit.outside == [] and visit.dialogs == [] and visit.violations() == []
    page.close()
