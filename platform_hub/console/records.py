"""The console's record pages: 連携記録 (the transfer record, filtered and paged as ``/audit/transfers``
pages it, its CSV and its Excel workbook, and a chart of it by day) and やりとり履歴 (a person found by
氏名 and 生年月日 as the My Number office finds them, and what the record holds about them, as
``/audit/persons/{person}`` answers it).

Each reading is in the operations record under the same action as the API's (``audit.transfers``,
``audit.transfers_csv``, ``audit.transfers_xlsx``, ``registry.search``, ``audit.person``), by the
signed-in person.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import repository as addressees_repository
from platform_hub.addressees import views
from platform_hub.addressees.access import Caller
from platform_hub.audit import export, repository, service
from platform_hub.console import charts
from platform_hub.console.pages import PREFIX, day_of, given_filters, page, query_url, unmasked
from platform_hub.console.signing import CsrfField, Refused, SignedIn, check_csrf, may_open
from platform_hub.kit.clock import city_today
from platform_hub.kit.database import unit_of_work
from platform_hub.models import TransferOutcome, TransferPattern
from platform_hub.ordinance import service as ordinance
from platform_hub.protocol.registry import PERSON_REFERENCE_PATTERN, Candidate, SearchRequest

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50
CHART_DAYS = 30  # the chart's period when the filters name none
CHART_MOST_DAYS = 93  # a longer period is charted by its last days (a column each must stay readable)
Auditing = Annotated[SignedIn, may_open("transfers")]
Disclosing = Annotated[SignedIn, may_open("persons")]

# What each filter may hold: the API's patterns (web/audit.py), checked before the database sees them.
_PATTERNS = {
    "unit": re.compile(r"[0-9A-Z]{3}"),
    "interface": re.compile(r"IF_[A-Z]{3}_[0-9]{4}|ATENA_[A-Z]{1,10}|NWS_[A-Z]{1,10}"),
    "purpose": re.compile(r"[0-9A-Z][0-9A-Z\-]{0,15}"),
    "integrated_number": re.compile(PERSON_REFERENCE_PATTERN),
}
_FILTER_NAMES = ("unit", "interface", "purpose", "outcome", "from", "to", "integrated_number")
OUTCOMES = {
    TransferOutcome.PROVIDED.value: "提供（照会への回答）",
    TransferOutcome.DELIVERED.value: "提供（通知・一括）",
    TransferOutcome.REFUSED.value: "拒否",
    TransferOutcome.FAILED.value: "失敗",
}
PATTERNS = {kind.value: kind.ja for kind in TransferPattern}


@dataclass(frozen=True)
class Filters:
    """The 連携記録 page's filters as the browser sent them, each checked."""

    given: dict[str, str]
    problems: list[str]

    @classmethod
    def of(cls, asked: Mapping[str, str]) -> Filters:
        given, problems = given_filters(asked, _FILTER_NAMES, _LABELS)
        problems += [
            f"{_LABELS[name]}「{value}」は使えません"
            for name, value in unmasked(given).items()
            if not _valid(name, value)
        ]
        return cls(given, problems)

    def query(self) -> repository.TransferQuery:
        start, end = day_of(self.given.get("from")), day_of(self.given.get("to"))
        return repository.TransferQuery(
            person=self.given.get("integrated_number"),
            unit=self.given.get("unit"),
            interface=self.given.get("interface"),
            purpose=self.given.get("purpose"),
            outcome=self.given.get("outcome"),
            start=ordinance.day_start(start) if start else None,
            end=ordinance.day_start(end + dt.timedelta(days=1)) if end else None,
        )

    def parameters(self) -> dict[str, str]:
        """As the API's access log names them (``audit.transfers``)."""
        names = {"from": "start", "to": "end"}
        return {names.get(name, name): value for name, value in self.given.items()}

    def chart_days(self) -> tuple[dt.date, dt.date, bool]:
        """The days the chart counts: the period filtered (to today when it names no end), or the
        last ``CHART_DAYS``; at most ``CHART_MOST_DAYS`` of them (True: the period was cut)."""
        start, end = day_of(self.given.get("from")), day_of(self.given.get("to"))
        last = end or max(city_today(), start or dt.date.min)
        first = start or last - dt.timedelta(days=CHART_DAYS - 1)
        if (last - first).days >= CHART_MOST_DAYS:
            return last - dt.timedelta(days=CHART_MOST_DAYS - 1), last, True
        return first, last, False

    def url(self, path: str, **more: str) -> str:
        return query_url(path, {**self.given, **more})


