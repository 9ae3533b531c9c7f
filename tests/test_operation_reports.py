"""The operations record's reports (the PPC's guideline): access at night or on a day off, bulk
registry searches, My Number reveals per client — from the API and on the console's 操作記録, which
also pages and filters the record itself; on both databases, and the pages in a browser."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import chain
from platform_hub.audit.operations import canonical_parameters
from platform_hub.audit.reports import day_off
from platform_hub.kit.database import run_once
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import load_vault
from platform_hub.models import Operation, OperationOutcome
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.console import create_account, operations, signed_in
from tests.helpers import HubClient, rows
from tests.test_console_browser import Visit, change_password
from tests.test_console_browser import sign_in as sign_in_in_browser

TOKYO = ZoneInfo("Asia/Tokyo")
PERIOD = {"from": "2026-11-02", "to": "2026-11-08"}  # Monday to Sunday; 11/3 is 文化の日
PARAMETERS = '{"bulk_threshold": "100", "end": "2026-11-08", "start": "2026-11-02"}'


def city(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=TOKYO)


def seed(settings: Settings, entries: list[tuple[dt.datetime, str, str, str | None]]) -> None:
    """Entries of the operations record written as the hub writes them (digest and MAC), at the
    moments given: ``(at, client, action, subject)``."""
    key = load_vault(settings.key_file).record_key
    values = []
    for at, client, action, subject in entries:
        content = {
            "at": at.astimezone(dt.UTC),
            "client_id": client,
            "role": "unit" if client.startswith("unit") else "integrator",
            "unit_code": "011",
            "department": None,
            "clerk": None,
            "action": action,
            "subject_integrated_number": subject,
            "outcome": OperationOutcome.OK,
            "detail": None,
            "parameters": canonical_parameters({}),
        }
        (digest,) = chain.OPERATIONS.entry_digests(content, [subject])
        values.append({**content, "entry_digest": digest, "entry_mac": chain.mac(key, digest)})

    async def write(session: AsyncSession) -> None:
        await session.execute(insert(Operation), values)

    # In a thread of its own: a test driving a browser already has Playwright's event loop running.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run_once(settings.async_database_url, write)).result()


@pytest.fixture
def seeded(hub: HubClient, settings: Settings) -> None:
    """A week of the record: at night, on a holiday, on a Saturday, in working hours, in bulk, with
    My Numbers shown — and a night after the week."""
    entries = [
        (city(4, 23, 30), "yakan", "registry.read", "000000000000101"),  # Wednesday night
        (city(4, 5, 59), "yakan", "registry.search", None),  # before six
        (city(4, 6, 0), "hiruma", "registry.read", None),  # six: working hours
        (city(3, 10, 0), "shukujitsu", "registry.read", None),  # 文化の日
        (city(7, 14, 0), "doyou", "registry.search", None),  # Saturday
        (city(5, 10, 0), "hiruma", "registry.read", None),  # Thursday morning
        (city(9, 23, 0), "yakan", "registry.read", None),  # after the period
        (city(4, 2, 0), "unit011", "registry.read", None),  # a unit's night batch: by design
    ]
    entries += [(city(5, 10, i % 60), "tairyou", "registry.search", None) for i in range(60)]
    entries += [(city(5, 10, i % 60), "tairyou", "registry.read", None) for i in range(41)]
    entries += [(city(5, 11, i % 60), "hyakken", "registry.search", None) for i in range(100)]
    entries += [(city(6, 9, i), "bangou", "registry.reveal", f"00000000000010{i % 2}") for i in range(3)]
    seed(settings, entries)


def by_client(found: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in found:
        grouped.setdefault(item["client_id"], []).append(item)
    return grouped


def test_the_days_off_of_a_japanese_city() -> None:
    assert day_off(dt.date(2026, 11, 3)) == "文化の日"
    assert day_off(dt.date(2027, 1, 1)) == "元日"
    assert day_off(dt.date(2026, 12, 29)) == day_off(dt.date(2027, 1, 3)) == "年末年始"
    assert day_off(dt.date(2026, 11, 7)) == "土曜日" and day_off(dt.date(2026, 11, 8)) == "日曜日"
    assert day_off(dt.date(2026, 11, 4)) is None and day_off(dt.date(2026, 12, 28)) is None


def test_the_reports_from_the_api(seeded: None, hub: HubClient, database_url: str) -> None:
    answer = hub.http.get("/audit/operations/reports", params=PERIOD, headers=hub.admin_auditor())
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["from"] == "2026-11-02" and report["to"] == "2026-11-08" and report["bulk_threshold"] == 100
    off = by_client(report["off_hours"])
    night = sorted(off["yakan"], key=lambda item: item["hour"])
    assert [(item["why"], item["hour"], item["entries"]) for item in night] == [
        ("night", "2026-11-03T20:00:00Z", 1),  # 05:00 in the city
        ("night", "2026-11-04T14:00:00Z", 1),  # 23:00 in the city
    ]
    assert night[0]["actions"] == ["registry.search"] and night[1]["actions"] == ["registry.read"]
    assert [(i["why"], i["day_name"]) for i in off["shukujitsu"]] == [("holiday", "文化の日")]
    assert [(i["why"], i["day_name"]) for i in off["doyou"]] == [("weekend", "土曜日")]
    assert "hiruma" not in off and "tairyou" not in off and "bangou" not in off and "unit011" not in off
    assert [(b["client_id"], b["hour"], b["searches"], b["reads"]) for b in report["bulk"]] == [
        ("tairyou", "2026-11-05T01:00:00Z", 60, 41)  # 101 in the hour; hyakken's 100 are not above
    ]
    assert report["reveals"] == [{"client_id": "bangou", "reveals": 3, "persons": 2}]
    lower = hub.http.get(
        "/audit/operations/reports", params={**PERIOD, "bulk_threshold": 99}, headers=hub.admin_auditor()
    ).json()
    assert sorted(b["client_id"] for b in lower["bulk"]) == ["hyakken", "tairyou"]
    backwards = {"from": "2026-11-08", "to": "2026-11-02"}
    refused = hub.http.get("/audit/operations/reports", params=backwards, headers=hub.admin_auditor())
    assert refused.status_code == 400
    readings = operations(database_url, "audit.reports")
    assert [entry[2] for entry in readings] == ["ok", "ok", "refused"]
    assert readings[0][3] == "4 off-hours, 1 bulk, 1 revealing"
    asked = rows(database_url, "SELECT parameters FROM operations WHERE action = 'audit.reports' ORDER BY id")
    assert asked[0].parameters == PARAMETERS
    assert "/audit/operations/reports" in hub.http.get("/openapi.json").json()["paths"]


def test_the_reports_need_an_auditor(seeded: None, hub: HubClient) -> None:
    unit = hub.unit_headers(hub.register("011"))
    assert hub.http.get("/audit/operations/reports", params=PERIOD, headers=unit).status_code == 403


@pytest.fixture
def auditor(
    seeded: None,
    browser_client: httpx.Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> httpx.Client:
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    return browser_client


def test_the_operations_page_filters_and_pages(auditor: httpx.Client, database_url: str) -> None:
    home = auditor.get("/console")
    assert 'href="/console/operations"' in home.text and "操作記録" in home.text
    everything = auditor.get("/console/operations")
    assert everything.status_code == 200 and "console.signin" in everything.text
    assert "50件（続きがあります）" in everything.text
    first = auditor.get("/console/operations", params={"client": "tairyou", **PERIOD})
    assert first.status_code == 200 and first.text.count('<td class="code">tairyou</td>') == 50
    after = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "cursor=" in after and "client=tairyou" in after
    second = auditor.get(after)
    assert second.text.count('<td class="code">tairyou</td>') == 50 and "最新のページへ" in second.text
    third_url = second.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    third = auditor.get(third_url)
    assert third.text.count('<td class="code">tairyou</td>') == 1 and 'rel="next"' not in third.text
    reads = auditor.get("/console/operations", params={"client": "tairyou", "action": "registry.read"})
    assert reads.text.count("registry.read</td>") == 41
    night = auditor.get(
        "/console/operations", params={"client": "yakan", "from": "2026-11-04", "to": "2026-11-04"}
    )
    assert night.text.count('<td class="code">yakan</td>') == 2
    assert "2026-11-04 23:30:00" in night.text and "2026-11-04 05:59:00" in night.text
    refused = auditor.get("/console/operations", params={"outcome": "refused", "client": "yakan"})
    assert "該当する記録はありません" in refused.text
    csv = auditor.get("/console/operations.csv", params={"client": "tairyou", "action": "registry.read"})
    assert csv.status_code == 200 and csv.text.startswith("\ufeff") and len(csv.text.splitlines()) == 42
    assert 'href="/console/operations.csv?client=tairyou&amp;action=registry.read"' in reads.text
    bad = auditor.get("/console/operations", params={"action": "<b>"})
    assert bad.status_code == 400 and "&lt;b&gt;" in bad.text and "<b>" not in bad.text
    assert auditor.get("/console/operations.csv", params={"outcome": "bogus"}).status_code == 400
    exported = [(entry[0], entry[2]) for entry in operations(database_url, "audit.operations_csv")]
    assert exported == [("console:kansa", "ok"), ("console:kansa", "refused")]
    listed = [(entry[0], entry[2]) for entry in operations(database_url, "audit.operations")]
    assert listed[-1] == ("console:kansa", "refused") and listed.count(("console:kansa", "ok")) == 7


def test_the_reports_page(auditor: httpx.Client, database_url: str) -> None:
    shown = auditor.get("/console/operations/reports", params={**PERIOD, "bulk_threshold": "100"})
    assert shown.status_code == 200, shown.text
    off, rest = shown.text.split('id="bulk"')
    bulk, reveals = rest.split('id="reveals"')
    assert (
        "業務時間外のアクセス（4件）" in off
        and "祝日・年末年始（文化の日）" in off
        and "週末（土曜日）" in off
    )
    assert off.count("夜間") == 2 and "2026-11-04 23:00:00〜" in off and "hiruma" not in off
    assert "tairyou" in bulk and "hyakken" not in bulk and "<td>60</td><td>41</td>" in bulk
    assert "bangou" in reveals and "<td>3</td><td>2</td>" in reveals
    default = auditor.get("/console/operations/reports")  # the last seven days
    assert default.status_code == 200 and "業務時間外のアクセス" in default.text
    bad = auditor.get("/console/operations/reports", params={"from": "2026-11-08", "to": "2026-11-02"})
    assert bad.status_code == 400 and "期間の終わりが始まりより前です" in bad.text
    for threshold in ("²", "9" * 5000):  # digits to str.isdigit, not to int()
        odd = auditor.get("/console/operations/reports", params={**PERIOD, "bulk_threshold": threshold})
        assert odd.status_code == 400 and "しきい値" in odd.text
    readings = [(entry[0], entry[2]) for entry in operations(database_url, "audit.reports")]
    assert readings == [("console:kansa", "ok")] * 2 + [("console:kansa", "refused")] * 3
    asked = rows(database_url, "SELECT parameters FROM operations WHERE action = 'audit.reports' ORDER BY id")
    assert asked[0].parameters == PARAMETERS  # named as the API names them


def test_an_operator_may_not_read_the_operations(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "operator", "unyou")
    for path in ("/console/operations", "/console/operations/reports"):
        refused = browser_client.get(path)
        assert refused.status_code == 403 and "権限がありません" in refused.text


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@needs_chromium
def test_the_operations_in_the_browser(
    browser: Browser,
    hub: HubClient,
    seeded: None,
    settings: Settings,
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
    page.click("nav.pages >> text=操作記録")
    expect(page.locator("h1")).to_have_text("操作記録")
    page.fill("input[name=client]", "yakan")
    page.click("form.filters button[type=submit]")
    expect(page.locator("tbody tr")).to_have_count(3)
    visit.shot("operations")
    page.click("text=報告（時間外のアクセス・大量の検索・個人番号の表示）")
    page.fill("input[name=from]", PERIOD["from"])
    page.fill("input[name=to]", PERIOD["to"])
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.off-hours tbody tr")).to_have_count(4)
    expect(page.locator("table.bulk tbody tr")).to_have_count(1)
    expect(page.locator("table.reveals tbody")).to_contain_text("bangou")
    visit.shot("operation-reports")
    assert visit.outside == [] and visit.dialogs == [] and visit.violations() == []
