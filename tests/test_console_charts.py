"""The console's charts: SVG drawn on the server (console/charts.py), and 連携記録's transfers per day
by outcome, counted by one grouped query on the city's days, with the same numbers as a table."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter

import httpx
import pytest

from platform_hub.audit import repository, service
from platform_hub.console import charts
from platform_hub.kit.clock import city_today, city_zone
from platform_hub.kit.database import run_once
from platform_hub.kit.settings import Settings
from tests.console import Seeded, operations, signed_in
from tests.helpers import rows

BAR = re.compile(r'<rect class="bar series-(\w+)"[^>]*data-label="([^"]*)"[^>]*data-value="(\d+)"')


def bars_of(html: str) -> list[tuple[str, str, int]]:
    """(series, label, value) of every bar of the page's charts."""
    return [(key, label, int(value)) for key, label, value in BAR.findall(html)]


# --- the SVG ----------------------------------------------------------------------------------------


def test_stacked_columns_draw_a_bar_per_series_and_label_with_a_number() -> None:
    series = [
        charts.Series("provided", "提供", [2, 0, 5]),
        charts.Series("refused", "拒否", [1, 3, 0]),
    ]
    svg = str(charts.stacked_columns("c", "題", "説明", ["2026-12-01", "2026-12-02", "2026-12-03"], series))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and 'role="img"' in svg
    assert 'aria-labelledby="c-title c-desc"' in svg and '<title id="c-title">題</title>' in svg
    assert bars_of(svg) == [
        ("provided", "2026-12-01", 2),
        ("refused", "2026-12-01", 1),
        ("refused", "2026-12-02", 3),
        ("provided", "2026-12-03", 5),
    ]
    assert "style" not in svg  # the CSP allows no inline style: colours are console.css's classes
    assert ">12/1<" in svg and ">提供<" in svg  # the day under its column, the legend
    heights = [float(h) for h in re.findall(r'class="bar[^"]*"[^>]*height="([0-9.]+)"', svg)]
    assert heights[3] == pytest.approx(heights[2] * 5 / 3)  # proportional to the numbers


def test_bars_cut_a_long_label_and_escape_every_text() -> None:
    long = "<script>alert(1)</script>" + "あ" * 40
    series = [charts.Series("refused", "拒否", [4, 0]), charts.Series("violation", "違反", [1, 2])]
    svg = str(charts.bars("r", "<b>題</b>", "説明", [long, "短い"], series))
    assert "<script>" not in svg and "<b>" not in svg and "&lt;b&gt;題" in svg
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;" + "あ" * 40
    assert bars_of(svg) == [("refused", escaped, 4), ("violation", escaped, 1), ("violation", "短い", 2)]
    assert "…</text>" in svg and ">5</text>" in svg  # the total at the bar's end
    empty = str(charts.bars("e", "題", "説明", [], series[:1]))
    assert empty.startswith("<svg") and "該当なし" in empty and bars_of(empty) == []


def test_the_scale_is_whole_numbers() -> None:
    assert charts.scale_of(0) == (1, [0, 1])
    assert charts.scale_of(3) == (5, [0, 1, 2, 3, 4, 5])
    assert charts.scale_of(11) == (20, [0, 4, 8, 12, 16, 20])


# --- the counts -------------------------------------------------------------------------------------


def _entries(database_url: str) -> list[tuple[dt.datetime, str]]:
    found = rows(database_url, "SELECT requested_at, outcome FROM transfer_records ORDER BY id")
    moments = [r.requested_at for r in found]
    parsed = [m if isinstance(m, dt.datetime) else dt.datetime.fromisoformat(m) for m in moments]
    return [
        (m if m.tzinfo else m.replace(tzinfo=dt.UTC), r.outcome) for m, r in zip(parsed, found, strict=True)
    ]


def test_the_counts_are_the_entries_of_each_city_day(
    seeded: Seeded,
    database_url: str,
) -> None:
    entries = _entries(database_url)
    assert len(entries) == 2
    url = Settings(database_url=database_url).async_database_url
    today = city_today()
    first = today - dt.timedelta(days=2)
    counts = asyncio.run(
        run_once(url, lambda s: service.transfers_by_day(s, repository.TransferQuery(), first, today))
    )
    expected = Counter((m.astimezone(city_zone()).date(), outcome) for m, outcome in entries)
    assert counts.days == [first, first + dt.timedelta(days=1), today]
    assert counts.counts == dict(expected) and counts.total() == 2
    refused = asyncio.run(
        run_once(
            url,
            lambda s: service.transfers_by_day(s, repository.TransferQuery(outcome="refused"), first, today),
        )
    )
    assert refused.total() == 1 and {outcome for _, outcome in refused.counts} == {"refused"}

    # A stretch runs from its boundary (included) to the next (excluded): the later entry starts one.
    older, newer = sorted(m for m, _ in entries)
    boundaries = [older - dt.timedelta(seconds=1), newer, newer + dt.timedelta(seconds=1)]
    if newer > older:
        split = asyncio.run(
            run_once(url, lambda s: repository.counts_by_stretch(s, repository.TransferQuery(), boundaries))
        )
        assert sorted((r.stretch, r.entries) for r in split) == [(0, 1), (1, 1)]


def test_the_transfers_page_charts_the_days_by_outcome(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    entries = _entries(database_url)
    expected = Counter((m.astimezone(city_zone()).date().isoformat(), outcome) for m, outcome in entries)

    page = browser_client.get("/console/transfers")  # no period: the last 30 days
    assert page.status_code == 200 and page.text.count("<svg") == 1
    assert sorted((label, key, n) for key, label, n in bars_of(page.text)) == sorted(
        (day, outcome, n) for (day, outcome), n in expected.items()
    )
    table = page.text[page.text.index("表で見る") :]
    assert table.count('<th scope="row">') == 30
    today = city_today().isoformat()
    assert f"（{(city_today() - dt.timedelta(days=29)).isoformat()}〜{today}、計2件）" in page.text
    assert "style=" not in page.text

    refused = browser_client.get("/console/transfers", params={"outcome": "refused"})
    assert [key for key, _, _ in bars_of(refused.text)] == ["refused"]

    january = browser_client.get("/console/transfers", params={"from": "2026-01-01", "to": "2026-01-31"})
    assert bars_of(january.text) == [] and "（2026-01-01〜2026-01-31、計0件）" in january.text
    assert january.text.count('<th scope="row">') == 31

    long = browser_client.get("/console/transfers", params={"from": "2020-01-01"})
    assert "最後の93日を示します" in long.text and long.text.count('<th scope="row">') == 93
    assert sum(n for _, _, n in bars_of(long.text)) == 2

    # The chart is part of the page's reading: one entry per page, as before.
    assert len(operations(database_url, "audit.transfers")) == 4
