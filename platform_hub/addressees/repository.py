"""All queries of the addressee registry."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from platform_hub.models import (
    AtenaLink,
    KeyCheck,
    Person,
    PersonMerge,
    PersonMergeProposal,
    PersonVersion,
    counters,
)
from platform_hub.protocol.registry import MergeProposalStatus, internal_person_id, person_id_fits

INTEGRATED_COUNTER = "integrated_number"


async def reserve_serials(session: AsyncSession, count: int) -> range:
    """Take ``count`` consecutive serials from the counter."""
    last = await counters.advance(session, INTEGRATED_COUNTER, count)
    return range(last - count + 1, last + 1)


async def integrated_numbers_taken(session: AsyncSession, numbers: Iterable[str]) -> set[str]:
    """Which of these numbers a person holds already (an imported number may sit on the counter's path)."""
    query = select(Person.integrated_number).where(Person.integrated_number.in_(list(numbers)))
    return {number for number in await session.scalars(query) if number is not None}


async def by_reference(session: AsyncSession, reference: str) -> Person | None:
    """The person a reference names: ``P<id>`` (the person id), or a 団体内統合宛名番号."""
    person_id = internal_person_id(reference)
    if person_id is not None:
        if not person_id_fits(person_id):
            return None
        return await session.get(Person, person_id)  # the person id names them for good, numbered or not
    return (await session.scalars(select(Person).where(Person.integrated_number == reference))).one_or_none()


async def by_integrated_number(session: AsyncSession, number: str) -> Person | None:
    return await by_reference(session, number)


async def by_my_number_hash(session: AsyncSession, digest: str) -> Person | None:
    return (await session.scalars(select(Person).where(Person.my_number_hash == digest))).one_or_none()


async def active_link(session: AsyncSession, unit_code: str, atena_number: str) -> AtenaLink | None:
    query = (
        select(AtenaLink)
        .options(joinedload(AtenaLink.person))
        .where(
            AtenaLink.unit_code == unit_code,
            AtenaLink.atena_number == atena_number,
            AtenaLink.unlinked_at.is_(None),
        )
    )
    return (await session.scalars(query)).one_or_none()


# The registry's statements that every linkage message runs, built once on the tables rather than the
# mapped classes: building them costs more than running them, and as plain Core they skip the ORM.
_PERSONS, _LINKS = cast(Table, Person.__table__), cast(Table, AtenaLink.__table__)
_MERGES = cast(Table, PersonMerge.__table__)
# How the hub names a person in its statements (``person_reference``): the 団体内統合宛名番号, else
# P<id>. The prefix is SQL text, not a parameter: the message path compiles these once for asyncpg.
REFERENCE = func.coalesce(
    _PERSONS.c.integrated_number, literal_column("'P'", String) + sql_cast(_PERSONS.c.id, String)
)
# The person behind a unit's active 宛名番号: ``(id, integrated_number)`` — the reference, in truth.
_LINKED_PERSON = (
    select(_PERSONS.c.id, REFERENCE.label("integrated_number"))
    .join(_LINKS, _LINKS.c.person_id == _PERSONS.c.id)
    .where(
        _LINKS.c.unit_code == bindparam("unit_code"),
        _LINKS.c.atena_number == bindparam("atena_number"),
        _LINKS.c.unlinked_at.is_(None),
    )
)


def _translation_statement() -> Select[Any]:
    """``translation``'s statement with a ``to_unit``: the linked person and their links there."""
    person = _LINKED_PERSON.cte("person")
    group = select(person.c.id.label("member")).cte("merge_group", recursive=True)
    merged, into = _MERGES.c.person_id, _MERGES.c.into_person_id
    group = group.union(
        select(case((merged == group.c.member, into), else_=merged))  # the other side of the merge
        .join(group, or_(merged == group.c.member, into == group.c.member))
        .where(_MERGES.c.undone_at.is_(None))
    )
    there = (
        select(_LINKS.c.id, _LINKS.c.person_id, _LINKS.c.atena_number)
        .join(group, group.c.member == _LINKS.c.person_id)
        .where(_LINKS.c.unit_code == bindparam("to_unit"), _LINKS.c.unlinked_at.is_(None))
        .subquery("there")
    )
    translated = (
        select(person.c.id, person.c.integrated_number, there.c.person_id, there.c.atena_number)
        .select_from(person)
        .outerjoin(there, true())
        .order_by(there.c.id)
    )
    return translated


_TRANSLATED = _translation_statement()


async def translation(
    session: AsyncSession, from_unit: str, atena_number: str, to_unit: str | None
) -> Sequence[Any]:
    """One statement for a 宛名番号 crossing units: rows ``(person_id, integrated_number,
    linked_person_id, linked_atena)`` — the person behind ``from_unit``'s number, and each active
    link at ``to_unit`` of that person or of a record 名寄せ joined to it (oldest first; ``None`` when
    there is none). No row: the number is not linked. With no ``to_unit``, the first two only.

    The merge group is a recursive walk (``UNION`` drops what it has seen, so a cycle ends it).
    """
    params = {"unit_code": from_unit, "atena_number": atena_number}
    if to_unit is not None:
        params["to_unit"] = to_unit
    rows: Sequence[Any] = (await session.execute(translation_query(to_unit is not None), params)).all()
    return rows


def translation_query(to_another_unit: bool) -> Select[Any]:
    """``translation``'s statement: with ``to_unit`` (parameters ``unit_code``, ``atena_number``,
    ``to_unit``) or without it."""
    return _TRANSLATED if to_another_unit else _LINKED_PERSON


_LINKED_PERSON_LOCKED = _LINKED_PERSON.with_for_update(of=_PERSONS)
_LOCK_PERSON = select(_PERSONS.c.id).where(_PERSONS.c.id == bindparam("person_id")).with_for_update()


async def linked_person_locked(session: AsyncSession, unit_code: str, atena_number: str) -> Any | None:
    """``(id, integrated_number)`` of the person behind a unit's active 宛名番号, their row locked for
    the change that follows (PostgreSQL; see ``close_current_version``): one plain statement where a
    住民異動 used to load the link and the person as objects."""
    query = _LINKED_PERSON if _single_writer(session) else _LINKED_PERSON_LOCKED
    params = {"unit_code": unit_code, "atena_number": atena_number}
    return (await session.execute(query, params)).one_or_none()


def _single_writer(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def close_current_version(
    session: AsyncSession, person_id: int, on: dt.date, *, locked: bool = False
) -> dt.date | None:
    """End the person's current version on ``on`` (or on its own first day, if later: the history is
    never rewritten); returns the day it ended, ``None`` when there was none.

    The person's row is locked first: two changes of one person at once would otherwise both close
    the same version (PostgreSQL's UPDATE does not see a version inserted after it began) and leave
    two current ones. The UPDATE that follows the lock sees whatever the other change committed.
    SQLite has one writer, and its UPDATE is evaluated once it writes: no lock is needed there.
    ``locked``: the caller's transaction holds the lock already (``linked_person_locked``).
    """
    if not locked and not _single_writer(session):
        await session.execute(_LOCK_PERSON, {"person_id": person_id})
    ends = case((PersonVersion.valid_from > on, PersonVersion.valid_from), else_=literal(on, Date))
    result = await session.execute(
        update(PersonVersion)
        .where(PersonVersion.person_id == person_id, PersonVersion.valid_to.is_(None))
        .values(valid_to=ends)
        .returning(PersonVersion.valid_to)
        .execution_options(synchronize_session="fetch")
    )
    return result.scalar_one_or_none()


async def set_support_measure(session: AsyncSession, person_id: int, support: bool) -> None:
    await session.execute(update(Person).where(Person.id == person_id).values(support_measure=support))


async def persons_by_atena(
    session: AsyncSession, unit_code: str, atena_numbers: Iterable[str]
) -> dict[str, tuple[int, str]]:
    """A unit's 宛名番号 → (person id, integrated number), for those linked: a batch chunk at once."""
    query = (
        select(AtenaLink.atena_number, Person.id, REFERENCE)
        .join(Person, Person.id == AtenaLink.person_id)
        .where(
            AtenaLink.unit_code == unit_code,
            AtenaLink.atena_number.in_(list(atena_numbers)),
            AtenaLink.unlinked_at.is_(None),
        )
    )
    return {atena: (person, integrated) for atena, person, integrated in await session.execute(query)}


async def atena_numbers_of(
    session: AsyncSession, person_ids: Iterable[int], unit_code: str
) -> dict[int, str]:
    """Each person's active 宛名番号 at the unit (the newest, if renumbered); plain rows, no objects."""
    query = (
        select(AtenaLink.person_id, AtenaLink.atena_number)
        .where(
            AtenaLink.person_id.in_(list(person_ids)),
            AtenaLink.unit_code == unit_code,
            AtenaLink.unlinked_at.is_(None),
        )
        .order_by(AtenaLink.id)
    )
    return {person: atena for person, atena in await session.execute(query)}


async def active_links_of(
    session: AsyncSession, person_ids: Iterable[int], unit_code: str
) -> Sequence[AtenaLink]:
    query = (
        select(AtenaLink)
        .where(
            AtenaLink.person_id.in_(list(person_ids)),
            AtenaLink.unit_code == unit_code,
            AtenaLink.unlinked_at.is_(None),
        )
        .order_by(AtenaLink.id)
    )
    return (await session.scalars(query)).all()


async def active_merges_touching(session: AsyncSession, person_ids: Iterable[int]) -> Sequence[PersonMerge]:
    ids = list(person_ids)
    query = select(PersonMerge).where(
        PersonMerge.undone_at.is_(None),
        or_(PersonMerge.person_id.in_(ids), PersonMerge.into_person_id.in_(ids)),
    )
    return (await session.scalars(query)).all()


async def merge_group(session: AsyncSession, person_id: int) -> set[int]:
    """The person and every record 名寄せ joined to it (merges are few, so a short walk)."""
    group, frontier = {person_id}, {person_id}
    while frontier:
        merges = await active_merges_touching(session, frontier)
        found = {m.person_id for m in merges} | {m.into_person_id for m in merges}
        frontier = found - group
        group |= found
    return group


async def linked_at(session: AsyncSession, person_ids: Iterable[int], unit_code: str) -> bool:
    """Whether the unit has an active link to any of these persons."""
    query = select(AtenaLink.id).where(
        AtenaLink.person_id.in_(list(person_ids)),
        AtenaLink.unit_code == unit_code,
        AtenaLink.unlinked_at.is_(None),
    )
    return (await session.scalar(query.limit(1))) is not None


async def my_number_hash_of(session: AsyncSession, person_id: int) -> str | None:
    return await session.scalar(select(Person.my_number_hash).where(Person.id == person_id))


async def version_matches(
    session: AsyncSession, person_id: int, birth_dates: list[str], name_key: str | None, kana_key: str | None
) -> bool:
    """Whether a version of the person (current or former) has this birth date and name (or 読み)."""
    names = [PersonVersion.name_key == name_key] if name_key else []
    names += [PersonVersion.kana_key == kana_key] if kana_key else []
    query = select(PersonVersion.id).where(
        PersonVersion.person_id == person_id, PersonVersion.birth_date.in_(birth_dates), or_(*names)
    )
    return (await session.scalar(query.limit(1))) is not None


async def merges_of(session: AsyncSession, person_id: int) -> Sequence[PersonMerge]:
    query = (
        select(PersonMerge)
        .where(or_(PersonMerge.person_id == person_id, PersonMerge.into_person_id == person_id))
        .order_by(PersonMerge.id)
    )
    return (await session.scalars(query)).all()


async def get_merge(session: AsyncSession, merge_id: int) -> PersonMerge | None:
    return await session.get(PersonMerge, merge_id)


async def persons_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, Person]:
    persons = (await session.scalars(select(Person).where(Person.id.in_(list(ids))))).all()
    return {person.id: person for person in persons}


# --- search: each lookup one statement ------------------------------------------------------------
#
# A search reads plain rows, not entities: it is the registry's hot path. Each lookup is one statement
# that finds the persons and all an answer needs — the person (restrictions, whether a My Number is
# held), the current version, and the active links the caller may see — as rows of person × matched
# version × link (a LEFT JOIN: a person without links still comes back once per version). The same
# statement runs on SQLite and PostgreSQL; one is built per shape of request, once, and reused.

_VERSIONS = cast(Table, PersonVersion.__table__)
_CURRENT = _VERSIONS.alias("cur")
_ANSWER_COLUMNS = (
    REFERENCE.label("reference"),
    _PERSONS.c.integrated_number,
    _PERSONS.c.my_number_hash.is_not(None).label("has_my_number"),
    _PERSONS.c.restricted_attributes,
    _PERSONS.c.restricted_by_unit,
    _PERSONS.c.support_measure,
    *(
        _CURRENT.c[name]
        for name in (
            "family_name",
            "given_name",
            "jukinet_purpose",
            "name",
            "name_kana",
            "birth_date",
            "sex",
            "address",
            "municipality_code",
            "status",
            "valid_from",
            "valid_to",
            "reason",
        )
    ),
    _LINKS.c.id.label("link_id"),
    _LINKS.c.unit_code,
    _LINKS.c.atena_number,
)
# The search keys of a version a name search matched, as ``m_*`` beside the current version's columns.
_MATCHED_KEYS = (
    "valid_to",
    "name_key",
    "kana_key",
    "family_key",
    "given_key",
    "birth_date",
    "sex",
    "address_key",
    "jukinet_purpose",
)
LIKE_ESCAPE = "/"


def like_escaped(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (what ``contains(autoescape=True)`` does)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _answer(persons_from: Any, person_id: Any, for_unit: bool) -> Any:
    """``persons_from`` joined to the person's current version and the active links the caller sees
    (a unit its own: ``unit_code`` bound; the office every unit's)."""
    links = and_(_LINKS.c.person_id == person_id, _LINKS.c.unlinked_at.is_(None))
    if for_unit:
        links = and_(links, _LINKS.c.unit_code == bindparam("unit_code"))
    return persons_from.outerjoin(
        _CURRENT, and_(_CURRENT.c.person_id == person_id, _CURRENT.c.valid_to.is_(None))
    ).outerjoin(_LINKS, links)


@functools.lru_cache(maxsize=4)
def _by_my_number(for_unit: bool) -> Select[Any]:
    return (
        select(_PERSONS.c.id.label("person_id"), *_ANSWER_COLUMNS)
        .select_from(_answer(_PERSONS, _PERSONS.c.id, for_unit))
        .where(_PERSONS.c.my_number_hash == bindparam("digest"))
        .order_by(_LINKS.c.unit_code, _LINKS.c.id)
    )


@dataclass(frozen=True)
class BasicInfoShape:
    """What a search by 氏名 (or 読み) and 生年月日 compares: one statement per shape."""

    exact: bool
    name: bool
    kana: bool
    address: bool
    family: bool  # 氏 on its own
    given: bool  # 名 on its own
    sex: bool  # exact only: a partial search scores 性別 but does not narrow by it
    include_history: bool
    for_unit: bool


@functools.lru_cache(maxsize=128)
def _by_basic_info(shape: BasicInfoShape) -> Select[Any]:
    """The versions that match (at most ``rows``, by person), each with its person's answer.

    A record whose day of birth is unknown (DD 00) matches any day of that month, one whose month is
    unknown too (MM-DD 00-00) any day of that year; an exact search compares the keys whole (氏名, 読み,
    氏 and 名 all that are given), a partial one looks for them inside (any), and 住所 from its start."""
    v = _VERSIONS.c
    conditions: list[ColumnElement[bool]] = [
        v.birth_date.in_([bindparam("birth_date"), bindparam("birth_month"), bindparam("birth_year")])
    ]
    names: list[ColumnElement[bool]] = []
    keys = (
        (shape.name, v.name_key),
        (shape.kana, v.kana_key),
        (shape.family, v.family_key),
        (shape.given, v.given_key),
    )
    for given, column in keys:
        if given:
            key: BindParameter[str] = bindparam(column.name)
            names.append(column == key if shape.exact else column.like(key, escape=LIKE_ESCAPE))
    conditions.append(and_(*names) if shape.exact else or_(*names))
    if shape.address:
        key = bindparam("address_key")
        conditions.append(
            v.address_key == key if shape.exact else v.address_key.like(key, escape=LIKE_ESCAPE)
        )
    if shape.sex:
        conditions.append(v.sex == bindparam("sex"))
    if not shape.include_history:
        conditions.append(v.valid_to.is_(None))
    matched = (
        select(v.person_id, v.id.label("version_id"), *(v[name].label(f"m_{name}") for name in _MATCHED_KEYS))
        .where(*conditions)
        .order_by(v.person_id, v.id)
        .limit(bindparam("rows", type_=Integer))
        .subquery("matched")
    )
    joined = matched.join(_PERSONS, _PERSONS.c.id == matched.c.person_id)
    return (
        select(*matched.c, *_ANSWER_COLUMNS)
        .select_from(_answer(joined, matched.c.person_id, shape.for_unit))
        .order_by(matched.c.person_id, matched.c.version_id, _LINKS.c.unit_code, _LINKS.c.id)
    )


async def lookup_by_my_number(session: AsyncSession, digest: str, unit_code: str | None) -> Sequence[Any]:
    """The person holding the My Number (by its keyed hash), one row per link the caller sees."""
    params = {"digest": digest} if unit_code is None else {"digest": digest, "unit_code": unit_code}
    rows: Sequence[Any] = (await session.execute(_by_my_number(unit_code is not None), params)).all()
    return rows


async def lookup_by_basic_info(
    session: AsyncSession, shape: BasicInfoShape, params: dict[str, Any]
) -> Sequence[Any]:
    """Rows of matched version × link, by person and version (``params``: the shape's keys, the two
    birth dates, ``rows``, and ``unit_code`` for a unit)."""
    rows: Sequence[Any] = (await session.execute(_by_basic_info(shape), params)).all()
    return rows


# --- 名寄せ proposals ----------------------------------------------------------------------------


async def unnumbered_lookalikes(session: AsyncSession, person_id: int) -> dict[int, list[str]]:
    """Records without a 個人番号 (nor a 団体内統合宛名番号 to tell them apart) with a version whose
    氏名, 生年月日 and 性別 agree with one of this person's — a 住登外者 who arrives with a 個人番号 is
    the same person as one a unit knew by 基本4情報 — each with what agreed. Those joined to the
    person already, or proposed before (rejected ones included: an operator said no), are left out."""
    mine, theirs = _VERSIONS.alias("mine"), _VERSIONS.alias("theirs")
    proposed = (
        select(PersonMergeProposal.person_id)
        .where(PersonMergeProposal.into_person_id == person_id)
        .union(select(PersonMergeProposal.into_person_id).where(PersonMergeProposal.person_id == person_id))
    )
    query = (
        select(theirs.c.person_id, mine.c.kana_key == theirs.c.kana_key)
        .join(
            theirs,
            and_(
                theirs.c.name_key == mine.c.name_key,
                theirs.c.birth_date == mine.c.birth_date,
                theirs.c.sex == mine.c.sex,
                theirs.c.person_id != person_id,
            ),
        )
        .join(_PERSONS, _PERSONS.c.id == theirs.c.person_id)
        .where(
            mine.c.person_id == person_id,
            _PERSONS.c.my_number_hash.is_(None),
            theirs.c.person_id.not_in(proposed),
        )
    )
    found: dict[int, list[str]] = {}
    group = await merge_group(session, person_id)
    for other, same_kana in await session.execute(query):
        if other in group:
            continue
        basis = ["name", "birth_date", "sex"] + (["name_kana"] if same_kana else [])
        if len(basis) > len(found.get(other, [])):
            found[other] = basis
    return found


async def pending_proposal(
    session: AsyncSession, person_id: int, into_person_id: int
) -> PersonMergeProposal | None:
    query = select(PersonMergeProposal).where(
        PersonMergeProposal.person_id == person_id,
        PersonMergeProposal.into_person_id == into_person_id,
        PersonMergeProposal.status == MergeProposalStatus.PROPOSED,
    )
    return (await session.scalars(query.limit(1))).first()


async def proposals(
    session: AsyncSession, status: MergeProposalStatus | None, limit: int
) -> Sequence[PersonMergeProposal]:
    query = select(PersonMergeProposal).order_by(PersonMergeProposal.id).limit(limit)
    if status is not None:
        query = query.where(PersonMergeProposal.status == status)
    return (await session.scalars(query)).all()


async def get_proposal(session: AsyncSession, proposal_id: int) -> PersonMergeProposal | None:
    return await session.get(PersonMergeProposal, proposal_id, with_for_update=not _single_writer(session))


async def references_of(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    rows = await session.execute(select(_PERSONS.c.id, REFERENCE).where(_PERSONS.c.id.in_(list(ids))))
    return {person_id: reference for person_id, reference in rows}


async def key_fingerprint(session: AsyncSession, name: str) -> str | None:
    found = await session.get(KeyCheck, name)
    return found.fingerprint if found else None


def add_key_fingerprint(session: AsyncSession, name: str, fingerprint: str) -> None:
    session.add(KeyCheck(name=name, fingerprint=fingerprint))
