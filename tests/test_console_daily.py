"""The console's 日次報告 over HTTP: a day's transfers by interface and outcome, the refusals by 事務
and reason, the failed sign-ins and night work of the operations record, and the dead letters — for
yesterday unless another day is chosen — as a page and as CSV (UTF-8 with BOM, codes as text);
for the My Number office, the auditors and the administrator only, each reading recorded."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from platform_hub.kit.clock import city_today, city_zone
from platform_hub.kit.settings import Settings
from platform_hub.models import Operation
from tests.console import Seeded, create_account, operations, sign_in, signed_in
from tests.helpers import YAMADA, HubClient, ido_notification, rows, wait_until


def sections(text: str) -> dict[str, list[list[str]]]:
    """The CSV's sections by their names: each its header and rows."""
    found: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in csv.reader(io.StringIO(text)):
        if not line:
            current = None
        elif current is None:
            current = found.setdefault(line[0], [])
        else:
            current.append(line)
    return found


def test_a_days_transfers_refusals_and_failed_sign_ins(
    hub: HubClient,
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with httpx.Client(base_url=str(hub.http.base_url)) as other:  # someone guessing a password
        office = create_account(settings, monkeypatch, "bango", role="mynumber_office")
        assert sign_in(other, office, password="wrong").status_code == 401
    assert sign_in(browser_client, office).status_code == 303
    today = city_today().isoformat()
    answer = browser_client.get(f"/console/daily?day={today}")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert f"日次報告（{today}）" in html and "計 2件" in html
    assert '<td class="number outcome-provided">1</td>' in html
    assert '<td class="number outcome-refused">1</td>' in html
    assert "JDT-001" in html and "has no rule" in html  # the refusal, by 事務 and the ordinance's reason
    assert "wrong login, password or code (1 in a row)" in html and "console:bango" in html
    assert f'href="/console/daily.csv?day={today}"' in html

    exported = browser_client.get(f"/console/daily.csv?day={today}")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"] == f'attachment; filename="daily-{today}.csv"'
    assert exported.content.startswith(codecs.BOM_UTF8)
    text = exported.content.decode("utf-8-sig")
    found = sections(text)
    header, *lines = found["連携の件数（インターフェイス・結果別）"]
    assert header == [
        "インターフェイスID",
        "提供（照会への回答）",
        "提供（通知・一括）",
        "拒否",
        "失敗",
        "計",
    ]
    assert ['="IF_ZEI_0001"', "1", "0", "1", "0", "2"] in lines
    (refusal,) = found["拒否（事務・インターフェイス・理由別）"][1:]
    assert refusal[:2] == ['="JDT-001"', '="IF_ZEI_0001"'] and refusal[3] == "1"
    assert any(line[1] == '="console:bango"' for line in found["サインインの失敗"][1:])
    assert [entry[2] for entry in operations(database_url, "audit.daily")] == ["ok"]
    assert [entry[2] for entry in operations(database_url, "audit.daily_csv")] == ["ok"]
    (asked,) = rows(database_url, "SELECT parameters FROM operations WHERE action = 'audit.daily'")
    assert asked.parameters == f'{{"day": "{today}"}}'


def test_yesterday_unless_another_day_is_chosen(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = signed_in(browser_client, settings, monkeypatch, "auditor", "bango")
    yesterday = (city_today() - dt.timedelta(days=1)).isoformat()
    answer = http.get("/console/daily")
    assert answer.status_code == 200 and f"日次報告（{yesterday}）" in answer.text
    assert "この日の連携はありません" in answer.text and "この日の配送不能はありません" in answer.text
    for bad in ("2026-13-01", "yesterday", "0001-01-01"):
        refused = http.get(f"/console/daily?day={bad}")
        assert refused.status_code == 400 and "使えません" in refused.text
        assert http.get(f"/console/daily.csv?day={bad}").status_code == 400


def test_night_work_by_people_and_staff_but_not_units(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day = dt.date(2026, 11, 30)
    city = city_zone()
    entries = [  # (client, role, city time)
        ("console:kansa", "auditor", dt.datetime(2026, 11, 30, 23, 30, tzinfo=city)),
        ("console:kansa", "auditor", dt.datetime(2026, 11, 30, 3, 0, tzinfo=city)),
        ("console:kansa", "auditor", dt.datetime(2026, 11, 30, 12, 0, tzinfo=city)),  # by day
        ("unit011", "unit", dt.datetime(2026, 11, 30, 2, 0, tzinfo=city)),  # a unit's, at night by design
        ("console:kansa", "auditor", dt.datetime(2026, 12, 1, 1, 0, tzinfo=city)),  # the next day's night
    ]
    engine = sa.create_engine(database_url)
    with Session(engine) as session, session.begin():
        for client_id, role, at in entries:
            session.add(
                Operation(
                    at=at,
                    client_id=client_id,
                    role=role,
                    action="audit.transfers",
                    outcome="ok",
                    parameters="{}",
                    entry_digest="0" * 64,
                    entry_mac="0" * 64,
                )
            )
    engine.dispose()
    http = signed_in(browser_client, settings, monkeypatch, "admin", "bango")
    found = sections(http.get(f"/console/daily.csv?day={day.isoformat()}").content.decode("utf-8-sig"))
    night = found["夜間の操作（22時〜6時）"][1:]
    assert night == [
        ['="console:kansa"', "auditor", "audit.transfers", "2", "2026-11-30 03:00:00", "2026-11-30 23:30:00"]
    ]
    page = http.get(f"/console/daily?day={day.isoformat()}").text
    assert "unit011" not in page and "console:kansa" in page


def test_dead_letters_of_the_day(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub.register("002", "http://127.0.0.1:9")  # a subscriber that is down
    juki = hub.unit_headers(hub.register("001"))
    hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
    assert hub.send(ido_notification(), juki).status_code == 200
    wait_until(lambda: rows(database_url, "SELECT id FROM transfer_records"), timeout=20)
    http = signed_in(browser_client, settings, monkeypatch, "mynumber_office", "bango")
    found = sections(
        http.get("/console/daily.csv?day=" + city_today().isoformat()).content.decode("utf-8-sig")
    )
    (dead,) = found["配送不能（デッドレター）"][1:]
    assert dead[2:5] == ['="IF_JUK_0001"', '="002"', '="001"'] and dead[5].startswith("dead letter after 5")
    counts = found["連携の件数（インターフェイス・結果別）"][1:]
    assert ['="IF_JUK_0001"', "0", "0", "0", "1", "1"] in counts


@pytest.mark.parametrize("role", ["operator"])
def test_operators_may_not_open_it(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
) -> None:
    http = signed_in(browser_client, settings, monkeypatch, role, "bango")
    assert 'href="/console/daily"' not in http.get("/console").text
    for url in ("/console/daily", "/console/daily.csv"):
        refused = http.get(url)
        assert refused.status_code == 403 and "日次報告を開く権限がありません" in refused.text
    assert operations(database_url, "audit.daily") == []
