"""The console's 条例適合性 page: a period's transfers re-checked against the ordinance as
``GET /audit/compliance`` re-checks them (``audit.service.compliance``) — the totals, the refusals by
ground with a chart, the violations (the 番号法's own table's apart), the flows no rule covers — and
two ordinance versions side by side, with the rules added, removed and changed between them
(``ordinance.diff``).

The reading is in the operations record as the API's is, ``audit.compliance``, by the signed-in person.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from platform_hub.audit import service
from platform_hub.console import charts
from platform_hub.console.pages import PREFIX, day_of, page
from platform_hub.console.records import OUTCOMES
from platform_hub.console.signing import SignedIn, may_open
from platform_hub.kit.clock import city_today
from platform_hub.kit.database import unit_of_work
from platform_hub.models import RuleKind
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.diff import VersionDiff, diff
from platform_hub.ordinance.schemas import OrdinanceOut

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Checking = Annotated[SignedIn, may_open("compliance")]
MOST_SHOWN = 200  # violations listed on the page; the API (and its count here) has them all

RULE_FIELDS = {  # a rule's fields as the page names them
    "code": "番号",
    "kind": "種類",
    "receiving_organ": "受け取る機関",
    "purpose": "事務",
    "category": "情報の種別",
    "holding_organ": "保有する機関",
    "holding_unit": "保有するユニット",
    "article": "条項",
    "text": "内容",
}
KINDS = {kind.value: kind.ja for kind in RuleKind}
SERIES = {"refused": "拒否（記録）", "violation": "再確認での違反"}


DEFAULT_DAYS = 30


def recent_days(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last ``DEFAULT_DAYS`` days, today's included: what the page re-checks unless asked (as
    連携記録's chart shows them; last month would show nothing early in a month, or to a new city)."""
    return today - dt.timedelta(days=DEFAULT_DAYS - 1), today


@router.get("/compliance")
async def compliance(request: Request, person: Checking) -> Response:
    asked = {name: request.query_params.get(name, "").strip() for name in ("from", "to", "a", "b")}
    default_start, default_end = recent_days(city_today())
    start = day_of(asked["from"]) if asked["from"] else default_start
    end = day_of(asked["to"]) if asked["to"] else default_end
    problems = [
        f"{label}「{asked[name]}」は日付（YYYY-MM-DD）ではありません"
        for name, label, day in (("from", "期間（から）", start), ("to", "期間（まで）", end))
        if day is None
    ]
    if start is not None and end is not None and end < start:
        problems.append("期間の終わりが始まりより前です")
    context: dict[str, Any] = {"asked": asked, "problems": problems, "start": start, "end": end}
    if problems:  # refused, as the API refuses them (E1002), and recorded so
        await person.refuse("audit.compliance", "、".join(problems), 400)
        return page("compliance.html", person.context(**context, summary=None), status_code=400)
    assert start is not None and end is not None
    async with unit_of_work(person.hub.sessions) as session:
        summary = await service.compliance_summary(session, person.hub.catalog, start, end)
        versions = await ordinance.all_versions(session)
        listed = await ordinance.versions(session)
        chosen = _chosen(versions, asked["a"], asked["b"])
        report = summary.report
        await person.record(
            session,
            "audit.compliance",
            detail=f"{report.checked} checked, {len(report.violations)} violations",
            parameters={
                "start": start.isoformat(),
                "end": end.isoformat(),
                **({"compare": f"{chosen.a}..{chosen.b}"} if chosen else {}),
            },
        )
    context |= {
        "summary": summary,
        "chart": _chart(summary, start, end),
        "shown": summary.ordinance_violations[:MOST_SHOWN],
        "most_shown": MOST_SHOWN,
        "versions": listed,
        "diff": chosen,
        "rule_fields": RULE_FIELDS,
        "kinds": KINDS,
        "outcome_words": OUTCOMES,
    }
    return page("compliance.html", person.context(**context))


def _chosen(versions: list[OrdinanceOut], a: str, b: str) -> VersionDiff | None:
    """The two versions to compare: those asked for, else the two newest (None with fewer than two)."""
    named = {version.version: version for version in versions}
    if len(versions) < 2:
        return None
    older = named.get(a) or versions[-2]
    newer = named.get(b) or versions[-1]
    return diff(older, newer)


def _chart(summary: service.ComplianceSummary, start: dt.date, end: dt.date) -> dict[str, Any]:
    grounds = summary.grounds()
    series = [
        charts.Series("refused", SERIES["refused"], [summary.refused.get(g, 0) for g in grounds]),
        charts.Series("violation", SERIES["violation"], [summary.violated.get(g, 0) for g in grounds]),
    ]
    description = (
        f"{start}〜{end}に拒否した連携と、再確認で条例に合わなかった連携の件数を、"
        "根拠の条文ごとに示す横棒グラフ"
    )
    svg = charts.bars("grounds-chart", "根拠別の拒否と違反", description, grounds, series)
    rows = [
        {"ground": g, "refused": summary.refused.get(g, 0), "violated": summary.violated.get(g, 0)}
        for g in grounds
    ]
    return {"svg": svg, "rows": rows, "series": SERIES}