_LABELS = {
    "unit": "ユニット",
    "interface": "インターフェイスID",
    "purpose": "事務",
    "outcome": "結果",
    "from": "期間（から）",
    "to": "期間（まで）",
    "integrated_number": "団体内統合宛名番号",
}


def _valid(name: str, value: str) -> bool:
    if name in _PATTERNS:
        return _PATTERNS[name].fullmatch(value) is not None
    if name == "outcome":
        return value in OUTCOMES
    return day_of(value) is not None


def position_of(cursor: str | None) -> repository.Position | None:
    try:
        return repository.Position.parse(cursor) if cursor else None
    except (ValueError, OverflowError):
        return None


@router.get("/transfers")
async def transfers(request: Request, person: Auditing) -> Response:
    """The record, newest first, a page at a time (the API's keyset paging, its indexed queries)."""
    filters = Filters.of(request.query_params)
    cursor = request.query_params.get("cursor")
    context: dict[str, Any] = {
        "filters": filters.given,
        "problems": filters.problems,
        "outcomes": OUTCOMES,
        "patterns": PATTERNS,
        "purposes": person.hub.catalog.purposes,
        "entries": [],
        "next_url": None,
        "first_url": filters.url(f"{PREFIX}/transfers") if cursor else None,
        "csv_url": filters.url(f"{PREFIX}/transfers.csv"),
        "xlsx_url": filters.url(f"{PREFIX}/transfers.xlsx"),
    }
    if filters.problems:  # refused, as the API refuses a bad filter (E1002), and recorded so
        await person.refuse("audit.transfers", "、".join(filters.problems), 400)
        return page("transfers.html", person.context(**context), status_code=400)
    first, last, cut = filters.chart_days()
    async with unit_of_work(person.hub.sessions) as session:
        entries = await service.transfer_page(session, filters.query(), position_of(cursor), PAGE_SIZE + 1)
        counts = await service.transfers_by_day(session, filters.query(), first, last)
        await person.record(
            session,
            "audit.transfers",
            subject=filters.given.get("integrated_number"),
            parameters=filters.parameters(),
        )
    if len(entries) > PAGE_SIZE:
        after = repository.Position.of(entries[PAGE_SIZE - 1]).token()
        context["next_url"] = filters.url(f"{PREFIX}/transfers", cursor=after)
    context["entries"] = entries[:PAGE_SIZE]
    context["chart"] = day_chart(counts, cut)
    return page("transfers.html", person.context(**context))


def day_chart(counts: service.DailyCounts, cut: bool) -> dict[str, Any]:
    """The chart of transfers per day by outcome, and the same numbers as a table's rows."""
    days = [day.isoformat() for day in counts.days]
    series = [
        charts.Series(outcome, word, [counts.of(day, outcome) for day in counts.days])
        for outcome, word in OUTCOMES.items()
    ]
    period = f"{days[0]}〜{days[-1]}" if days else ""
    description = f"{period}の連携記録の件数を日ごとに結果別に積み上げた棒グラフ。計{counts.total()}件"
    svg = charts.stacked_columns("day-chart", "日ごとの連携件数（結果別）", description, days, series)
    rows = [
        {"day": day, "counts": [counts.of(day, o) for o in OUTCOMES], "total": counts.total(day)}
        for day in counts.days
    ]
    return {"period": period, "svg": svg, "rows": rows, "cut": cut, "total": counts.total()}


@router.get("/transfers.csv")
async def transfers_csv(request: Request, person: Auditing) -> Response:
    """The same entries as the auditors' CSV (``/audit/transfers.csv``), authorised by the session."""
    return await _download(request, person, "csv")


