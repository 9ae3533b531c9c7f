"""The console in a real browser (Debian's chromium, driven by Playwright) that reaches nothing but the
hub: an auditor made on the command line signs in with the code their app shows, filters the
transfer record, finds a person by 氏名 and 生年月日 and opens their やりとり履歴, and signs out. Each
page's screenshot is kept in the test's folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from platform_hub.console.pages import CONTENT_SECURITY_POLICY
from platform_hub.kit.settings import Settings
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.console import MY_NUMBER, SCRIPT_NAME, WRONG, Seeded, create_account, operations
from tests.helpers import HubClient, rows, served_hub

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


class Visit:
    """One browser tab on the hub alone: every request elsewhere aborted and kept, every dialog (an
    ``alert`` a page was made to run) and CSP violation kept, and screenshots into ``folder``."""

    def __init__(self, browser: Browser, origin: str, folder: Path) -> None:
        self.origin, self.folder = origin, folder
        self.page: Page = browser.new_page(locale="ja-JP")
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        self.page.route("**/*", self._only_the_hub)
        self.page.on("dialog", self._dialog)
        self.page.add_init_script(
            "document.addEventListener('securitypolicyviolation',"
            " e => (window.__violations = (window.__violations || []).concat(e.violatedDirective)));"
        )
        self.seen: list[str] = []

    def _only_the_hub(self, route: Route) -> None:
        if route.request.url.startswith(f"{self.origin}/"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(str(getattr(dialog, "message", "")))
        getattr(dialog, "dismiss")()  # noqa: B009 - Playwright's Dialog

    def shot(self, name: str) -> None:
        """A screenshot (an artefact to look at, not an assertion), and the page's HTML for the checks."""
        self.page.screenshot(path=str(self.folder / f"console-{name}.png"), full_page=True)
        self.seen.append(self.page.content())

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations || []")
        return found


def sign_in(page: Page, login: str, password: str, code: str) -> None:
    page.fill("#login", login)
    page.fill("#password", password)
    page.fill("#code", code)
    page.click("form[action='/console/signin'] button[type=submit]")


def change_password(page: Page, current: str, new: str = "the-browser-chose-this-one") -> str:
    """The パスワード変更 page a new account's first sign-in leads to, answered: to the home page. The
    new password."""
    expect(page.locator("h1")).to_have_text("パスワード変更")
    expect(page.locator(".notice")).to_contain_text("管理者から渡されたパスワード")
    page.fill("#current", current)
    page.fill("#new", new)
    page.fill("#confirmation", new)
    page.click("form[action='/console/password'] button[type=submit]")
    expect(page.locator("h1")).to_have_text("ホーム")
    return new


@pytest.fixture
def origin_of(settings: Settings) -> Iterator[str]:
    with served_hub(settings) as (url, _):
        yield url.replace("127.0.0.1", HUB_HOST)


