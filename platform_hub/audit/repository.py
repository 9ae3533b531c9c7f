"""All queries of the audit domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    and_,
    case,
    delete,
    func,
    literal,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import partitions
from platform_hub.audit.ledgers import TRANSFERS, Ledger
from platform_hub.models import (
    ChainLink,
    Checkpoint,
    Operation,
    OrdinanceRule,
    OrdinanceVersion,
    Purge,
    PurgePermit,
    TransferOutcome,
    TransferPattern,
    TransferRecord,
    counters,
)

SEALER_LOCK = 0x5EA1  # the PostgreSQL advisory lock only one sealer at a time holds
_SWEEP_WINDOW = 100_000  # entries committed this far behind the newest sealed one are still found


async def take_sealer_lock(session: AsyncSession, *, wait: bool = False) -> bool:
    """One sealer at a time: PostgreSQL's transaction-scoped advisory lock (others skip the round).
    SQLite has no such lock: counting the round takes the database's write lock first, so a second
    process's sealer waits and then reads the chain head as the first one left it."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        got = await session.scalar(text(f"SELECT {function}(:key)"), {"key": SEALER_LOCK})
        return wait or bool(got)
    await counters.advance(session, "seal_rounds")
    return True


async def chain_head(session: AsyncSession, ledger: Ledger = TRANSFERS) -> Any | None:
    link = ledger.link
    return (await session.scalars(select(link).order_by(link.seq.desc()).limit(1))).first()


async def last_link_seq(session: AsyncSession, ledger: Ledger = TRANSFERS) -> int | None:
    return await session.scalar(select(func.max(ledger.link.seq)))


