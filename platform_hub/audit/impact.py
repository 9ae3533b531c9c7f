"""条例改正の影響 over the transfer record: a draft ordinance (``ordinance.impact``) replayed against a
past period as the compliance re-check reads it — the database groups the period's entries by the
stretch of the rulebook that governs each and by flow; each group is decided once by the versions of
its time and once by the draft; only a changed group's first few entries are read, as examples."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import repository
from platform_hub.audit.service import RECORDED
from platform_hub.kit.clock import city_today, utcnow
from platform_hub.models import TransferOutcome, TransferPattern, Unit
from platform_hub.ordinance import impact
from platform_hub.ordinance import repository as ordinance_repository
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.impact import ChangeKind, Flow, RecordedGroup
from platform_hub.ordinance.schemas import ImpactExample, ImpactReport, OrdinanceIn
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.specs import Pattern
from platform_hub.units import repository as units

EXAMPLES = 5  # transfers listed per change


async def ordinance_impact(
    session: AsyncSession,
    catalog: Catalog,
    draft: OrdinanceIn,
    start: dt.date,
    end: dt.date,
    *,
    examples: int = EXAMPLES,
) -> ImpactReport:
    """What ``draft`` would have changed over ``start``–``end`` (the city's days, inclusive), and what it
    changes in the rules and the registry's flows against the version in force today."""
    book = await ordinance.rulebook(session)
    draft_book = impact.draft_rulebook(draft, book.network)
    boundaries = book.boundaries()
    start_at, end_at = ordinance.day_start(start), ordinance.day_start(end + dt.timedelta(days=1))
    window = repository.Window(start_at, end_at, (*RECORDED, TransferOutcome.REFUSED), boundaries)
    receivers = {unit.code: unit for unit in await units.list_units(session)}
    replay = impact.Replay(book, draft_book, examples=examples)
    changed: list[tuple[ChangeKind, Flow, Any]] = []
    async for row in repository.flow_groups(session, window):
        group = _recorded(row, boundaries, receivers)
        if group is None:
            continue
        kind = replay.add(group)
        if kind is not None:
            changed.append((kind, group.flow, row))
    for kind, flow, row in changed:  # after the stream: one query at a time on the session
        wanted = replay.wanted(kind, flow)
        if wanted:
            for entry in await repository.flow_examples(session, window, row, wanted):
                replay.example(
                    kind,
                    flow,
                    ImpactExample(
                        entry_id=entry.id,
                        reception_number=entry.reception_number,
                        requested_at=entry.requested_at,
                    ),
                )
    today = await ordinance_repository.in_force(session, city_today(), with_rules=True)
    uncovered, covered = impact.coverage(
        book, draft_book, utcnow(), [flow async for flow in registry_flows(session, catalog)]
    )
    changes, rules = replay.changes(), impact.rule_changes(today, draft)
    touched_units, touched_purposes = impact.touched(changes, uncovered, covered, rules)
    return ImpactReport(
        draft=impact.draft_summary(draft),
        start=start,
        end=end,
        compared_with=today.version if today else None,
        checked=replay.checked,
        would_refuse=replay.entries(ChangeKind.WOULD_REFUSE),
        would_allow=replay.entries(ChangeKind.WOULD_ALLOW),
        changes=changes,
        uncovered=uncovered,
        covered=covered,
        rules=rules,
        units=touched_units,
        purposes=touched_purposes,
    )


def _recorded(
    row: Any, boundaries: Sequence[dt.datetime], receivers: dict[str, Unit]
) -> RecordedGroup | None:
    """A group of the record as the replay decides it; None for refusals the ordinance did not make
    (the receiving unit was not registered for the 事務 it asked for)."""
    allowed = row.outcome in RECORDED
    deciding: tuple[str, ...] = (row.purpose_code,)
    receiver = receivers.get(row.requesting_unit)
    if not allowed and receiver is not None:
        # What the hub asked the ordinance: a delivery for any of the subscriber's 事務, a query
        # (or a registry answer) for the one named, if the unit is registered for it.
        if row.pattern in (TransferPattern.NOTIFICATION, TransferPattern.BATCH):
            deciding = tuple(receiver.purposes)
        else:
            deciding = tuple(p for p in deciding if p in receiver.purposes)
        if not deciding:
            return None
    flow = Flow(
        receiving_unit=row.requesting_unit,
        receiving_organ=row.requesting_organ,
        interface_id=row.interface_id,
        purposes=(row.purpose_code,),
        category=row.information_category,
        holding_unit=row.providing_unit,
        holding_organ=row.providing_organ,
    )
    moment = boundaries[row.period] if row.period >= 0 else None
    return RecordedGroup(flow, allowed, moment, row.entries, deciding)


async def registry_flows(session: AsyncSession, catalog: Catalog) -> AsyncIterator[Flow]:
    """Every flow the registry sets up: each interface's receivers (any unit the spec lets query it,
    its subscribers) with each unit that provides it, for the receiver's 事務."""
    every_unit = await units.list_units(session)
    for spec in catalog.specs():
        holders = await units.units_relating(session, spec.id, "provides")
        receivers = (
            every_unit
            if spec.pattern == Pattern.QUERY
            else await units.units_relating(session, spec.id, "subscribes")
        )
        for receiver in receivers:
            if spec.pattern == Pattern.QUERY and not spec.allows_consumer(receiver.code):
                continue
            for holder in holders:
                if holder.code != receiver.code:
                    yield Flow(
                        receiving_unit=receiver.code,
                        receiving_organ=receiver.organ,
                        interface_id=spec.id,
                        purposes=tuple(receiver.purposes),
                        category=spec.category,
                        holding_unit=holder.code,
                        holding_organ=holder.organ,
                    )
