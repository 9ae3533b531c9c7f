"""The providing side of the network: what another organisation obtains from the city.

Another organisation's 照会 reaches the city's 中間サーバー through the 情報提供ネットワークシステム, and the
中間サーバー answers it from the 副本 the city registered — at once, as 不開示, or, for a 自動応答不可 副本,
when the city releases it. The units register their 副本 through the hub, in their own 宛名番号: the
hub maps the person to the 団体内統合宛名番号 (the only number the 中間サーバー knows) and keeps which
unit registered what, since the 中間サーバー's 第23条 records name no unit.

Every 提供 the 中間サーバー made is a 第19条第8号 transfer out of the city and belongs in the hub's
transfer record beside the 照会 the units make (``service.py``). The hub learns of them from the
中間サーバー's provider-side 第23条 records (``sync_provisions``, run every ``network_sync_seconds``
and on demand), and records each once, by the NWS's inquiry id; a 提供 the unit releases through the
hub is recorded as it is released. Each is re-checked against the 番号法 table (the city answers as
市町村長): a 提供 no row allows is still recorded as made — with no rule, so the compliance report
names it — and a release no row allows is refused, recorded, and nothing is released.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.service import TransferFacts, record_entries
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import NetworkDuplicate, NetworkProvision, TransferOutcome, TransferPattern, Unit
from platform_hub.models.counters import advance
from platform_hub.national.chukan import InquiryStatus, PendingProvision, ProvisionRecord
from platform_hub.network.service import (
    NETWORK_UNIT,
    Asker,
    NationalSystems,
    check_purpose,
    content_digest,
    integrated_number_of,
)
from platform_hub.ordinance.network import NetworkRule
from platform_hub.ordinance.service import Rulebook, network_allowed
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import Forbidden, OrdinanceRefusal, UnknownTarget

log = structlog.get_logger()
INTERFACE = "NWS_PROVISION"  # the record's interface id for a 提供 through the network
PROVIDER = "市町村長"  # who the city answers as: the 情報提供者 of the 番号法 table's rows
# The counter whose row lock lets one sync (or release) at a time record 提供, in every hub process:
# two of them reading the same 第23条 record would otherwise both write its entry.
LOCK = "network_provisions"
UNDISCLOSED = "不開示: the city does not disclose it"


@dataclass(frozen=True)
class Duplicate:
    """A 副本 as a unit registers it: for the person, ``information`` for ``period``."""

    information: str
    period: str
    data: dict[str, Any]
    undisclosed: bool = False
    no_auto_answer: bool = False


def check_holds(catalog: Catalog, unit: Unit, category: str) -> None:
    """A unit registers a 副本 only of information it holds: it provides an interface of that
    category in the catalog (002 個人住民税 provides IF_ZEI_0001, 地方税関係情報)."""
    provided = set(unit.interface_ids("provides"))
    if not any(
        spec.provider == unit.code and spec.category == category and spec.id in provided
        for spec in catalog.specs()
    ):
        raise Forbidden(f"unit {unit.code} provides no interface of {category}: it holds no 副本 of it")


async def register(
    session: AsyncSession,
    systems: NationalSystems,
    catalog: Catalog,
    record_key: bytes,
    asker: Asker,
    atena: str,
    duplicate: Duplicate,
) -> tuple[NetworkDuplicate, bool]:
    """副本登録 for the person in the 中間サーバー; True with it if it replaced the last one. The hub's
    row is written first, so a 副本 the hub does not know of is never registered."""
    check_purpose(asker)
    check_holds(catalog, asker.unit, duplicate.information)
    integrated = await integrated_number_of(session, asker.unit.code, atena)
    row = await _duplicate_of(session, integrated, duplicate.information, duplicate.period)
    if row is None:
        row = NetworkDuplicate(
            integrated_number=integrated, category=duplicate.information, period=duplicate.period
        )
        session.add(row)
    row.unit_code, row.atena_number, row.purpose_code = asker.unit.code, atena, asker.purpose
    row.item_names, row.data_digest = sorted(duplicate.data), content_digest(record_key, duplicate.data)
    row.undisclosed, row.no_auto_answer = duplicate.undisclosed, duplicate.no_auto_answer
    row.registered_at = utcnow()
    await session.flush()
    replaced = await systems.chukan.register_duplicate(
        integrated,
        duplicate.information,
        duplicate.period,
        duplicate.data,
        undisclosed=duplicate.undisclosed,
        no_auto_answer=duplicate.no_auto_answer,
    )
    return row, replaced


async def _duplicate_of(
    session: AsyncSession, integrated: str, category: str, period: str
) -> NetworkDuplicate | None:
    found: NetworkDuplicate | None = await session.scalar(
        select(NetworkDuplicate).where(
            NetworkDuplicate.integrated_number == integrated,
            NetworkDuplicate.category == category,
            NetworkDuplicate.period == period,
        )
    )
    return found


# --- 自動応答不可: the unit's decision ---------------------------------------------------------------


async def pending(
    session: AsyncSession, systems: NationalSystems, unit: Unit
) -> list[tuple[PendingProvision, NetworkDuplicate]]:
    """The 照会 waiting on the 副本 this unit registered; another unit's are none of its business."""
    mine = []
    for waiting in await systems.chukan.pending_provisions():
        row = await _duplicate_of(session, waiting.integrated_number, waiting.information, waiting.period)
        if row is not None and row.unit_code == unit.code:
            mine.append((waiting, row))
    return mine