@router.get("/transfers.xlsx")
async def transfers_xlsx(request: Request, person: Auditing) -> Response:
    """The same entries as an Excel workbook (``/audit/transfers.xlsx``), authorised by the session."""
    return await _download(request, person, "xlsx")


async def _download(request: Request, person: SignedIn, kind: Literal["csv", "xlsx"]) -> Response:
    action = f"audit.transfers_{kind}"
    filters = Filters.of(request.query_params)
    if filters.problems:
        raise await person.refuse(action, "、".join(filters.problems), 400)
    query = filters.query()
    async with unit_of_work(person.hub.sessions) as session:
        await person.record(
            session, action, subject=filters.given.get("integrated_number"), parameters=filters.parameters()
        )

    async def entries(reading: AsyncSession, after: repository.Position | None) -> Sequence[Any]:
        return await service.transfer_page(reading, query, after, 1000)

    writer = export.csv_text if kind == "csv" else export.xlsx_chunks
    return StreamingResponse(
        writer(person.hub.sessions, "transfers", entries, "requested_at"),
        media_type="text/csv; charset=utf-8" if kind == "csv" else export.XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="transfers.{kind}"'},
    )


# --- やりとり履歴 --------------------------------------------------------------------------------

_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff\s\u3000]+")


@router.get("/persons")
async def persons(person: Disclosing) -> Response:
    return page("persons.html", person.context(asked={}, candidates=None, problem=None))


@router.post("/persons")
async def search_persons(
    person: Disclosing,
    csrf: CsrfField = None,
    name: Annotated[str, Form(max_length=100)] = "",
    birth_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """By 氏名 (or its 読み, in kana) and 生年月日, as the My Number office searches the registry: a
    POST, so that neither is written to an access log as part of a URL."""
    await check_csrf(person, csrf, "registry.search")
    asked = {"name": name, "birth_date": birth_date}
    by = "name_kana" if _KANA.fullmatch(name.strip() or "x") else "name"
    try:
        request = SearchRequest.model_validate({by: name, "birth_date": birth_date or None, "match": "exact"})
    except ValidationError:
        problem = "氏名（または読み）と生年月日（YYYY-MM-DD）を入れてください"
        return page(
            "persons.html", person.context(asked=asked, candidates=None, problem=problem), status_code=400
        )
    candidates = await _search(person, request, by)
    return page("persons.html", person.context(asked=asked, candidates=candidates, problem=None))


async def _search(person: SignedIn, request: SearchRequest, by: str) -> list[Candidate]:
    caller = Caller(client_id=person.actor.client_id, unit=None)  # the office: no 事務, no provision
    async with unit_of_work(person.hub.sessions) as session:
        found, _ = await views.search(session, person.hub.require_vault(), request, caller)
        await person.record(
            session,
            "registry.search",
            detail=f"{len(found)} candidates",
            parameters={"by": f"{by},birth_date", "match": "exact"},
        )
    return found


@router.get("/persons/{reference}")
async def history(reference: str, person: Disclosing) -> Response:
    """The person's やりとり履歴, headed by their name, 生年月日 and 団体内統合宛名番号 (never their
    個人番号): the answer to a 開示請求, to print."""
    if not re.fullmatch(PERSON_REFERENCE_PATTERN, reference):
        raise Refused("その番号の人は見つかりません", 404)
    async with unit_of_work(person.hub.sessions) as session:
        known = await addressees_repository.by_reference(session, reference)
        if known is None:
            raise Refused("その番号の人は見つかりません", 404)
        # The records name a person as they were named then: by the person id, or the number since.
        names = sorted({reference, known.reference, f"P{known.id}"})
        disclosure = await service.disclosure(session, person.hub.catalog, reference, names)
        await person.record(session, "audit.person", subject=known.reference)
        current = views.current_version(known)
    context = {
        "subject": {
            "name": current.name,
            "name_kana": current.name_kana,
            "birth_date": current.birth_date,
            "integrated_number": known.integrated_number,
            "person_id": f"P{known.id}",
        },
        "transfers": disclosure.transfers,
        "outcomes": OUTCOMES,
        "printed_at": dt.datetime.now(dt.UTC),
    }
    return page("history.html", person.context(**context))
