"""The transfer record: writing entries, sealing both records into their chains, compliance, the
person's disclosure and retention (verification is ``verification``, the operations record
``operations``).

Entries are written in the caller's transaction — the one that accepts or answers the message — so a
transfer and its record commit (or roll back) together.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import chain, repository
from platform_hub.audit.ledgers import TRANSFERS, Ledger
from platform_hub.audit.schemas import (
    CheckpointOut,
    ComplianceReport,
    Disclosure,
    DisclosureItem,
    Uncovered,
    Violation,
)
from platform_hub.kit.clock import city_today, utcnow
from platform_hub.models import (
    JUKI_NET_UNIT,
    Operation,
    Purge,
    TransferOutcome,
    TransferPattern,
    TransferRecord,
    Unit,
)
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.network import bundled_network_table
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import SchemaViolation
from platform_hub.protocol.specs import Pattern
from platform_hub.units import repository as units


@dataclass(frozen=True)
class TransferFacts:
    """What one transfer was: the same for every person it concerned."""

    reception_number: str
    msgid: str
    interface_id: str
    pattern: TransferPattern
    requesting_unit: str
    requesting_organ: str
    requesting_department: str | None
    requesting_user: str | None
    providing_unit: str
    providing_organ: str
    purpose_code: str
    information_category: str
    item_names: list[str]
    requested_at: dt.datetime
    provided_at: dt.datetime | None
    outcome: TransferOutcome
    body_digest: str
    ordinance_rule_id: str | None = None
    refusal_reason: str | None = None
    binding: str | None = None  # how the information came: soap, rest or file (none: the registry API)
    onward_binding: str | None = None  # how the hub passed it on to the provider or the subscriber


def transfer_facts(
    *,
    reception_number: str,
    msgid: str,
    interface_id: str,
    pattern: TransferPattern,
    category: str,
    purpose_code: str,
    requested_at: dt.datetime,
    body_digest: str,
    requester: Unit,
    provider: Unit,
    outcome: TransferOutcome,
    items: Sequence[str] = (),
    department: str | None = None,
    user: str | None = None,
    decision: ordinance.Decision | None = None,
    refusal: str | None = None,
    provided_at: dt.datetime | None = None,
    binding: str | None = None,
    onward_binding: str | None = None,
) -> TransferFacts:
    """What one transfer was, the same for every person it concerned — a message's, a batch chunk's or
    a registry answer's: the receiving and the holding unit by code and organ, and the 事務 of the rule
    that allowed it (a subscriber receives for any of its own), else the one asked for."""
    allowed_for = decision.purpose if decision is not None else None
    return TransferFacts(
        reception_number=reception_number,
        msgid=msgid,
        interface_id=interface_id,
        pattern=pattern,
        requesting_unit=requester.code,
        requesting_organ=requester.organ,
        requesting_department=department,
        requesting_user=user,
        providing_unit=provider.code,
        providing_organ=provider.organ,
        purpose_code=allowed_for or purpose_code,
        information_category=category,
        item_names=list(items),
        requested_at=requested_at,
        provided_at=provided_at,
        outcome=outcome,
        body_digest=body_digest,
        ordinance_rule_id=decision.rule_id if decision is not None else None,
        refusal_reason=refusal,
        binding=binding,
        onward_binding=onward_binding,
    )


def new_reception_number(now: dt.datetime) -> str:
    """The hub's id for a transfer: sortable by time, unique by its random tail."""
    return f"{now:%Y%m%d%H%M%S}{secrets.token_hex(6).upper()}"


async def record_entries(
    session: AsyncSession, facts: TransferFacts, subjects: Sequence[str | None], record_key: bytes
) -> None:
    """One record entry per person the transfer concerned — one for a query, a million for a batch —
    each with the digest of its content and that digest's MAC under the record key.

    Every entry shares the transfer's content but its subject, digest and MAC, so the shared values
    are converted for the database once (by each column type's own bind processor, ``entry_rows``) and
    the rows go to the driver's executemany as they are (a third less than SQLAlchemy's per-row work).
    """
    if not subjects:
        return
    connection = await session.connection()
    columns, rows = entry_rows(facts, subjects, record_key, connection.dialect)
    markers = ", ".join(["?" if connection.dialect.paramstyle == "qmark" else "%s"] * len(columns))
    insert_rows = f"INSERT INTO transfer_records ({', '.join(columns)}) VALUES ({markers})"  # noqa: S608 - our column names
    await connection.exec_driver_sql(insert_rows, rows)


