"""The daily report (日次報告) for the My Number office and the auditors: what one day in the city
brought — the transfers by interface and outcome, the refusals by 事務, interface and the reason the
ordinance gave, the anomalies of the operations record (failed sign-ins; people and staff clients at
work at night) and the dead letters (notifications given up as failed) — read from the two records
alone, by their indexes on time. As a page, and as CSV (UTF-8 with BOM, as ``export`` writes it)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import repository
from platform_hub.audit.anomalies import NIGHT_FROM, NIGHT_UNTIL, SIGN_IN_ACTIONS, UNIT_ROLE
from platform_hub.audit.export import cell
from platform_hub.kit.clock import city_today
from platform_hub.models import Operation, OperationOutcome, TransferOutcome, TransferRecord
from platform_hub.ordinance.service import day_start

DEAD_LETTER = "dead letter after"  # how a dead letter's entry names why it failed (linkage.deliveries)
LISTED = 1000  # failed sign-ins listed one by one; more are counted
OUTCOMES = (
    TransferOutcome.PROVIDED,
    TransferOutcome.DELIVERED,
    TransferOutcome.REFUSED,
    TransferOutcome.FAILED,
)
# An answer and a delivery are both a 提供: the report tells them apart, as the console's 連携記録 does.
OUTCOME_NAMES = {
    TransferOutcome.PROVIDED: "提供（照会への回答）",
    TransferOutcome.DELIVERED: "提供（通知・一括）",
    TransferOutcome.REFUSED: "拒否",
    TransferOutcome.FAILED: "失敗",
}


@dataclass(frozen=True)
class InterfaceLine:
    """One interface's transfers of the day, by outcome."""

    interface_id: str
    counts: dict[TransferOutcome, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class RefusalLine:
    purpose_code: str
    interface_id: str
    reason: str
    count: int


@dataclass(frozen=True)
class NightLine:
    """Who did what at night, how often, from when to when."""

    client_id: str
    role: str
    action: str
    count: int
    first: dt.datetime
    last: dt.datetime


@dataclass(frozen=True)
class DailyReport:
    day: dt.date
    interfaces: list[InterfaceLine]
    refusals: list[RefusalLine]
    failed_sign_ins: Sequence[Operation]
    night: list[NightLine]
    dead_letters: Sequence[TransferRecord]
    totals: dict[TransferOutcome, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.totals.values())


def yesterday() -> dt.date:
    return city_today() - dt.timedelta(days=1)


async def report(session: AsyncSession, day: dt.date, *, max_delivery_age: dt.timedelta) -> DailyReport:
    """The report of ``day`` (midnight to midnight in the city). ``max_delivery_age``: how long a
    delivery is tried before it is given up — how far back a message that died this day may have come."""
    start, end = day_start(day), day_start(day + dt.timedelta(days=1))
    by_interface: dict[str, dict[TransferOutcome, int]] = {}
    totals = dict.fromkeys(OUTCOMES, 0)
    for interface_id, outcome, count in await repository.transfer_counts(session, start, end):
        by_interface.setdefault(interface_id, dict.fromkeys(OUTCOMES, 0))[outcome] = count
        totals[outcome] = totals.get(outcome, 0) + count
    refusals = [
        RefusalLine(purpose, interface_id, reason or "", count)
        for purpose, interface_id, reason, count in await repository.refusal_counts(session, start, end)
    ]
    night: list[NightLine] = []
    for night_start, night_end in _nights(day):
        rows = await repository.operations_by_client(session, night_start, night_end, except_role=UNIT_ROLE)
        night += [NightLine(*row) for row in rows]
    return DailyReport(
        day=day,
        interfaces=[InterfaceLine(i, counts) for i, counts in sorted(by_interface.items())],
        refusals=refusals,
        failed_sign_ins=await repository.operations_of_actions(session, SIGN_IN_ACTIONS, start, end, LISTED),
        night=_merged(night),
        dead_letters=await repository.failed_recorded_between(
            session, start - max_delivery_age - dt.timedelta(days=1), start, end, DEAD_LETTER
        ),
        totals=totals,
    )


def _nights(day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The day's night hours in the city: from midnight to 06:00, and from 22:00 to midnight."""
    start, end = day_start(day), day_start(day + dt.timedelta(days=1))
    until = start.replace(hour=NIGHT_UNTIL.hour)
    since = start.replace(hour=NIGHT_FROM.hour)
    return [(start, until), (since, end)]


def _merged(lines: list[NightLine]) -> list[NightLine]:
    """One line per client and action over both of the day's nights."""
    merged: dict[tuple[str, str, str], NightLine] = {}
    for line in lines:
        key = (line.client_id, line.role, line.action)
        seen = merged.get(key)
        merged[key] = (
            line
            if seen is None
            else NightLine(
                *key, seen.count + line.count, min(seen.first, line.first), max(seen.last, line.last)
            )
        )
    return [merged[key] for key in sorted(merged)]


# --- as CSV ------------------------------------------------------------------------------------------


def csv_text(daily: DailyReport) -> str:
    """The report as one CSV for a spreadsheet: a section after another, each headed by its name and
    its columns, a blank line between; UTF-8 with BOM, codes as text, times in the city's clock."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["日次報告", daily.day.isoformat()])
    writer.writerow([])
    writer.writerow(["連携の件数（インターフェイス・結果別）"])
    writer.writerow(["インターフェイスID", *(OUTCOME_NAMES[outcome] for outcome in OUTCOMES), "計"])
    for line in daily.interfaces:
        counts = [str(line.counts.get(outcome, 0)) for outcome in OUTCOMES]
        writer.writerow([cell(line.interface_id, code=True), *counts, str(line.total)])
    writer.writerow(["計", *(str(daily.totals.get(outcome, 0)) for outcome in OUTCOMES), str(daily.total)])
    writer.writerow([])
    writer.writerow(["拒否（事務・インターフェイス・理由別）"])
    writer.writerow(["事務", "インターフェイスID", "理由", "件数"])
    for refusal in daily.refusals:
        purpose, interface_id = cell(refusal.purpose_code, code=True), cell(refusal.interface_id, code=True)
        writer.writerow([purpose, interface_id, cell(refusal.reason), str(refusal.count)])
    writer.writerow([])
    writer.writerow(["サインインの失敗"])
    writer.writerow(["日時", "クライアント", "役割", "操作", "結果", "内容"])
    for entry in daily.failed_sign_ins:
        writer.writerow(
            [
                cell(entry.at),
                cell(entry.client_id, code=True),
                cell(entry.role),
                cell(entry.action),
                OperationOutcome(entry.outcome).ja,
                cell(entry.detail),
            ]
        )
    writer.writerow([])
    writer.writerow(["夜間の操作（22時〜6時）"])
    writer.writerow(["クライアント", "役割", "操作", "件数", "最初", "最後"])
    for night in daily.night:
        writer.writerow(
            [
                cell(night.client_id, code=True),
                cell(night.role),
                cell(night.action),
                str(night.count),
                cell(night.first),
                cell(night.last),
            ]
        )
    writer.writerow([])
    writer.writerow(["配送不能（デッドレター）"])
    writer.writerow(["記録日時", "受付番号", "インターフェイスID", "配送先", "送信元", "理由"])
    for dead in daily.dead_letters:
        writer.writerow(
            [
                cell(dead.recorded_at),
                cell(dead.reception_number, code=True),
                cell(dead.interface_id, code=True),
                cell(dead.requesting_unit, code=True),
                cell(dead.providing_unit, code=True),
                cell(dead.refusal_reason),
            ]
        )
    return codecs.BOM_UTF8.decode() + buffer.getvalue()