def test_an_auditor_reads_the_records_in_the_browser(
    browser: Browser,
    hub: HubClient,
    seeded: Seeded,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    artefacts: Path,
) -> None:
    account = create_account(settings, monkeypatch, "kansa.taro")
    origin = str(hub.http.base_url).rstrip("/").replace("127.0.0.1", HUB_HOST)
    visit = Visit(browser, origin, artefacts)
    page = visit.page

    first = page.goto(f"{origin}/")
    assert first is not None and page.url == f"{origin}/console/signin"
    assert first.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["referrer-policy"] == "same-origin"
    expect(page.locator("h1")).to_have_text("サインイン")
    visit.shot("signin")

    sign_in(visit.page, account.login, account.password, account.totp.now())
    expect(page.locator("h1")).to_have_text("パスワード変更")
    page.goto(f"{origin}/console/transfers")  # nothing else opens before the change
    expect(page.locator("h1")).to_have_text("パスワード変更")
    visit.shot("password")
    account.password = change_password(page, account.password)
    expect(page.locator(".account")).to_contain_text("監査 太郎（kansa.taro・監査責任者）")
    visit.shot("home")

    page.click("nav.pages >> text=連携記録")
    expect(page.locator("h1")).to_have_text("連携記録")
    expect(page.locator("table.records tbody tr")).to_have_count(2)  # the answered query and the refused one
    page.select_option("select[name=outcome]", "refused")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.records tbody tr")).to_have_count(1)
    expect(page.locator("table.records tbody tr td.outcome")).to_have_text("拒否")
    assert "outcome=refused" in page.url
    expect(page.locator("a.csv")).to_have_attribute("href", "/console/transfers.csv?outcome=refused")
    visit.shot("transfers-refused")

    page.click("nav.pages >> text=やりとり履歴")
    page.fill("input[name=name]", "山田太郎")
    page.fill("input[name=birth_date]", "1985-04-01")
    page.click("form.search button[type=submit]")
    expect(page.locator("h2")).to_have_text("候補（1人）")
    visit.shot("persons")
    page.click("text=やりとり履歴を見る")
    expect(page.locator("h1")).to_have_text("特定個人情報のやりとり履歴")
    expect(page.locator(".subject dd.name")).to_have_text("山田　太郎")
    expect(page.locator(".subject")).to_contain_text("1985-04-01")
    expect(page.locator(".subject")).to_contain_text(seeded.integrated_number)
    expect(page.locator("tbody")).to_contain_text("地方税関係情報")
    visit.shot("history")
    page.emulate_media(media="print")
    expect(page.locator(".masthead")).to_be_hidden()  # the print stylesheet leaves the console out
    page.screenshot(path=str(artefacts / "console-history-print.png"), full_page=True)
    page.emulate_media(media="screen")

    page.click("nav.pages >> text=やりとり履歴")
    page.fill("input[name=name]", "スクリプト")
    page.fill("input[name=birth_date]", "1990-01-01")
    page.click("form.search button[type=submit]")
    expect(page.locator("td.name")).to_have_text(SCRIPT_NAME)  # the characters, shown as text
    page.click("text=やりとり履歴を見る")
    expect(page.locator(".subject dd.name")).to_have_text(SCRIPT_NAME)
    visit.shot("history-script")
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    # No <style> either; an inline style attribute would show among the CSP violations below.
    assert page.evaluate("document.querySelectorAll('style').length") == 0

    page.click("text=サインアウト")
    expect(page.locator(".notice")).to_have_text("サインアウトしました")
    visit.shot("signed-out")
    page.goto(f"{origin}/console/transfers")
    assert page.url == f"{origin}/console/signin"

    assert visit.outside == [], "the console reached for what the hub does not serve"
    assert visit.dialogs == [], "a page ran a script it was given"
    assert visit.violations() == []
    assert len(visit.seen) == 8 and all(MY_NUMBER not in html for html in visit.seen)
    assert len(list(artefacts.glob("console-*.png"))) == 9
    assert [entry[2:] for entry in operations(database_url, "console.password.change")] == [
        ("ok", "password changed: the initial one")
    ]
    assert [entry[0] for entry in operations(database_url, "audit.person")] == ["console:kansa.taro"] * 2
    assert [entry[2] for entry in operations(database_url, "console.signout")] == ["ok"]
    page.close()


def test_five_wrong_codes_lock_the_account_in_the_browser(
    browser: Browser,
    hub: HubClient,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    artefacts: Path,
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    origin = str(hub.http.base_url).rstrip("/").replace("127.0.0.1", HUB_HOST)
    visit = Visit(browser, origin, artefacts)
    visit.page.goto(f"{origin}/console/signin")
    for _ in range(4):
        sign_in(visit.page, account.login, account.password, "000000")
        expect(visit.page.locator(".error")).to_have_text(WRONG)
    visit.shot("wrong")
    sign_in(visit.page, account.login, account.password, "000000")
    expect(visit.page.locator(".error")).to_contain_text("ロックされています")
    sign_in(visit.page, account.login, account.password, account.totp.now())
    expect(visit.page.locator(".error")).to_contain_text("ロックされています")
    visit.shot("locked")
    failures = operations(database_url, "console.signin")
    assert [entry[:3] for entry in failures] == [("console:kansa", "auditor", "refused")] * 6
    assert len(operations(database_url, "console.lock")) == 1
    recorded = " ".join(str(row) for row in rows(database_url, "SELECT * FROM operations"))
    assert account.password not in recorded and "000000" not in recorded
    visit.page.close()


def test_an_idle_session_ends_in_the_browser(
    browser: Browser, settings: Settings, monkeypatch: pytest.MonkeyPatch, artefacts: Path
) -> None:
    idle = settings.model_copy(update={"console_idle_timeout_seconds": 1.0})
    with served_hub(idle) as (url, _):
        account = create_account(settings, monkeypatch, "kansa")
        origin = url.replace("127.0.0.1", HUB_HOST)
        visit = Visit(browser, origin, artefacts)
        visit.page.goto(f"{origin}/console")
        sign_in(visit.page, account.login, account.password, account.totp.now())
        change_password(visit.page, account.password)
        time.sleep(1.5)
        visit.page.click("text=連携記録")
        expect(visit.page.locator(".notice")).to_contain_text("一定時間操作がなかったため")
        assert visit.page.url == f"{origin}/console/signin?expired=idle"
        visit.shot("expired")
        visit.page.close()