async def waiting_for(
    session: AsyncSession, systems: NationalSystems, unit: Unit, inquiry_id: str
) -> PendingProvision:
    """The unit's pending 提供 ``inquiry_id`` (E1003 when it is not one)."""
    found = next((w for w, _ in await pending(session, systems, unit) if w.inquiry_id == inquiry_id), None)
    if found is None:
        raise UnknownTarget(f"no 提供 {inquiry_id} waits for unit {unit.code}")
    return found


def release_allowed(book: Rulebook, waiting: PendingProvision) -> NetworkRule:
    """The 番号法 row that lets the requester's 事務 obtain the information from the city (E3001
    without one): checked before anything is released."""
    return network_allowed(book, waiting.affair, waiting.information, provider=PROVIDER)


async def release(
    session: AsyncSession,
    systems: NationalSystems,
    record_key: bytes,
    book: Rulebook,
    waiting: PendingProvision,
) -> InquiryStatus:
    """Release the pending 提供 through the 中間サーバー and record it from its 第23条 record, under the
    lock a sync takes: a sync that comes after finds it recorded."""
    await advance(session, LOCK)
    status = await systems.chukan.release(waiting.inquiry_id)
    records = await systems.chukan.records(integrated_number=waiting.integrated_number)
    found = next((r for r in records if r.side == "provider" and r.inquiry_id == waiting.inquiry_id), None)
    if found is None:  # the 中間サーバー keeps a record of each 提供; should it not show yet, the sync will
        log.warning("no 第23条 record yet for a released 提供", inquiry_id=waiting.inquiry_id)
        return status
    await _take(session, found, record_key, book)
    return status


async def record_refused_release(
    session: AsyncSession, record_key: bytes, unit: Unit, waiting: PendingProvision, reason: str
) -> None:
    """A release the 番号法 table does not allow: nothing leaves, and the refusal is recorded."""
    row = NetworkProvision(
        inquiry_id=waiting.inquiry_id,
        integrated_number=waiting.integrated_number,
        requester=waiting.requester,
        affair=waiting.affair,
        category=waiting.information,
        period=waiting.period,
        unit_code=unit.code,
        result=InquiryStatus.REFUSED.value,
        requested_at=utcnow(),
    )
    digest = content_digest(record_key, {"inquiry_id": waiting.inquiry_id, "refused": reason})
    facts = _facts(row, unit.organ, outcome=TransferOutcome.REFUSED, items=[], digest=digest)
    facts = _with_rule(facts, None, reason)
    await record_entries(session, facts, [waiting.integrated_number], record_key)


# --- every 提供 in the record -------------------------------------------------------------------------


async def sync_provisions(
    session: AsyncSession, systems: NationalSystems, record_key: bytes, book: Rulebook
) -> int:
    """Record each 提供 of the 中間サーバー's provider-side 第23条 records not recorded yet (by the NWS's
    inquiry id); the number of entries written. Read from the oldest 提供 still pending, or else the
    newest one known: an older record is final and recorded already."""
    since = await _since(session)
    records = [r for r in await systems.chukan.records(since=since) if r.side == "provider"]
    await advance(session, LOCK)  # one at a time; the records were read before, outside the lock
    written = 0
    for found in sorted(records, key=lambda r: r.requested_at):
        written += await _take(session, found, record_key, book)
    return written


async def _since(session: AsyncSession) -> dt.date | None:
    pending_since = await session.scalar(
        select(func.min(NetworkProvision.requested_at)).where(NetworkProvision.recorded.is_(False))
    )
    moment = pending_since or await session.scalar(select(func.max(NetworkProvision.requested_at)))
    return moment.astimezone(dt.UTC).date() if moment is not None else None