async def unsealed(
    session: AsyncSession, after_id: int, limit: int, *, ledger: Ledger = TRANSFERS, everything: bool = False
) -> Sequence[Any]:
    """Entries not yet in the chain, oldest first. Usually only a window behind the last sealed id is
    looked at, so the query stays an index range scan however long the record grows; ``everything``
    (now and then) also finds an entry whose transaction committed later than that."""
    entry, link = ledger.entry, ledger.link
    lowest = 0 if everything else after_id - _SWEEP_WINDOW
    carried = [getattr(entry, ledger.partition_key)] if ledger.partition_key else []
    query = (
        select(entry.id, entry.entry_digest, *carried)
        .outerjoin(link, ledger.joined())
        .where(entry.id > lowest, link.entry_id.is_(None))
        .order_by(entry.id)
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def last_checkpoint(session: AsyncSession, ledger: Ledger = TRANSFERS) -> Any | None:
    checkpoint = ledger.checkpoint
    return (await session.scalars(select(checkpoint).order_by(checkpoint.id.desc()).limit(1))).first()


async def checkpoints(session: AsyncSession, ledger: Ledger = TRANSFERS) -> Sequence[Any]:
    return (await session.scalars(select(ledger.checkpoint).order_by(ledger.checkpoint.id))).all()


async def unsealed_before(
    session: AsyncSession, moment: dt.datetime, ledger: Ledger = TRANSFERS
) -> Sequence[int]:
    entry, link = ledger.entry, ledger.link
    recorded = entry.recorded_at if ledger is TRANSFERS else entry.at
    query = (
        select(entry.id)
        .outerjoin(link, ledger.joined())
        .where(link.entry_id.is_(None), recorded < moment)
        .order_by(entry.id)
    )
    return (await session.scalars(query.limit(10))).all()


async def first_sealed_at(session: AsyncSession, ledger: Ledger = TRANSFERS) -> dt.datetime | None:
    """When the oldest link still in the chain was sealed."""
    return await session.scalar(select(func.min(ledger.link.sealed_at)))


async def links_after(session: AsyncSession, seq: int, ledger: Ledger = TRANSFERS) -> int:
    """How many links of the chain come after ``seq`` (those no checkpoint covers yet)."""
    return await session.scalar(select(func.count()).where(ledger.link.seq > seq)) or 0


@dataclass(frozen=True)
class TransferQuery:
    """What an auditor narrows the record to; every field given must hold."""

    person: str | None = None  # integrated number (or P<id>)
    unit: str | None = None  # requesting or providing
    persons: tuple[str, ...] = ()  # any of these references of one person
    organ: str | None = None  # requesting or providing
    interface: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None  # exclusive

    def where(self) -> list[ColumnElement[bool]]:
        record = TransferRecord
        found: list[ColumnElement[bool]] = [
            column == value
            for column, value in (
                (record.subject_integrated_number, self.person),
                (record.interface_id, self.interface),
                (record.purpose_code, self.purpose),
                (record.outcome, self.outcome),
            )
            if value is not None
        ]
        if self.persons:
            found.append(record.subject_integrated_number.in_(self.persons))
        if self.unit is not None:
            found.append((record.requesting_unit == self.unit) | (record.providing_unit == self.unit))
        if self.organ is not None:
            found.append((record.requesting_organ == self.organ) | (record.providing_organ == self.organ))
        if self.start is not None:
            found.append(record.requested_at >= self.start)
        if self.end is not None:
            found.append(record.requested_at < self.end)
        return found


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Position:
    """Where a page of the record ended. Pages run newest first by (requested_at, id): the order the
    indexes on person, interface and unit (each ending in requested_at) give without sorting the
    period (the unit filter, either side of a transfer, combines two of them)."""

    requested_at: dt.datetime
    id: int

    @classmethod
    def of(cls, entry: TransferRecord) -> Position:
        return cls(entry.requested_at, entry.id)

    def token(self) -> str:
        return f"{(self.requested_at - _EPOCH) // dt.timedelta(microseconds=1)}-{self.id}"

    @classmethod
    def parse(cls, token: str) -> Position:
        """The inverse of ``token``; ValueError (or OverflowError) for anything else."""
        micros, entry_id = token.split("-")
        if not 0 < int(entry_id) < 2**63:
            raise ValueError("no such entry id")
        return cls(_EPOCH + dt.timedelta(microseconds=int(micros)), int(entry_id))


async def transfers(
    session: AsyncSession, query: TransferQuery, after: Position | None, limit: int
) -> Sequence[TransferRecord]:
    """A page of the record, newest first, after ``after`` (the previous page's end)."""
    select_page = select(TransferRecord).where(*query.where())
    order = (TransferRecord.requested_at, TransferRecord.id)
    if after is not None:
        select_page = select_page.where(
            tuple_(*order) < tuple_(after.requested_at, after.id),
            # The same bound on the partition key alone: PostgreSQL skips the months after it.
            TransferRecord.requested_at <= after.requested_at,
        )
    return (await session.scalars(select_page.order_by(*(c.desc() for c in order)).limit(limit))).all()


async def counts_by_stretch(
    session: AsyncSession, query: TransferQuery, boundaries: Sequence[dt.datetime]
) -> Sequence[Any]:
    """The entries ``query`` selects between ``boundaries[0]`` and ``boundaries[-1]``, counted per
    stretch between two boundaries and outcome, in one grouped COUNT: rows of ``(stretch, outcome,
    entries)``, ``stretch`` the index of the boundary it starts at. The boundaries are moments the
    caller chose (the starts of the city's days, say): the same on SQLite and PostgreSQL, whatever the
    city's zone and its daylight saving."""
    moment = TransferRecord.requested_at
    stretch = _stretch(moment, boundaries[:-1], session.get_bind().dialect.name).label("stretch")
    found = (
        select(stretch, TransferRecord.outcome, func.count().label("entries"))
        .where(*query.where(), moment >= boundaries[0], moment < boundaries[-1])
        .group_by(stretch, TransferRecord.outcome)
    )
    return (await session.execute(found)).all()


def _stretch(
    moment: SQLColumnExpression[dt.datetime], starts: Sequence[dt.datetime], dialect: str | None = None
) -> ColumnElement[int]:
    """The index of the last of ``starts`` at or before ``moment`` (-1: before the first). PostgreSQL
    finds it by one binary search a row (``width_bucket``) when told the dialect; else a CASE tries
    each start in turn, which on a month's chart (31 of them) made the count four times as slow."""
    if dialect == "postgresql" and starts:
        return func.width_bucket(moment, postgresql.array(starts)) - 1
    whens = [(moment >= since, index) for index, since in reversed(list(enumerate(starts)))]
    return case(*whens, else_=-1) if whens else literal(-1)


async def refusal_reasons(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> Sequence[Any]:
    """The refused entries from ``start`` until ``end`` counted per recorded reason: rows of
    ``(refusal_reason, entries)``."""
    query = (
        select(TransferRecord.refusal_reason, func.count().label("entries"))
        .where(
            TransferRecord.outcome == TransferOutcome.REFUSED,
            TransferRecord.requested_at >= start,
            TransferRecord.requested_at < end,
        )
        .group_by(TransferRecord.refusal_reason)
    )
    return (await session.execute(query)).all()


@dataclass(frozen=True)
class OperationQuery:
    """What an auditor narrows the operations record to."""

    person: str | None = None
    client_id: str | None = None
    unit: str | None = None
    action: str | None = None  # "registry" for every registry.*, or one action
    outcome: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None  # exclusive

    def where(self) -> list[ColumnElement[bool]]:
        entry = Operation
        found: list[ColumnElement[bool]] = [
            column == value
            for column, value in (
                (entry.subject_integrated_number, self.person),
                (entry.client_id, self.client_id),
                (entry.unit_code, self.unit),
                (entry.outcome, self.outcome),
            )
            if value is not None
        ]
        if self.action is not None:
            found.append(
                entry.action == self.action
                if "." in self.action
                else entry.action.startswith(self.action + ".")
            )
        if self.start is not None:
            found.append(entry.at >= self.start)
        if self.end is not None:
            found.append(entry.at < self.end)
        return found


async def operations(
    session: AsyncSession, query: OperationQuery, after: Position | None, limit: int
) -> Sequence[Operation]:
    """A page of the operations record, newest first by (at, id), after ``after``."""
    select_page = select(Operation).where(*query.where())
    if after is not None:
        select_page = select_page.where(
            tuple_(Operation.at, Operation.id) < tuple_(after.requested_at, after.id)
        )
    return (
        await session.scalars(select_page.order_by(Operation.at.desc(), Operation.id.desc()).limit(limit))
    ).all()


async def articles(session: AsyncSession, rule_ids: set[str]) -> dict[str, str]:
    """``{"2026-04/U-03": "別表第2 第6項"}`` for the rules transfer records name."""
    pairs = [rule_id.split("/", 1) for rule_id in rule_ids if "/" in rule_id]
    if not pairs:
        return {}
    query = (
        select(OrdinanceVersion.version, OrdinanceRule.code, OrdinanceRule.article)
        .join(OrdinanceRule.version)
        .where(
            OrdinanceVersion.version.in_({p[0] for p in pairs}), OrdinanceRule.code.in_({p[1] for p in pairs})
        )
    )
    return {f"{v}/{c}": article for v, c, article in await session.execute(query)}


async def count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(TransferRecord)) or 0


@dataclass(frozen=True)
class Window:
    """The entries a compliance re-check reads, and the rulebook's boundaries (``Rulebook.boundaries``):
    between two of them one ordinance version governs."""

    start: dt.datetime
    end: dt.datetime
    outcomes: Sequence[TransferOutcome]
    boundaries: Sequence[dt.datetime]
    # The transfers the 番号法 itself decides (the network's table, 住基ネット's 第14条), or the rest.
    network: bool = False

    def where(self) -> list[ColumnElement[bool]]:
        through = TransferRecord.pattern.in_([pattern for pattern in TransferPattern if pattern.by_statute])
        return [
            TransferRecord.requested_at >= self.start,
            TransferRecord.requested_at < self.end,
            TransferRecord.outcome.in_(list(self.outcomes)),
            through if self.network else ~through,
        ]

    def period(self) -> ColumnElement[int]:
        """The index of the last boundary at or before each entry's moment (-1: before the first)."""
        return _stretch(decided_at(), self.boundaries)


def decided_at() -> ColumnElement[dt.datetime]:
    """A notification is decided when it is delivered; a query when it is taken."""
    delivered = and_(TransferRecord.pattern != TransferPattern.QUERY, TransferRecord.provided_at.is_not(None))
    return case((delivered, TransferRecord.provided_at), else_=TransferRecord.requested_at)


# What an ordinance decision depends on, besides the version.
DECISION_KEYS = (
    TransferRecord.requesting_organ,
    TransferRecord.purpose_code,
    TransferRecord.information_category,
    TransferRecord.providing_organ,
    TransferRecord.providing_unit,
)


async def transfer_groups(session: AsyncSession, window: Window) -> Sequence[Any]:
    """The window's entries counted per governing version and decision keys: one row per group."""
    period = window.period().label("period")
    query = (
        select(period, *DECISION_KEYS, func.count().label("entries"))
        .where(*window.where())
        .group_by(period, *DECISION_KEYS)
    )
    return (await session.execute(query)).all()


async def transfers_of_group(session: AsyncSession, window: Window, group: Any) -> AsyncIterator[Any]:
    """The entries of one group, oldest first."""
    query = (
        select(
            TransferRecord.id,
            TransferRecord.reception_number,
            TransferRecord.requested_at,
            decided_at().label("moment"),
        )
        .where(
            *window.where(),
            window.period() == group.period,
            *(key == getattr(group, key.key) for key in DECISION_KEYS),
        )
        .order_by(TransferRecord.id)
        .execution_options(yield_per=10_000)
    )
    result = await session.stream(query)
    try:
        async for entries in result.partitions():
            for entry in entries:
                yield entry
    finally:
        await result.close()


async def latest_purge(session: AsyncSession) -> Purge | None:
    return (await session.scalars(select(Purge).order_by(Purge.id.desc()).limit(1))).first()


async def first_link_at_or_after(session: AsyncSession, boundary: dt.datetime) -> int | None:
    """The first chain link whose entry is not older than ``boundary``: a purge stops before it."""
    # Each link carries its entry's requested_at: on PostgreSQL only the months from the boundary on
    # are read, each by its index on seq.
    return await session.scalar(select(func.min(ChainLink.seq)).where(ChainLink.requested_at >= boundary))


async def remove_prefix(
    session: AsyncSession, last_seq: int, boundary: dt.datetime
) -> tuple[int, tuple[str, int] | None]:
    """Remove the chain up to ``last_seq`` (every link of an entry before ``boundary``, none after)
    with its entries and checkpoints, inside a purge permit. Returns the entries removed and the last
    removed link's chain hash and entry id (the anchor).

    On PostgreSQL the whole months before the boundary go as their partitions (``drop_months``); on
    SQLite, or when the prefix is not exactly the entries before the boundary, row by row."""
    found = (
        await session.execute(
            select(ChainLink.chain_hash, ChainLink.entry_id).where(ChainLink.seq == last_seq)
        )
    ).first()
    anchor = (found.chain_hash, found.entry_id) if found else None
    session.add(PurgePermit(id=1))
    await session.flush()
    removed = (
        await drop_months(session, last_seq, boundary) if await partitions.partitioned(session) else None
    )
    if removed is None:
        entries = select(ChainLink.entry_id).where(ChainLink.seq <= last_seq).scalar_subquery()
        deleted = await session.execute(delete(TransferRecord).where(TransferRecord.id.in_(entries)))
        removed = deleted.rowcount or 0  # type: ignore[attr-defined]
        await session.execute(delete(ChainLink).where(ChainLink.seq <= last_seq))
    await session.execute(delete(Checkpoint).where(Checkpoint.seq <= last_seq))
    await session.execute(delete(PurgePermit))
    return removed, anchor


PURGE_LOCK_TIMEOUT = "10s"  # dropping a partition waits for the readers of the record, inserts behind it


async def drop_months(session: AsyncSession, last_seq: int, boundary: dt.datetime) -> int | None:
    """Drop the partitions (entries and links) of the months wholly before ``boundary`` and delete
    what else lies before it (a default partition's rows), when the chain's prefix up to ``last_seq``
    is exactly the entries before the boundary; None, having changed nothing, when it is not (an
    entry not sealed yet, or sealed after the cut): then the rows go one by one, as on SQLite.

    The prefix is contiguous (the sealer numbers links one after another from the last purge's
    anchor), and every link in it is of an entry before the boundary; so counting the entries before
    the boundary is enough to know. Returns the entries removed."""
    first_seq = await session.scalar(select(func.min(ChainLink.seq)))
    entries_before = (
        select(func.count()).select_from(TransferRecord).where(TransferRecord.requested_at < boundary)
    )
    removed = await session.scalar(entries_before) or 0
    if first_seq is None or removed != last_seq - first_seq + 1:
        return None
    # Fail rather than hold up the hub's inserts behind a long reader (verification): try again later.
    await session.execute(text(f"SET LOCAL lock_timeout = '{PURGE_LOCK_TIMEOUT}'"))
    for parent in (TransferRecord.__tablename__, ChainLink.__tablename__):
        for partition in await partitions.partitions(session, parent):
            if partition.end <= boundary:
                await session.execute(text(f'DROP TABLE "{partition.table}"'))
    await session.execute(delete(TransferRecord).where(TransferRecord.requested_at < boundary))
    await session.execute(delete(ChainLink).where(ChainLink.requested_at < boundary))
    return removed


# What a flow is, for an ordinance draft's replay (ordinance.impact): the decision's keys, the
# receiving unit and the interface, with how the transfer went and how it ended.
FLOW_KEYS = (
    TransferRecord.requesting_unit,
    TransferRecord.interface_id,
    TransferRecord.pattern,
    TransferRecord.outcome,
    *DECISION_KEYS,
)


async def flow_groups(session: AsyncSession, window: Window) -> AsyncIterator[Any]:
    """The window's entries counted per governing version and flow, streamed: one row per group."""
    period = window.period().label("period")
    query = (
        select(period, *FLOW_KEYS, func.count().label("entries"))
        .where(*window.where())
        .group_by(period, *FLOW_KEYS)
        .execution_options(yield_per=1000)
    )
    result = await session.stream(query)
    try:
        async for groups in result.partitions():
            for group in groups:
                yield group
    finally:
        await result.close()


async def flow_examples(session: AsyncSession, window: Window, group: Any, limit: int) -> Sequence[Any]:
    """The first ``limit`` entries of one flow group, oldest first."""
    query = (
        select(TransferRecord.id, TransferRecord.reception_number, TransferRecord.requested_at)
        .where(
            *window.where(),
            window.period() == group.period,
            *(key == getattr(group, key.key) for key in FLOW_KEYS),
        )
        .order_by(TransferRecord.id)
        .limit(limit)
    )
    return (await session.execute(query)).all()


@dataclass(frozen=True)
class HourOfOperations:
    """How many entries one client wrote of one action in one hour of the city's clock."""

    client_id: str
    role: str
    action: str
    hour: dt.datetime  # the hour's start, on the city's clock
    entries: int


async def operations_by_hour(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, zone: ZoneInfo
) -> list[HourOfOperations]:
    """The period's operations counted by client, action and hour of the city (in the database: the
    rows never leave it). SQLite knows no zones: the zone's offset at ``start`` is added (Japan has
    no summer time)."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        local = func.timezone(zone.key, Operation.at)
        hour: ColumnElement[Any] = func.to_char(local, "YYYY-MM-DD HH24")
    else:
        offset = start.astimezone(zone).utcoffset() or dt.timedelta()
        hour = func.strftime("%Y-%m-%d %H", Operation.at, f"{int(offset.total_seconds())} seconds")
    query = (
        select(Operation.client_id, Operation.role, Operation.action, hour.label("hour"), func.count())
        .where(Operation.at >= start, Operation.at < end)
        # By the output's name: the expression's bound values would make it another to PostgreSQL.
        .group_by(Operation.client_id, Operation.role, Operation.action, literal_column("hour"))
        .order_by(literal_column("hour"), Operation.client_id, Operation.action)
    )
    return [
        HourOfOperations(
            client_id,
            role,
            action,
            dt.datetime.strptime(hour_text, "%Y-%m-%d %H").replace(tzinfo=zone),
            entries,
        )
        for client_id, role, action, hour_text, entries in await session.execute(query)
    ]


async def reveals_by_client(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, action: str
) -> list[tuple[str, int, int]]:
    """``(client, entries, persons)`` of one action in the period, most first."""
    entries = func.count()
    query = (
        select(Operation.client_id, entries, func.count(func.distinct(Operation.subject_integrated_number)))
        .where(Operation.action == action, Operation.at >= start, Operation.at < end)
        .group_by(Operation.client_id)
        .order_by(entries.desc(), Operation.client_id)
    )
    return [(client, count, persons) for client, count, persons in await session.execute(query)]


async def last_transfer_of(session: AsyncSession, unit: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When the record last names ``unit`` as the requesting side and as the providing side (each by
    its own index: the unit, then the time)."""
    requested = select(func.max(TransferRecord.requested_at)).where(TransferRecord.requesting_unit == unit)
    provided = select(func.max(TransferRecord.requested_at)).where(TransferRecord.providing_unit == unit)
    return await session.scalar(requested), await session.scalar(provided)


async def operations_not_ok_by_action(session: AsyncSession, start: dt.datetime) -> dict[str, int]:
    """Entries since ``start`` refused or failed, counted by action (the ``at`` index)."""
    query = (
        select(Operation.action, func.count())
        .where(Operation.at >= start, Operation.outcome != "ok")
        .group_by(Operation.action)
    )
    return {action: count for action, count in await session.execute(query)}


# --- the daily report ------------------------------------------------------------------------------


async def transfer_counts(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> Sequence[Any]:
    """``(interface_id, outcome, count)`` of the entries requested in ``[start, end)``."""
    query = (
        select(TransferRecord.interface_id, TransferRecord.outcome, func.count().label("count"))
        .where(TransferRecord.requested_at >= start, TransferRecord.requested_at < end)
        .group_by(TransferRecord.interface_id, TransferRecord.outcome)
        .order_by(TransferRecord.interface_id, TransferRecord.outcome)
    )
    return (await session.execute(query)).all()


async def refusal_counts(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> Sequence[Any]:
    """``(purpose_code, interface_id, refusal_reason, count)`` of the refused entries in ``[start, end)``,
    most first."""
    count = func.count().label("count")
    query = (
        select(TransferRecord.purpose_code, TransferRecord.interface_id, TransferRecord.refusal_reason, count)
        .where(
            TransferRecord.requested_at >= start,
            TransferRecord.requested_at < end,
            TransferRecord.outcome == TransferOutcome.REFUSED,
        )
        .group_by(TransferRecord.purpose_code, TransferRecord.interface_id, TransferRecord.refusal_reason)
        .order_by(count.desc(), TransferRecord.purpose_code, TransferRecord.interface_id)
    )
    return (await session.execute(query)).all()


async def failed_recorded_between(
    session: AsyncSession, requested_since: dt.datetime, start: dt.datetime, end: dt.datetime, prefix: str
) -> Sequence[TransferRecord]:
    """Failed entries recorded in ``[start, end)`` whose reason starts with ``prefix``, of transfers
    requested since ``requested_since`` (which bounds the indexed range read)."""
    query = (
        select(TransferRecord)
        .where(
            TransferRecord.requested_at >= requested_since,
            TransferRecord.requested_at < end,
            TransferRecord.outcome == TransferOutcome.FAILED,
            TransferRecord.recorded_at >= start,
            TransferRecord.recorded_at < end,
            TransferRecord.refusal_reason.startswith(prefix, autoescape=True),
        )
        .order_by(TransferRecord.recorded_at, TransferRecord.id)
    )
    return (await session.scalars(query)).all()


async def operations_of_actions(
    session: AsyncSession, actions: Sequence[str], start: dt.datetime, end: dt.datetime, limit: int
) -> Sequence[Operation]:
    """Entries of ``actions`` in ``[start, end)`` not done (refused, failed), oldest first."""
    query = (
        select(Operation)
        .where(
            Operation.action.in_(list(actions)),
            Operation.at >= start,
            Operation.at < end,
            Operation.outcome != "ok",
        )
        .order_by(Operation.at, Operation.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def operations_by_client(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, *, except_role: str
) -> Sequence[Any]:
    """``(client_id, role, action, count, first, last)`` of the entries in ``[start, end)`` by anyone
    but ``except_role``."""
    query = (
        select(
            Operation.client_id,
            Operation.role,
            Operation.action,
            func.count().label("count"),
            func.min(Operation.at).label("first"),
            func.max(Operation.at).label("last"),
        )
        .where(Operation.at >= start, Operation.at < end, Operation.role != except_role)
        .group_by(Operation.client_id, Operation.role, Operation.action)
        .order_by(Operation.client_id, Operation.action)
    )
    return (await session.execute(query)).all()
