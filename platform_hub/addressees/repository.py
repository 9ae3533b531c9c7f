"""All queries of the addressee registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Table,
    and_,
    bindparam,
    case,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from platform_hub.models import AtenaLink, KeyCheck, Person, PersonMerge, PersonVersion, counters

INTEGRATED_COUNTER = "integrated_number"


async def reserve_serials(session: AsyncSession, count: int) -> range:
    """Take ``count`` consecutive serials from the counter."""
    last = await counters.advance(session, INTEGRATED_COUNTER, count)
    return range(last - count + 1, last + 1)


async def by_integrated_number(session: AsyncSession, number: str) -> Person | None:
    return (await session.scalars(select(Person).where(Person.integrated_number == number))).one_or_none()


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
# The person behind a unit's active 宛名番号: ``(id, integrated_number)``.
_LINKED_PERSON = (
    select(_PERSONS.c.id, _PERSONS.c.integrated_number)
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


async def persons_by_atena(
    session: AsyncSession, unit_code: str, atena_numbers: Iterable[str]
) -> dict[str, tuple[int, str]]:
    """A unit's 宛名番号 → (person id, integrated number), for those linked: a batch chunk at once."""
    query = (
        select(AtenaLink.atena_number, Person.id, Person.integrated_number)
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


# Search reads plain rows, not entities: it is the registry's hot path.
_VERSION_COLUMNS = (
    PersonVersion.person_id,
    PersonVersion.valid_from,
    PersonVersion.valid_to,
    PersonVersion.name,
    PersonVersion.name_kana,
    PersonVersion.birth_date,
    PersonVersion.sex,
    PersonVersion.address,
    PersonVersion.municipality_code,
    PersonVersion.status,
    PersonVersion.reason,
    PersonVersion.name_key,
    PersonVersion.kana_key,
    PersonVersion.address_key,
)
_PERSON_COLUMNS = (
    Person.integrated_number,
    Person.my_number_key_id,
    Person.my_number_ciphertext,
    Person.my_number_hash,
    Person.restricted_attributes,
    Person.restricted_by_unit,
)


async def matching_versions(
    session: AsyncSession, conditions: list[ColumnElement[bool]], include_history: bool, limit: int
) -> Sequence[Any]:
    query = select(*_VERSION_COLUMNS).where(and_(*conditions))
    if not include_history:
        query = query.where(PersonVersion.valid_to.is_(None))
    return (await session.execute(query.order_by(PersonVersion.person_id).limit(limit))).all()


async def current_rows(session: AsyncSession, condition: ColumnElement[bool]) -> Sequence[Any]:
    """Persons with their current version, as rows."""
    query = (
        select(*_PERSON_COLUMNS, *_VERSION_COLUMNS)
        .join(PersonVersion, and_(PersonVersion.person_id == Person.id, PersonVersion.valid_to.is_(None)))
        .where(condition)
    )
    return (await session.execute(query)).all()


async def active_link_rows(
    session: AsyncSession, person_ids: Iterable[int], unit_code: str | None
) -> Sequence[Any]:
    query = select(AtenaLink.person_id, AtenaLink.unit_code, AtenaLink.atena_number).where(
        AtenaLink.person_id.in_(list(person_ids)), AtenaLink.unlinked_at.is_(None)
    )
    if unit_code is not None:
        query = query.where(AtenaLink.unit_code == unit_code)
    return (await session.execute(query.order_by(AtenaLink.unit_code, AtenaLink.id))).all()


async def key_fingerprint(session: AsyncSession, name: str) -> str | None:
    found = await session.get(KeyCheck, name)
    return found.fingerprint if found else None


def add_key_fingerprint(session: AsyncSession, name: str, fingerprint: str) -> None:
    session.add(KeyCheck(name=name, fingerprint=fingerprint))