async def _take(session: AsyncSession, found: ProvisionRecord, record_key: bytes, book: Rulebook) -> bool:
    """Keep one 第23条 record; once its answer is final, record it (once). True if an entry was written."""
    row = await session.get(NetworkProvision, found.inquiry_id)
    if row is None:
        row = NetworkProvision(
            inquiry_id=found.inquiry_id,
            integrated_number=found.integrated_number,
            requester=found.requester,
            affair=found.affair,
            category=found.information,
            period=found.period,
            requested_at=found.requested_at,
            recorded=False,
        )
        session.add(row)
    elif row.recorded:
        return False
    row.result, row.provided_at = found.result, found.provided_at
    if found.result == InquiryStatus.PENDING:
        await session.flush()
        return False
    row.recorded = True
    duplicate = await _duplicate_of(session, row.integrated_number, row.category, row.period)
    row.unit_code = duplicate.unit_code if duplicate is not None else None
    await session.flush()
    if found.result not in (InquiryStatus.PROVIDED, InquiryStatus.UNDISCLOSED):
        return False  # not_found: the city held nothing for the person, and nothing of theirs left
    organ = await session.scalar(select(Unit.organ).where(Unit.code == row.unit_code)) if duplicate else None
    facts = _decided(row, duplicate, organ, book, record_key)
    await record_entries(session, facts, [row.integrated_number], record_key)
    return True


def _decided(
    row: NetworkProvision,
    duplicate: NetworkDuplicate | None,
    organ: str | None,
    book: Rulebook,
    record_key: bytes,
) -> TransferFacts:
    """The 提供's entry, checked against the 番号法 table: made, it is recorded as made, with the row
    that allows it — or with none, and why, for the compliance report to name."""
    provided = row.result == InquiryStatus.PROVIDED
    digest = content_digest(
        record_key,
        {"inquiry_id": row.inquiry_id, "duplicate": duplicate.data_digest if duplicate else None},
    )
    facts = _facts(
        row,
        organ or PROVIDER,
        outcome=TransferOutcome.PROVIDED if provided else TransferOutcome.REFUSED,
        items=list(duplicate.item_names) if duplicate is not None and provided else [],
        digest=digest,
    )
    try:
        rule: NetworkRule | None = network_allowed(book, row.affair, row.category, provider=PROVIDER)
        refusal = None if provided else UNDISCLOSED
    except OrdinanceRefusal as refused:
        rule, refusal = None, refused.message if provided else UNDISCLOSED
    return _with_rule(facts, rule.article if rule else None, refusal)


def _facts(
    row: NetworkProvision, organ: str, *, outcome: TransferOutcome, items: Sequence[str], digest: str
) -> TransferFacts:
    """A 提供's record entry: the requester obtained the information from the unit whose 副本 it was,
    through the network (the requester is outside the city: its 団体コード stands for it)."""
    return TransferFacts(
        reception_number=row.inquiry_id[:32],
        msgid=row.inquiry_id[:64],
        interface_id=INTERFACE,
        pattern=TransferPattern.NETWORK,
        requesting_unit=NETWORK_UNIT,
        requesting_organ=f"{row.requester}（情報提供ネットワークシステム）",
        requesting_department=None,
        requesting_user=None,
        providing_unit=row.unit_code or "",  # "": a 副本 registered other than through the hub
        providing_organ=organ,
        purpose_code=row.affair[:16],
        information_category=row.category[:64],
        item_names=list(items),
        requested_at=row.requested_at,
        provided_at=row.provided_at if outcome == TransferOutcome.PROVIDED else None,
        outcome=outcome,
        body_digest=digest,
        binding="network",
    )


def _with_rule(facts: TransferFacts, article: str | None, refusal: str | None) -> TransferFacts:
    return replace(facts, ordinance_rule_id=article, refusal_reason=refusal)


async def run(state: LinkageRuntime, systems: NationalSystems) -> None:
    """The sync, every ``network_sync_seconds``, for as long as the hub runs."""
    while True:
        try:
            if state.vault is not None:  # the record's MACs need its key; healthz says when it is away
                book = (await state.configuration.get()).rulebook
                async with unit_of_work(state.sessions) as session:
                    written = await sync_provisions(session, systems, state.vault.record_key, book)
                if written:
                    log.info("提供 through the network recorded", entries=written)
        except asyncio.CancelledError:
            raise
        except Exception:  # the 中間サーバー or the database may be away: try again next round
            log.exception("reading the 中間サーバー's 提供 records failed")
        await asyncio.sleep(state.settings.network_sync_seconds)
