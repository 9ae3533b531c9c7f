"""The console's 条例改正の影響 page: the My Number office uploads a draft ordinance with a period and
reads, in Japanese, what it would have changed — over HTTP as a browser speaks it, then in chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from platform_hub.kit.settings import Settings
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.console import create_account, form_token, operations, sign_in
from tests.helpers import HubClient, rows
from tests.test_console_browser import change_password
from tests.test_ordinance import TODAY, amendment
from tests.test_ordinance_impact import JDT_RULE, recorded, with_rule  # noqa: F401 - the fixture

DRAFT = amendment("2027-04", drop={"U-03"})


@pytest.fixture
def office(hub: HubClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    """A browser's client of the hub, signed in as the My Number office (番号制度統括)."""
    account = create_account(settings, monkeypatch, "bango.hanako", role="mynumber_office")
    with httpx.Client(base_url=str(hub.http.base_url), timeout=30) as http:
        assert sign_in(http, account).status_code == 303
        yield http


def period(**more: str) -> dict[str, str]:
    return {"start": str(TODAY), "end": str(TODAY), **more}


def test_the_office_uploads_a_draft_and_reads_its_effect(
    office: httpx.Client,
    recorded: None,  # noqa: F811 - the fixture
    database_url: str,
) -> None:
    form = office.get("/console/impact")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    assert "条例改正の影響" in office.get("/console").text  # on the office's home page
    answer = office.post(
        "/console/impact",
        data={"csrf": form_token(form.text), **period()},
        files={"draft": ("2027-04.yaml", DRAFT.encode(), "application/yaml")},
    )
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert '<dd class="checked">3件</dd>' in page and '<dd class="would-refuse">2件</dd>' in page
    assert '<dd class="would-allow">0件</dd>' in page
    assert "拒否になる" in page and "IF_ZEI_0001" in page and "2026-04/U-03" in page
    assert "児童手当の支給に関する事務" in page  # JDT-001 by its name
    assert "（改正でなくなる）" in page and "削除" in page
    numbers = rows(database_url, "SELECT reception_number FROM transfer_records WHERE outcome = 'provided'")
    assert all(r.reception_number in page for r in numbers)
    # Pasted instead of uploaded: a draft adding a rule allows what was refused.
    pasted = office.post(
        "/console/impact",
        data={"csrf": form_token(form.text), **period(text=with_rule("2027-05", JDT_RULE))},
    )
    assert pasted.status_code == 200, pasted.text
    assert '<dd class="would-allow">1件</dd>' in pasted.text and "許可になる" in pasted.text
    assert "2027-05/U-21" in pasted.text and '<dd class="covered">1件</dd>' in pasted.text
    logged = operations(database_url, "ordinance.impact")
    assert [(e[0], e[1], e[2]) for e in logged] == [("console:bango.hanako", "mynumber_office", "ok")] * 2
    assert "2 would be refused" in str(logged[0][3])
    # Nothing was loaded.
    assert [r.version for r in rows(database_url, "SELECT version FROM ordinance_versions")] == ["2026-04"]


def test_a_bad_draft_a_missing_token_and_other_roles_are_refused(
    office: httpx.Client,
    hub: HubClient,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = form_token(office.get("/console/impact").text)
    broken = office.post("/console/impact", data={"csrf": token, **period(text="rules: [")})
    assert broken.status_code == 400 and "改正案を読めません（E1002）" in broken.text
    assert "not YAML" in broken.text
    unknown = office.post(
        "/console/impact",
        data={"csrf": token, **period(text=with_rule("x", {**JDT_RULE, "purpose": "XX-1"}))},
    )
    assert unknown.status_code == 400 and "unknown purpose XX-1" in unknown.text
    backwards = office.post(
        "/console/impact", data={"csrf": token, "start": "2026-02-01", "end": "2026-01-01", "text": "x"}
    )
    assert backwards.status_code == 400 and "「まで」が「から」より前です" in backwards.text
    escaped = office.post("/console/impact", data={"csrf": token, **period(text="<script>alert(1)</script>")})
    assert escaped.status_code == 400 and "<script>alert(1)" not in escaped.text
    no_token = office.post("/console/impact", data=period(text=DRAFT))
    assert no_token.status_code == 403 and "確認用トークン" in no_token.text
    assert [e[2] for e in operations(database_url, "ordinance.impact")] == ["refused"] * 5
    auditor = create_account(settings, monkeypatch, "kansa.jiro", role="auditor")
    with httpx.Client(base_url=str(hub.http.base_url), timeout=30) as http:
        assert sign_in(http, auditor).status_code == 303
        assert http.get("/console/impact").status_code == 403
        assert "条例改正の影響" not in http.get("/console").text


@needs_chromium
def test_the_office_reads_the_effect_in_the_browser(
    hub: HubClient,
    recorded: None,  # noqa: F811 - the fixture
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    artefacts: Path,
) -> None:
    account = create_account(settings, monkeypatch, "bango.taro", role="mynumber_office")
    draft = artefacts / "2027-04.yaml"
    draft.write_text(DRAFT, encoding="utf-8")
    origin = str(hub.http.base_url).rstrip("/").replace("127.0.0.1", HUB_HOST)
    outside: list[str] = []
    with chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(f"{origin}/")
                else (outside.append(route.request.url), route.abort())
            ),
        )
        page.goto(f"{origin}/console/signin")
        page.fill("#login", account.login)
        page.fill("#password", account.password)
        page.fill("#code", account.totp.now())
        page.click("form[action='/console/signin'] button[type=submit]")
        change_password(page, account.password)
        page.click("nav.pages >> text=条例改正の影響")
        expect(page.locator("h1")).to_have_text("条例改正の影響")
        page.fill("input[name=start]", str(TODAY))
        page.fill("input[name=end]", str(TODAY))
        page.set_input_files("input[name=draft]", str(draft))
        page.screenshot(path=str(artefacts / "console-impact-form.png"), full_page=True)
        page.click("form.impact-form button[type=submit]")
        expect(page.locator("dd.would-refuse")).to_have_text("2件")
        expect(page.locator("table.impact-changes tbody tr")).to_have_count(1)
        expect(page.locator("table.impact-changes td.change")).to_have_text("拒否になる")
        expect(page.locator("table.impact-rules tbody")).to_contain_text("U-03")
        page.screenshot(path=str(artefacts / "console-impact.png"), full_page=True)
        assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
        page.close()
    assert outside == []
    assert [e[2] for e in operations(database_url, "ordinance.impact")] == ["ok"]
