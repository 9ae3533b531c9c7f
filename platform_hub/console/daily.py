"""The console's 日次報告: one day's transfers by interface and outcome, refusals, the operations
record's anomalies and the dead letters (``audit.daily``), yesterday's unless another day is chosen —
as a page and as CSV. Each reading is in the operations record (``audit.daily``, ``audit.daily_csv``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from platform_hub.audit import daily
from platform_hub.console.pages import PREFIX, day_of, page
from platform_hub.console.signing import SignedIn, may_open
from platform_hub.kit.database import unit_of_work
from platform_hub.models import OperationOutcome

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Reporting = Annotated[SignedIn, may_open("daily")]


def _day(asked: str | None) -> dt.date | None:
    """The day asked for (``YYYY-MM-DD``), yesterday when none; ``None`` when it is no day."""
    return day_of(asked) if asked else daily.yesterday()


async def _report(person: SignedIn, request: Request, action: str) -> daily.DailyReport:
    asked = request.query_params.get("day", "").strip()
    day = _day(asked)
    if day is None:
        raise await person.refuse(action, f"日付「{asked}」は使えません（YYYY-MM-DD）", 400)
    max_age = dt.timedelta(seconds=person.hub.settings.delivery_max_age_seconds)
    async with unit_of_work(person.hub.sessions) as session:
        found = await daily.report(session, day, max_delivery_age=max_age)
        await person.record(session, action, parameters={"day": day.isoformat()})
    return found


@router.get("/daily")
async def daily_page(request: Request, person: Reporting) -> Response:
    report = await _report(person, request, "audit.daily")
    context: dict[str, Any] = {
        "report": report,
        "outcomes": daily.OUTCOMES,
        "outcome_names": daily.OUTCOME_NAMES,
        "operation_outcomes": {kind.value: kind.ja for kind in OperationOutcome},
        "previous": (report.day - dt.timedelta(days=1)).isoformat(),
        "next": (report.day + dt.timedelta(days=1)).isoformat(),
    }
    return page("daily.html", person.context(**context))


@router.get("/daily.csv")
async def daily_csv(request: Request, person: Reporting) -> Response:
    report = await _report(person, request, "audit.daily_csv")
    name = f"daily-{report.day.isoformat()}.csv"
    return Response(
        daily.csv_text(report).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
