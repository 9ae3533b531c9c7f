"""An auditor's day in the console, from nothing but what ``platform-hub demo`` printed: its address
and the demo auditor's sign-in. In Debian's chromium, they sign in with the password and the code
their authenticator app shows, find applicant 1's やりとり履歴 by 氏名 and 生年月日, export the month's
transfers to Excel, open the compliance report with its chart and start a verification of the
record — on SQLite, and on PostgreSQL on a PostgreSQL run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pyotp
from platform_hub_demo.residents import generate_city
from playwright.sync_api import Page, expect

from platform_hub.kit.clock import city_today
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.national import scratch_databases
from tests.test_console_browser import change_password, sign_in

pytestmark = needs_chromium
RESIDENTS = 30
READY = "まだ動いています"


@contextmanager
def running_demo(data_dir: Path, database_url: str | None) -> Iterator[str]:
    """``platform-hub demo`` left running after its scenario: what it printed until then. Stopped
    with SIGTERM, as a service manager stops it, when the test is done."""
    command = [sys.executable, "-m", "platform_hub.cli", "demo", "--data-dir", str(data_dir)]
    command += ["--residents", str(RESIDENTS)] + (["--database-url", database_url] if database_url else [])
    printed: list[str] = []
    ready = threading.Event()
    env = {**os.environ, "COLUMNS": "200"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as demo:
        reader = threading.Thread(target=_read, args=(demo, printed, ready), daemon=True)
        reader.start()
        try:
            assert ready.wait(300) and demo.poll() is None, "".join(printed)[-3000:]
            yield "".join(printed)
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(60)


def _read(demo: subprocess.Popen[str], printed: list[str], ready: threading.Event) -> None:
    assert demo.stdout is not None
    for line in demo.stdout:
        printed.append(line)
        if READY in line:
            ready.set()
    ready.set()  # it ended: the test says what it printed


def test_an_auditor_works_from_what_the_demo_printed(tmp_path: Path, artefacts: Path) -> None:
    on_postgres = os.environ.get("PLATFORM_HUB_TEST_DATABASE_URL") is not None
    with (
        scratch_databases(["hub"], tmp_path) as databases,
        running_demo(tmp_path / "demo", databases["hub"] if on_postgres else None) as printed,
    ):
        console, login, password, key = _sign_in_of(printed)
        applicant = re.search(r"認定請求 — 申請者1 ([^（]+)（", printed)
        assert applicant, printed
        # The 開示請求's form gives the applicant's 生年月日; the demo's city is made from its seed.
        person = next(r for r in generate_city(2026, RESIDENTS) if r.name == applicant.group(1))
        with chromium() as browser:
            context = browser.new_context(locale="ja-JP", accept_downloads=True)
            page = context.new_page()
            page.goto(console.replace("127.0.0.1", HUB_HOST))
            sign_in(page, login, password, pyotp.TOTP(key).now())
            change_password(page, password)  # the demo auditor's is an initial password, as anybody's
            _history(page, person.name, person.birth_date.isoformat(), artefacts)
            _month_to_excel(page, artefacts)
            _compliance(page, artefacts)
            _verification(page, artefacts)
            context.close()


def _sign_in_of(printed: str) -> tuple[str, str, str, str]:
    found = re.search(
        r"console on (\S+/console) — demo auditor: "
        r"ログインID ([^,]+), パスワード ([^,]+), 確認コードの鍵 (\w+) ",
        printed,
    )
    assert found, printed
    return found.group(1), found.group(2), found.group(3), found.group(4)


def _history(page: Page, name: str, birth_date: str, folder: Path) -> None:
    page.click("nav.pages >> text=やりとり履歴")
    page.fill("input[name=name]", name)
    page.fill("input[name=birth_date]", birth_date)
    page.click("form.search button[type=submit]")
    expect(page.locator("h2")).to_have_text("候補（1人）")
    page.click("text=やりとり履歴を見る")
    expect(page.locator("h1")).to_have_text("特定個人情報のやりとり履歴")
    expect(page.locator(".subject dd.name")).to_have_text(name)
    expect(page.locator("tbody")).to_contain_text("地方税関係情報")  # her income, asked for her 児童手当
    page.screenshot(path=str(folder / "day-history.png"), full_page=True)


def _month_to_excel(page: Page, folder: Path) -> None:
    today = city_today()
    page.click("nav.pages >> text=連携記録")
    page.fill("input[name=from]", today.replace(day=1).isoformat())
    page.fill("input[name=to]", today.isoformat())
    page.click("form.filters button[type=submit]")
    expect(page.locator("tbody tr").first).to_be_visible()
    with page.expect_download() as download:
        page.click("text=Excelで書き出す")
    saved = folder / "month.xlsx"
    download.value.save_as(saved)
    sheet = openpyxl.load_workbook(saved, read_only=True).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) > 1 and all(isinstance(cell, str) or cell is None for row in rows for cell in row)
    page.screenshot(path=str(folder / "day-transfers.png"), full_page=True)


def _compliance(page: Page, folder: Path) -> None:
    page.click("nav.pages >> text=条例適合性")
    expect(page.locator("h1")).to_contain_text("条例適合性")
    expect(page.locator("svg").first).to_be_visible()
    page.screenshot(path=str(folder / "day-compliance.png"), full_page=True)


def _verification(page: Page, folder: Path) -> None:
    page.click("nav.pages >> text=記録の検証")
    expect(page.locator("h1")).to_contain_text("記録の検証")
    page.click("button:has-text('検証を始める')")
    # The page follows the run (検証中, its progress bar) and shows the result when it ends.
    expect(page.locator("main")).to_contain_text("改ざんは見つかりませんでした", timeout=120_000)
    page.screenshot(path=str(folder / "day-verification.png"), full_page=True)
