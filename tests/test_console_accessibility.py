"""The console's pages against WCAG 2.1 A and AA as axe-core (npm, in tests/accessibility/) checks
them in Debian's chromium: the sign-in page, and every page an administrator may open, each with
records on it. Install axe-core with ``npm ci --prefix tests/accessibility`` (CI does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from platform_hub.console.signing import PAGES
from platform_hub.kit.settings import Settings
from platform_hub.models import AccountRole
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.console import Seeded, create_account
from tests.helpers import HubClient
from tests.test_console_browser import change_password, sign_in
from tests.test_ordinance import amendment

AXE = Path(__file__).parent / "accessibility" / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [
    needs_chromium,
    pytest.mark.skipif(not AXE.exists(), reason="no axe-core: npm ci --prefix tests/accessibility"),
]
STANDARDS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def problems(page: Page) -> list[str]:
    """What axe finds on the page as it is now: each rule broken, with where."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated by the browser's tools, not the page's CSP
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)",
        STANDARDS,
    )
    return list(found)


def test_every_console_page_passes_axe(
    hub: HubClient,
    seeded: Seeded,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kanri.hanako", role="admin")
    origin = str(hub.http.base_url).rstrip("/").replace("127.0.0.1", HUB_HOST)
    found: dict[str, list[str]] = {}
    with chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.goto(f"{origin}/console/signin")
        found["signin"] = problems(page)
        sign_in(page, account.login, account.password, account.totp.now())
        expect(page.locator("h1")).to_have_text("パスワード変更")
        found["password"] = problems(page)
        change_password(page, account.password)
        found["home"] = problems(page)
        for name, (_, url, roles) in PAGES.items():
            if AccountRole.ADMIN in roles:
                page.goto(f"{origin}{url}")
                found[name] = problems(page)
        page.goto(f"{origin}/console/persons/{seeded.integrated_number}")
        found["history"] = problems(page)
        page.goto(f"{origin}/console/impact")  # and a replay's result, with a change on it
        page.fill("input[name=start]", "2026-01-01")
        page.fill("input[name=end]", "2030-12-31")
        page.fill("textarea[name=text]", amendment("2027-04", drop={"U-03"}))
        page.click("form.impact-form button[type=submit]")
        page.wait_for_selector("dd.would-refuse")
        found["impact-result"] = problems(page)
        page.close()
    assert {name: broken for name, broken in found.items() if broken} == {}
