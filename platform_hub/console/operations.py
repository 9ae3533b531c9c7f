"""The console's 操作記録: the operations record (who did what, to whom, when, with what outcome),
filtered and paged as ``GET /audit/operations`` pages it, and the reports the PPC's guideline asks
for over a period (``GET /audit/operations/reports``): access outside working hours, bulk searches of
the registry, My Number reveals per client.

Each reading is in the operations record under the API's action (``audit.operations``,
``audit.operations_csv``, ``audit.reports``), by the signed-in person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import export, reports, repository, service
from platform_hub.audit import operations as operations_record
from platform_hub.audit.schemas import OperationSearch
from platform_hub.console.pages import PREFIX, given_filters, page, query_url, unmasked
from platform_hub.console.records import position_of
from platform_hub.console.signing import SignedIn, may_open
from platform_hub.kit.clock import city_today
from platform_hub.kit.database import unit_of_work
from platform_hub.models import OperationOutcome

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50
Auditing = Annotated[SignedIn, may_open("operations")]
OUTCOMES = {outcome.value: outcome.ja for outcome in OperationOutcome}
_FIELDS = {"client": "client_id", "action": "action", "outcome": "outcome", "from": "from", "to": "to"}
_LABELS = {
    "client": "操作者",
    "action": "操作",
    "outcome": "結果",
    "from": "期間（から）",
    "to": "期間（まで）",
}
WHY = {"night": "夜間", "weekend": "週末", "holiday": "祝日・年末年始"}


@dataclass(frozen=True)
class Filters:
    """The page's filters as the browser sent them, checked as the API checks its own."""

    given: dict[str, str]
    problems: list[str]
    search: OperationSearch | None

    @classmethod
    def of(cls, asked: Mapping[str, str]) -> Filters:
        given, problems = given_filters(asked, _FIELDS, _LABELS)
        for name, value in unmasked(given).items():
            try:
                OperationSearch.model_validate({_FIELDS[name]: value})
            except ValidationError:
                problems.append(f"{_LABELS[name]}「{value}」は使えません")
        if problems:
            return cls(given, problems, None)
        search = OperationSearch.model_validate({_FIELDS[name]: value for name, value in given.items()})
        return cls(given, [], search)

    def url(self, path: str, **more: str) -> str:
        return query_url(path, {**self.given, **more})


@router.get("/operations")
async def operations(request: Request, person: Auditing) -> Response:
    """The record, newest first, a page at a time (the API's keyset paging, its indexed queries)."""
    filters = Filters.of(request.query_params)
    cursor = request.query_params.get("cursor")
    context: dict[str, Any] = {
        "filters": filters.given,
        "problems": filters.problems,
        "outcomes": OUTCOMES,
        "entries": [],
        "next_url": None,
        "first_url": filters.url(f"{PREFIX}/operations") if cursor else None,
        "reports_url": _reports_url(filters.given),
        "csv_url": filters.url(f"{PREFIX}/operations.csv"),
    }
    if filters.search is None:  # refused, as the API refuses a bad filter (E1002), and recorded so
        await person.refuse("audit.operations", "、".join(filters.problems), 400)
        return page("operations.html", person.context(**context), status_code=400)
    query = operations_record.operation_query(filters.search)
    async with unit_of_work(person.hub.sessions) as session:
        entries = await service.operation_page(session, query, position_of(cursor), PAGE_SIZE + 1)
        await person.record(session, "audit.operations", parameters=filters.search.parameters)
    if len(entries) > PAGE_SIZE:
        last = entries[PAGE_SIZE - 1]
        after = repository.Position(last.at, last.id).token()
        context["next_url"] = filters.url(f"{PREFIX}/operations", cursor=after)
    context["entries"] = entries[:PAGE_SIZE]
    return page("operations.html", person.context(**context))


@router.get("/operations.csv")
async def operations_csv(request: Request, person: Auditing) -> Response:
    """The same entries as the auditors' CSV (``/audit/operations.csv``), authorised by the session."""
    filters = Filters.of(request.query_params)
    if filters.search is None:
        raise await person.refuse("audit.operations_csv", "、".join(filters.problems), 400)
    query = operations_record.operation_query(filters.search)
    async with unit_of_work(person.hub.sessions) as session:
        await person.record(session, "audit.operations_csv", parameters=filters.search.parameters)

    async def entries(reading: AsyncSession, after: repository.Position | None) -> Sequence[Any]:
        return await service.operation_page(reading, query, after, 1000)

    return StreamingResponse(
        export.csv_text(person.hub.sessions, "operations", entries, "at"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="operations.csv"'},
    )


def _reports_url(given: Mapping[str, str]) -> str:
    period = {name: given[name] for name in ("from", "to") if name in given}
    return query_url(f"{PREFIX}/operations/reports", period)


@router.get("/operations/reports")
async def operation_reports(request: Request, person: Auditing) -> Response:
    """時間外のアクセス, 大量の検索・閲覧, 個人番号の表示 over a period (the last 7 days unless asked)."""
    asked = request.query_params
    today = city_today()
    given = {
        "from": asked.get("from", "").strip() or (today - dt.timedelta(days=6)).isoformat(),
        "to": asked.get("to", "").strip() or today.isoformat(),
        "bulk_threshold": asked.get("bulk_threshold", "").strip() or str(reports.BULK_THRESHOLD),
    }
    problems = _period_problems(given)
    context: dict[str, Any] = {"given": given, "problems": problems, "report": None, "why": WHY}
    if problems:
        await person.refuse("audit.reports", "、".join(problems), 400)
        return page("operation_reports.html", person.context(**context), status_code=400)
    start, end = dt.date.fromisoformat(given["from"]), dt.date.fromisoformat(given["to"])
    threshold = int(given["bulk_threshold"])
    async with unit_of_work(person.hub.sessions) as session:
        found = await reports.operation_reports(session, start, end, bulk_threshold=threshold)
        await person.record(
            session,
            "audit.reports",
            detail=reports.summary(found),
            parameters={"start": start.isoformat(), "end": end.isoformat(), "bulk_threshold": threshold},
        )
    context["report"] = found
    return page("operation_reports.html", person.context(**context))


def _period_problems(given: Mapping[str, str]) -> list[str]:
    problems = []
    days: dict[str, dt.date] = {}
    for name in ("from", "to"):
        try:  # a day as the API's filters take it (within the days the record may hold)
            OperationSearch.model_validate({name: given[name]})
            days[name] = dt.date.fromisoformat(given[name])
        except (ValidationError, ValueError):
            problems.append(f"{_LABELS[name]}「{given[name]}」は使えません")
    if len(days) == 2 and days["to"] < days["from"]:
        problems.append("期間の終わりが始まりより前です")
    threshold = given["bulk_threshold"]
    if (
        not (threshold.isascii() and threshold.isdigit() and len(threshold) <= 6)
        or not 1 <= int(threshold) <= 100_000
    ):
        problems.append(f"しきい値「{threshold}」は使えません（1〜100000）")
    return problems
