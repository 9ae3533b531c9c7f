"""The console's 記録の検証: a verification started from the page runs in the background and is kept
(so are those of ``GET /audit/verify`` and ``platform-hub audit verify``), one at a time whichever
replica started it, with its progress as JSON; an altered record shows as found; the checkpoints
download as the API gives them; and in a browser the button leads to 「改ざんは見つかりませんでした」."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import runs, verification
from platform_hub.console.verification import ALREADY
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import create_engine, create_sessionmaker, run_once, unit_of_work
from platform_hub.kit.settings import Settings
from platform_hub.models import VerificationRun
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.console import MY_NUMBER, Seeded, cli, create_account, form_token, operations, signed_in
from tests.helpers import HubClient, drop_triggers, execute, rows, wait_until
from tests.test_console_browser import Visit, change_password
from tests.test_console_browser import sign_in as sign_in_in_browser

NOTHING_FOUND = "改ざんは見つかりませんでした"


@pytest.fixture
def auditor(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> httpx.Client:
    """An auditor signed in, once both records are sealed with a checkpoint each."""
    wait_until(lambda: len(rows(database_url, "SELECT id FROM audit_checkpoints")) >= 1)
    wait_until(lambda: len(rows(database_url, "SELECT id FROM operation_checkpoints")) >= 1)
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    return browser_client


def stored_runs(database_url: str) -> list[Any]:
    return rows(
        database_url,
        "SELECT started_by, state, entries_checked, entries_total, problems, finished_at"
        " FROM verification_runs ORDER BY id",
    )


def start(http: httpx.Client) -> httpx.Response:
    shown = http.get("/console/verification")
    assert shown.status_code == 200, shown.text
    return http.post("/console/verification", data={"csrf": form_token(shown.text)})


def finished(http: httpx.Client) -> dict[str, Any]:
    said: dict[str, Any] = {}

    def done() -> bool:
        said.update(http.get("/console/verification/progress").json())
        return said["state"] not in (None, "running")

    wait_until(done, timeout=30)
    return said


def test_a_verification_from_the_console_runs_and_is_kept(auditor: httpx.Client, database_url: str) -> None:
    before = auditor.get("/console/verification")
    assert before.status_code == 200 and "まだ検証は行われていません" in before.text
    assert "検証を始める" in before.text and 'action="/console/verification"' in before.text
    assert auditor.post("/console/verification", data={}).status_code == 403  # no CSRF token
    started = start(auditor)
    assert started.status_code == 303 and started.headers["location"] == "/console/verification"
    said = finished(auditor)
    assert said["state"] == "ok" and said["checked"] == said["total"] > 0 and said["problems"] == []
    (run,) = stored_runs(database_url)
    assert run.started_by == "console:kansa" and run.state == "ok" and run.problems is None
    assert run.entries_checked == said["checked"] and run.finished_at is not None
    after = auditor.get("/console/verification")
    assert NOTHING_FOUND in after.text and "console:kansa" in after.text and "検証中" not in after.text
    assert MY_NUMBER not in after.text
    verifies = operations(database_url, "audit.verify")
    assert [entry[:3] for entry in verifies] == [
        ("console:kansa", "auditor", "refused"),  # the POST without its token
        ("console:kansa", "auditor", "ok"),
    ]


def test_one_verification_at_a_time_across_replicas(
    auditor: httpx.Client, settings: Settings, database_url: str
) -> None:
    async def begin(session: AsyncSession) -> int:  # as another replica starts one
        run = await runs.begin(session, "console:other")
        assert run is not None
        return run.id

    other = asyncio.run(run_once(settings.async_database_url, begin))
    execute(database_url, f"UPDATE verification_runs SET entries_checked = 2 WHERE id = {other}")
    refused = start(auditor)
    assert refused.status_code == 409 and ALREADY in refused.text
    progress = auditor.get("/console/verification/progress").json()
    assert progress["state"] == "running" and progress["checked"] == 2 and progress["total"] >= 2
    shown = auditor.get("/console/verification")
    assert "検証中" in shown.text and "<progress" in shown.text and 'data-state="running"' in shown.text
    assert "disabled" in shown.text
    assert operations(database_url, "audit.verify")[-1][2:] == ("refused", ALREADY)

    async def stall(session: AsyncSession) -> None:  # that replica stopped three minutes ago
        moment = utcnow() - dt.timedelta(minutes=3)
        await session.execute(update(VerificationRun).values(updated_at=moment))

    asyncio.run(run_once(settings.async_database_url, stall))
    stalled = auditor.get("/console/verification")  # not followed for ever: the button is back
    assert 'data-state="running"' not in stalled.text and "disabled" not in stalled.text
    assert auditor.get("/console/verification/progress").json()["state"] != "running"
    assert start(auditor).status_code == 303
    assert finished(auditor)["state"] == "ok"
    states = [(run.started_by, run.state) for run in stored_runs(database_url)]
    assert states == [("console:other", "error"), ("console:kansa", "ok")]
    assert stored_runs(database_url)[0].problems == runs.ABANDONED


def test_the_api_and_the_command_line_keep_their_runs(
    auditor: httpx.Client,
    hub: HubClient,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert hub.http.get("/audit/verify", headers=hub.admin_auditor()).json()["ok"] is True
    monkeypatch.setenv("PLATFORM_HUB_SIGNING_KEY_FILE", str(settings.signing_key_file))
    cli(settings, monkeypatch, "audit", "verify")
    api, command_line = stored_runs(database_url)
    assert api.state == command_line.state == "ok" and api.entries_checked > 0
    assert not api.started_by.startswith("cli:") and command_line.started_by.startswith("cli:")
    shown = auditor.get("/console/verification")
    assert NOTHING_FOUND in shown.text and command_line.started_by in shown.text


def test_an_altered_record_shows_what_was_found(
    auditor: httpx.Client, hub: HubClient, database_url: str
) -> None:
    (victim,) = rows(database_url, "SELECT id FROM transfer_records ORDER BY id LIMIT 1")
    drop_triggers(database_url)
    execute(database_url, f"UPDATE transfer_records SET requesting_unit = '051' WHERE id = {victim.id}")
    assert start(auditor).status_code == 303
    said = finished(auditor)
    assert said["state"] == "failed" and f"entry {victim.id} " in said["problems"][0]
    assert "altered" in said["problems"][0]
    shown = auditor.get("/console/verification")
    assert "改ざんまたは欠落が見つかりました" in shown.text and f"entry {victim.id} " in shown.text
    assert NOTHING_FOUND not in shown.text
    assert hub.http.get("/audit/verify", headers=hub.admin_auditor()).json()["ok"] is False
    assert [run.state for run in stored_runs(database_url)] == ["failed", "failed"]


def test_the_checkpoints_download_as_the_api_gives_them(
    auditor: httpx.Client, hub: HubClient, database_url: str, tmp_path: Path
) -> None:
    shown = auditor.get("/console/verification")
    assert 'href="/console/verification/checkpoints.json"' in shown.text
    downloaded = auditor.get("/console/verification/checkpoints.json")
    assert downloaded.status_code == 200 and "attachment" in downloaded.headers["content-disposition"]
    kept = downloaded.json()
    api = hub.http.get("/audit/checkpoints", headers=hub.admin_auditor()).json()
    assert kept["public_key_pem"] == api["public_key_pem"] and kept["key_id"] == api["key_id"]
    assert kept["checkpoints"] == api["checkpoints"][: len(kept["checkpoints"])] != []
    assert kept["operation_checkpoints"] != []
    first = kept["checkpoints"][0]
    assert str(first["seq"]) in shown.text and first["head_hash"] in shown.text
    (tmp_path / "kept.json").write_text(json.dumps(kept), encoding="utf-8")
    readers = [entry[0] for entry in operations(database_url, "audit.checkpoints")]
    assert readers[:2] == ["console:kansa", "console:kansa"]  # the page, the download


def test_an_operator_may_not_verify(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "operator", "unyou")
    assert "/console/verification" not in browser_client.get("/console").text
    for path in ("/console/verification", "/console/verification/progress"):
        assert browser_client.get(path).status_code == 403
    assert browser_client.post("/console/verification", data={}).status_code == 403
    assert stored_runs(database_url) == []


def test_a_run_moves_on_as_it_goes_and_is_closed_when_the_hub_stops(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow(*_: object, progress: verification.Progress, **__: object) -> None:
        progress.add(7)
        await asyncio.sleep(60)

    monkeypatch.setattr(verification, "verify_all", slow)
    monkeypatch.setattr(runs, "HEARTBEAT_SECONDS", 0.05)

    async def scenario() -> VerificationRun:
        engine = create_engine(settings.async_database_url)
        sessions = create_sessionmaker(engine)
        try:
            async with unit_of_work(sessions) as session:
                run = await runs.begin(session, "console:kansa")
                assert run is not None
            overdue = dt.timedelta(minutes=5)
            task = asyncio.create_task(
                runs.carry_out(sessions, run.id, None, record_key=None, overdue=overdue)
            )
            for _ in range(200):
                await asyncio.sleep(0.05)
                async with sessions() as session:
                    if (await session.get_one(VerificationRun, run.id)).entries_checked == 7:
                        break
            else:
                raise AssertionError("the progress was never written")
            task.cancel()  # as the hub's shutdown cancels its background work
            with contextlib.suppress(asyncio.CancelledError):
                await task
            async with sessions() as session:
                return await session.get_one(VerificationRun, run.id)
        finally:
            await engine.dispose()

    closed = asyncio.run(scenario())
    assert closed.state == "error" and closed.problems == "interrupted: the hub stopped"
    assert closed.entries_checked == 7 and closed.finished_at is not None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@needs_chromium
def test_verifying_in_the_browser(
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
    page.goto(f"{origin}/console/signin")
    sign_in_in_browser(page, account.login, account.password, account.totp.now())
    change_password(page, account.password)
    page.click("nav.pages >> text=記録の検証")
    expect(page.locator("h1")).to_have_text("記録の検証")
    visit.shot("verification")
    page.click("text=検証を始める")
    expect(page.locator(".verified")).to_have_text(NOTHING_FOUND, timeout=30_000)
    visit.shot("verification-done")
    assert [run.state for run in stored_runs(database_url)] == ["ok"]

    # One that another replica runs: the page's script follows its count, then shows what it found.
    async def begin(session: AsyncSession) -> int:
        run = await runs.begin(session, "console:other")
        assert run is not None
        return run.id

    with ThreadPoolExecutor(1) as thread:  # Playwright's event loop runs in this one
        other = thread.submit(asyncio.run, run_once(settings.async_database_url, begin)).result()
    page.reload()
    expect(page.locator(".verification .state")).to_have_text("検証中")
    expect(page.locator("button", has_text="検証を始める")).to_be_disabled()
    execute(database_url, f"UPDATE verification_runs SET entries_checked = 5 WHERE id = {other}")
    expect(page.locator(".verification .checked")).to_have_text("5")
    expect(page.locator(".verification progress")).to_have_attribute("value", "5")
    visit.shot("verification-running")
    finished_at = utcnow().strftime("%Y-%m-%d %H:%M:%S")
    if database_url.startswith("postgresql"):
        finished_at += "+00"
    execute(
        database_url,
        f"UPDATE verification_runs SET state = 'ok', finished_at = '{finished_at}' WHERE id = {other}",
    )
    expect(page.locator(".verified")).to_have_text(NOTHING_FOUND)
    expect(page.locator(".run")).to_contain_text("console:other")

    # The session ends while the page follows a run: the page goes to sign-in, not polling for ever.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run_once(settings.async_database_url, begin)).result()
    page.reload()
    expect(page.locator(".verification .state")).to_have_text("検証中")
    execute(database_url, "DELETE FROM console_sessions")
    expect(page).to_have_url(re.compile(r"/console/signin"))
    assert visit.outside == [] and visit.dialogs == [] and visit.violations() == []