def entry_rows(
    facts: TransferFacts, subjects: Sequence[str | None], record_key: bytes, dialect: Dialect
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The columns of ``record_entries``'s rows and the rows, converted for ``dialect``'s driver (the
    query path writes them on asyncpg: ``linkage.message_store``)."""
    content = {**vars(facts), "recorded_at": utcnow()}  # shallow: the values go to the database as they are
    names, processors = _entry_columns(dialect)
    shared = []
    for column, process in zip(names, processors, strict=True):
        shared.append(process(content[column]) if process else content[column])
    digests = chain.TRANSFERS.entry_digests(content, subjects)
    rows = [(*shared, s, d, chain.mac(record_key, d)) for s, d in zip(subjects, digests, strict=True)]
    return [*names, "subject_integrated_number", "entry_digest", "entry_mac"], rows


@functools.lru_cache(maxsize=16)  # one per engine's dialect
def _entry_columns(dialect: Dialect) -> tuple[list[str], Sequence[Callable[[Any], Any] | None]]:
    """The shared columns of an entry and their bind processors (the subject, the digest and the MAC
    follow them)."""
    shared = {field.name for field in fields(TransferFacts)} | {"recorded_at"}
    columns = [column for column in TransferRecord.__table__.columns if column.name in shared]
    # The dialect's own type: SQLite's DATETIME writes the text the verification reads back.
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    return [column.name for column in columns], processors


# --- the chain -----------------------------------------------------------------------------------


async def seal(
    session: AsyncSession,
    key: chain.SigningKey | None,
    *,
    ledger: Ledger = TRANSFERS,
    batch: int = 5000,
    checkpoint_every: int = 1000,
    checkpoint_after: dt.timedelta = dt.timedelta(minutes=1),
    everything: bool = False,
) -> int:
    """Chain the ledger's entries not yet sealed; sign a checkpoint when enough entries or time went by.
    Returns how many entries it sealed (0 when another sealer holds the lock)."""
    if not await repository.take_sealer_lock(session):
        return 0
    seq, previous, last_id = await _chain_end(session, ledger)
    entries = await repository.unsealed(session, last_id, batch, ledger=ledger, everything=everything)
    now = utcnow()
    links = []
    for entry_id, digest, *carried in entries:
        seq += 1
        previous = chain.chain_hash(previous, entry_id, digest)
        link = {
            "seq": seq,
            "entry_id": entry_id,
            "entry_digest": digest,
            "chain_hash": previous,
            "sealed_at": now,
        }
        if ledger.partition_key is not None:  # the entry's requested_at, which partitions the chain too
            link[ledger.partition_key] = carried[0]
        links.append(link)
    if links:  # one multi-row INSERT: the sealer keeps up with batches of a million entries
        await session.execute(insert(ledger.link), links)
    if key is not None and seq:
        last = await repository.last_checkpoint(session, ledger)
        due = (
            last is None
            or seq - last.seq >= checkpoint_every
            or (seq > last.seq and now - last.created_at >= checkpoint_after)
        )
        if due:
            session.add(
                ledger.checkpoint(
                    seq=seq,
                    head_hash=previous,
                    created_at=now,
                    key_id=key.key_id,
                    signature=key.sign(chain.statement(seq, previous, now, ledger.name)),
                )
            )
            await session.flush()
    return len(entries)


async def _chain_end(session: AsyncSession, ledger: Ledger) -> tuple[int, str, int]:
    """``(seq, chain hash, entry id)`` to go on from: the last link, or where the last purge cut."""
    head = await repository.chain_head(session, ledger)
    if head is not None:
        return head.seq, head.chain_hash, head.entry_id
    purge = await repository.latest_purge(session) if ledger is TRANSFERS else None
    if purge is not None:
        return purge.anchor_seq, purge.anchor_hash, purge.anchor_entry_id
    return 0, chain.GENESIS, 0


# --- what auditors read --------------------------------------------------------------------------

RECORDED = (TransferOutcome.PROVIDED, TransferOutcome.DELIVERED)


async def transfer_page(
    session: AsyncSession, query: repository.TransferQuery, after: repository.Position | None, limit: int
) -> Sequence[TransferRecord]:
    """A page of the transfer record, newest first, after ``after`` (the previous page's end)."""
    return await repository.transfers(session, query, after, limit)


async def operation_page(
    session: AsyncSession, query: repository.OperationQuery, after: repository.Position | None, limit: int
) -> Sequence[Operation]:
    """A page of the operations record, newest first, after ``after``."""
    return await repository.operations(session, query, after, limit)


@dataclass(frozen=True)
class DailyCounts:
    """How many entries of the record fell on each of the city's days, by outcome."""

    days: list[dt.date]
    counts: dict[tuple[dt.date, str], int]

    def of(self, day: dt.date, outcome: str) -> int:
        return self.counts.get((day, outcome), 0)

    def total(self, day: dt.date | None = None) -> int:
        return sum(n for (on, _), n in self.counts.items() if day is None or on == day)


async def transfers_by_day(
    session: AsyncSession, query: repository.TransferQuery, first: dt.date, last: dt.date
) -> DailyCounts:
    """The entries ``query`` selects from ``first`` to ``last`` (the city's days, both included),
    counted per day and outcome by one grouped query."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    if not days:
        return DailyCounts([], {})
    boundaries = [ordinance.day_start(day) for day in [*days, last + dt.timedelta(days=1)]]
    found = await repository.counts_by_stretch(session, query, boundaries)
    counts = {(days[row.stretch], str(row.outcome)): row.entries for row in found if row.stretch >= 0}
    return DailyCounts(days, counts)


# The grounds a refusal or a violation names: the 番号法's own, for the network and 住基ネット
# (``_network_violations``, ``ordinance.network``), or an article the ordinance's rules stand on.
NETWORK_ARTICLES = ("番号法 第19条第8号", "番号法 第14条第2項")
_ARTICLE = re.compile(r"番号法 第[0-9]+条(?:第[0-9]+項)?(?:第[0-9]+号)?")
_ORDINANCE = re.compile(r"ordinance (\S+) has no rule")


def ground_of(reason: str | None) -> str:
    """The rule of law a refusal's (or a violation's) reason stands on, as people read it:
    ``番号法 第19条第11号（条例 2026-11）`` for a version with no rule for the flow."""
    if not reason:
        return "理由の記録なし"
    if reason.startswith("no ordinance version is in force"):
        return "施行中の条例なし"
    if reason.startswith("no 事務 named") or "is not registered for the 事務" in reason:
        return "ユニットに登録のない事務"
    article = _ARTICLE.search(reason)
    if article is None:
        return "その他"
    version = _ORDINANCE.search(reason)
    return f"{article.group()}（条例 {version.group(1)}）" if version else article.group()


def by_network(violation: Violation) -> bool:
    """A violation of the 番号法's own table (the network, 住基ネット), not of the ordinance."""
    return violation.reason.startswith(NETWORK_ARTICLES)


@dataclass(frozen=True)
class ComplianceSummary:
    """The compliance re-check of a period (``compliance``) with what a person reads first: the
    period's entries by outcome, its refusals (those the hub made then, and the re-check's
    violations) by ground, and the violations of the 番号法's own table apart."""

    report: ComplianceReport
    outcomes: dict[str, int]
    refused: dict[str, int]  # ground → refusals recorded in the period
    violated: dict[str, int]  # ground → the re-check's violations

    @property
    def network_violations(self) -> list[Violation]:
        return [v for v in self.report.violations if by_network(v)]

    @property
    def ordinance_violations(self) -> list[Violation]:
        return [v for v in self.report.violations if not by_network(v)]

    def grounds(self) -> list[str]:
        """Every ground, the most refused first."""
        both = Counter(self.refused) + Counter(self.violated)
        return [ground for ground, _ in sorted(both.items(), key=lambda item: (-item[1], item[0]))]


async def compliance_summary(
    session: AsyncSession, catalog: Catalog, start: dt.date, end: dt.date
) -> ComplianceSummary:
    """``compliance`` for ``start`` to ``end`` (the city's days), with the period's totals by outcome
    and its refusals by ground, each one grouped query."""
    report = await compliance(session, catalog, start, end)
    start_at, end_at = ordinance.day_start(start), ordinance.day_start(end + dt.timedelta(days=1))
    period = repository.TransferQuery(start=start_at, end=end_at)
    outcomes = {
        str(row.outcome): row.entries
        for row in await repository.counts_by_stretch(session, period, [start_at, end_at])
    }
    refused: Counter[str] = Counter()
    for row in await repository.refusal_reasons(session, start_at, end_at):
        refused[ground_of(row.refusal_reason)] += row.entries
    violated = Counter(ground_of(v.reason) for v in report.violations)
    return ComplianceSummary(report, outcomes, dict(refused), dict(violated))


async def compliance(
    session: AsyncSession, catalog: Catalog, start: dt.date, end: dt.date
) -> ComplianceReport:
    """Re-check every transfer of the period by the ordinance's own decision (``ordinance.decide``, as
    at the moment it was decided), and list the interfaces a registered receiver may not get under the
    rules in force at the period's end.

    The database groups the period's entries by the stretch between the rulebook's boundaries that
    holds each one's moment (one version governs a stretch) and by what a decision depends on; each
    group is decided once, and only a refused group's entries are read."""
    book = await ordinance.rulebook(session)
    boundaries = book.boundaries()
    start_at, end_at = ordinance.day_start(start), ordinance.day_start(end + dt.timedelta(days=1))
    window = repository.Window(start_at, end_at, RECORDED, boundaries)
    groups = await repository.transfer_groups(session, window)
    violations: list[Violation] = []
    for group in groups:
        facts = {
            "receiving_organ": group.requesting_organ,
            "purposes": [group.purpose_code],
            "category": group.information_category,
            "holding_organ": group.providing_organ,
            "holding_unit": group.providing_unit,
        }
        # Decided as at the boundary its stretch starts from: the version in force all along it.
        decision = ordinance.decide(book, boundaries[group.period], **facts) if group.period >= 0 else None
        if decision is not None and decision.rule is not None:
            continue
        async for entry in repository.transfers_of_group(session, window, group):
            # Before any version, each entry is decided on its own: the refusal names its day.
            refused = decision or ordinance.decide(book, entry.moment, **facts)
            violations.append(
                Violation(
                    entry_id=entry.id,
                    reception_number=entry.reception_number,
                    requested_at=entry.requested_at,
                    reason=str(refused.reason),
                )
            )
    network = replace(window, network=True)
    network_groups = await repository.transfer_groups(session, network)
    violations += [v async for v in _network_violations(session, catalog, network, network_groups)]
    return ComplianceReport(
        start=start,
        end=end,
        checked=sum(group.entries for group in [*groups, *network_groups]),
        violations=sorted(violations, key=lambda v: v.entry_id),
        uncovered=await _uncovered(session, catalog, book, end),
    )


async def _network_violations(
    session: AsyncSession, catalog: Catalog, window: repository.Window, groups: Sequence[Any]
) -> AsyncIterator[Violation]:
    """A 情報照会 through the network is the 番号法's (第19条第8号), not the ordinance's: each is
    re-checked against the table (``ordinance.network_allowed``). 本人確認情報 from 住基ネット is for
    a 個人番号利用事務 only (第14条第2項)."""
    table = bundled_network_table()
    for group in groups:
        if group.providing_unit == JUKI_NET_UNIT:
            purpose = catalog.purposes.get(group.purpose_code)
            if purpose is not None and purpose.number_use:
                continue
            reason = f"番号法 第14条第2項: {group.purpose_code} is no 個人番号利用事務"
        elif table.rule(group.purpose_code, group.information_category) is not None:
            continue
        else:
            reason = f"番号法 第19条第8号: {group.purpose_code} may not obtain {group.information_category}"
        async for entry in repository.transfers_of_group(session, window, group):
            yield Violation(
                entry_id=entry.id,
                reception_number=entry.reception_number,
                requested_at=entry.requested_at,
                reason=reason,
            )


async def _uncovered(
    session: AsyncSession, catalog: Catalog, book: ordinance.Rulebook, on: dt.date
) -> list[Uncovered]:
    moment = ordinance.day_start(on + dt.timedelta(days=1)) - dt.timedelta(microseconds=1)
    found = []
    for spec in catalog.specs():
        holders = await units.units_relating(session, spec.id, "provides")
        receivers = (
            await units.list_units(session)
            if spec.pattern == Pattern.QUERY
            else await units.units_relating(session, spec.id, "subscribes")
        )
        for receiver in receivers:
            if spec.pattern == Pattern.QUERY and not spec.allows_consumer(receiver.code):
                continue
            for holder in holders:
                if holder.code == receiver.code:
                    continue
                decision = ordinance.decide(
                    book,
                    moment,
                    receiving_organ=receiver.organ,
                    purposes=list(receiver.purposes),
                    category=spec.category,
                    holding_organ=holder.organ,
                    holding_unit=holder.code,
                )
                if decision.rule is None:
                    found.append(
                        Uncovered(
                            interface_id=spec.id, unit_code=receiver.code, reason=decision.reason or "no rule"
                        )
                    )
    return found


async def disclosure(
    session: AsyncSession, catalog: Catalog, integrated_number: str, names: Sequence[str] = ()
) -> Disclosure:
    """The person's やりとり履歴 over the city's internal transfers, newest first; ``names``: every
    reference the records may name the person by (the person id and the 団体内統合宛名番号)."""
    query = (
        repository.TransferQuery(persons=tuple(names))
        if names
        else repository.TransferQuery(person=integrated_number)
    )
    entries = await repository.transfers(session, query, None, 10_000)
    articles = await repository.articles(
        session, {e.ordinance_rule_id for e in entries if e.ordinance_rule_id}
    )
    # The 番号法's own transfers name their article as the rule.
    articles |= {rule: rule for e in entries if e.pattern.by_statute and (rule := e.ordinance_rule_id)}
    return Disclosure(
        integrated_number=integrated_number,
        transfers=[
            DisclosureItem(
                at=e.provided_at or e.requested_at,
                received_by_unit=e.requesting_unit,
                received_by_organ=e.requesting_organ,
                provided_by_unit=e.providing_unit,
                provided_by_organ=e.providing_organ,
                purpose_code=e.purpose_code,
                purpose_name=catalog.purposes[e.purpose_code].name
                if e.purpose_code in catalog.purposes
                else None,
                information_category=e.information_category,
                item_names=list(e.item_names),
                ordinance_rule_id=e.ordinance_rule_id,
                article=articles.get(e.ordinance_rule_id or ""),
                outcome=e.outcome,
                refusal_reason=e.refusal_reason,
            )
            for e in entries
        ],
    )


async def purge(
    session: AsyncSession,
    before: dt.date,
    key: chain.SigningKey,
    *,
    retention_years: int,
    actor: str,
    today: dt.date | None = None,
) -> Purge:
    """Remove the record's whole months before ``before`` once they are past retention; the removal
    is itself recorded and signed with the checkpoint key (so nobody can fake one to hide a deletion),
    and verification goes on from the last removed link's hash. On PostgreSQL the months go as their
    partitions (``repository.drop_months``): a month costs what dropping two tables costs."""
    today = today or city_today()
    await repository.take_sealer_lock(session, wait=True)  # no sealing round meanwhile
    if before.day != 1:
        raise SchemaViolation("retention removes whole months: --before must be the first day of a month")
    expired = dt.date(today.year - retention_years, today.month, 1)
    if before > expired:
        raise SchemaViolation(
            f"entries before {before} are not past retention ({retention_years} years): "
            f"the earliest cut is {expired}"
        )
    boundary = ordinance.day_start(before)
    first_kept = await repository.first_link_at_or_after(session, boundary)
    head = await repository.chain_head(session)
    last_seq = (first_kept - 1) if first_kept is not None else (head.seq if head else 0)
    previous = await repository.latest_purge(session)
    if previous is not None and last_seq <= previous.anchor_seq:
        raise SchemaViolation(f"nothing sealed before {before} is left to remove")
    removed, anchor = await repository.remove_prefix(session, last_seq, boundary) if last_seq else (0, None)
    if anchor is None:
        raise SchemaViolation(f"nothing sealed before {before} is left to remove")
    anchor_hash, anchor_entry_id = anchor
    record = Purge(
        before=boundary,
        entries_removed=removed,
        anchor_seq=last_seq,
        anchor_hash=anchor_hash,
        anchor_entry_id=anchor_entry_id,
        purged_at=utcnow(),
        purged_by=actor,
        key_id=key.key_id,
    )
    record.signature = key.sign(chain.purge_statement(record))
    session.add(record)
    await session.flush()
    return record


async def checkpoints(session: AsyncSession, ledger: Ledger = TRANSFERS) -> list[CheckpointOut]:
    """The signed checkpoints of a record, oldest first: what auditors keep outside the hub."""
    return [CheckpointOut.model_validate(c) for c in await repository.checkpoints(session, ledger)]


@dataclass(frozen=True)
class UnitTraffic:
    """When the transfer record last names a unit: as the side that received, as the side that provided."""

    requested_at: dt.datetime | None
    provided_at: dt.datetime | None


async def unit_traffic(session: AsyncSession, codes: Sequence[str]) -> dict[str, UnitTraffic]:
    """Each unit's last traffic in the record (two indexed look-ups a unit)."""
    found = {}
    for code in codes:
        requested, provided = await repository.last_transfer_of(session, code)
        found[code] = UnitTraffic(requested, provided)
    return found
