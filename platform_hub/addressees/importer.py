"""Bulk import of a unit's addressees from CSV: streamed in batches, one error line per bad row.

Columns (UTF-8, header row): ``atena_number, my_number, name, name_kana, birth_date, sex, address,
municipality_code, status, valid_from`` and, optionally, ``integrated_number``; ``my_number``,
``name_kana``, ``municipality_code``, ``valid_from`` and ``integrated_number`` may be empty, ``status``
defaults to resident. A row whose 個人番号 the registry knows links the unit's number to that person;
any other row creates a person (joining records of one person without a 個人番号 is 名寄せ, a clerk's
decision, not the importer's).

A 団体内統合宛名番号 goes with a 個人番号 (one to one): a row with a 個人番号 keeps the number the city's
former 団体内統合宛名 system gave it (``integrated_number``: 15 digits, taken as it is — migrated
numbers are not renumbered, nor held to the check digit of new ones), or is issued one; a row without
a 個人番号 has none, and the person is known by their person id. A number that is malformed, repeated
in the file, held by another person already, or given without a 個人番号, is that row's error.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import String, any_, bindparam, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_hub.addressees import repository, service
from platform_hub.kit.clock import city_today, utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import AtenaLink, Person, PersonVersion
from platform_hub.models.base import Base
from platform_hub.protocol import normalize
from platform_hub.protocol.numbers import UNNUMBERED_ATENA, RemainderOne, is_atena_form, is_valid_my_number
from platform_hub.protocol.registry import BasicInfo, IntegratedNumberBasis, ResidentStatus

COLUMNS = (
    "atena_number",
    "my_number",
    "name",
    "name_kana",
    "birth_date",
    "sex",
    "address",
    "municipality_code",
    "status",
    "valid_from",
    "integrated_number",
)
BATCH = 2000


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    linked: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, atena number, problem)


@dataclass
class _Row:
    line: int
    atena: str
    my_number_hash: str | None
    my_number: str | None = field(repr=False)
    info: BasicInfo
    status: ResidentStatus
    valid_from: dt.date
    integrated_number: str | None = None  # a migrated 団体内統合宛名番号, kept as it is


def _integrated_number(raw: dict[str, str], my_number: str | None) -> str | None:
    number = (raw.get("integrated_number") or "").strip() or None
    if number is None:
        return None
    if len(number) != 15 or not number.isascii() or not number.isdigit():
        raise ValueError("integrated_number must be 15 digits")
    if my_number is None:
        raise ValueError("integrated_number goes with the 個人番号 (one to one): the row has none")
    return number


def _parse(line: int, raw: dict[str, str], vault: MyNumberVault, today: dt.date) -> _Row:
    """One CSV row checked; ``ValueError`` names the problem (never the 個人番号 itself)."""
    atena = (raw.get("atena_number") or "").strip()
    if not is_atena_form(atena) or atena == UNNUMBERED_ATENA:
        # The unit's numbers from before the hub: taken as they are, their check digit unexamined.
        raise ValueError("atena_number must be 15 characters [0-9A-Z] (and not 未採番)")
    my_number = (raw.get("my_number") or "").strip() or None
    if my_number is not None and not is_valid_my_number(my_number):
        raise ValueError("my_number is not a valid 個人番号 (12 digits, check digit)")
    integrated = _integrated_number(raw, my_number)
    try:
        status = ResidentStatus((raw.get("status") or ResidentStatus.RESIDENT).strip())
    except ValueError:
        raise ValueError(f"status must be one of {', '.join(sorted(ResidentStatus))}") from None
    try:
        info = BasicInfo(
            name=raw.get("name", ""),
            name_kana=raw.get("name_kana") or None,
            birth_date=raw.get("birth_date", ""),
            sex=raw.get("sex", ""),
            address=raw.get("address", ""),
            municipality_code=raw.get("municipality_code") or None,
        )
    except ValidationError as exc:
        raise ValueError("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())) from None
    try:  # the message names no cell value: a shifted column may put a 個人番号 here
        valid_from = dt.date.fromisoformat(raw["valid_from"]) if raw.get("valid_from") else today
    except ValueError:
        raise ValueError("valid_from: a date YYYY-MM-DD") from None
    return _Row(
        line,
        atena,
        vault.lookup_hash(my_number) if my_number else None,
        my_number,
        info,
        status,
        valid_from,
        integrated,
    )


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


async def import_csv(
    sessions: async_sessionmaker[AsyncSession],
    vault: MyNumberVault,
    unit_code: str,
    stream: IO[str],
    *,
    actor: str,
    progress: Callable[[int], None] = lambda _: None,
    remainder_one: RemainderOne = RemainderOne.ZERO,
) -> ImportReport:
    """Import every row; each batch commits on its own, so a bad row never loses the good ones."""
    report, today = ImportReport(), city_today()
    reader = csv.DictReader(stream)
    missing = {"atena_number", "name", "birth_date", "sex", "address"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"the CSV lacks the columns {', '.join(sorted(missing))}")
    for batch in _batches(enumerate(reader, start=2), BATCH):
        rows: list[_Row] = []
        for line, raw in batch:
            try:
                rows.append(_parse(line, raw, vault, today))
            except ValueError as exc:
                cell = (raw.get("atena_number") or "").strip()
                # Echo the number only if it is one: a shifted column could put a 個人番号 there.
                report.errors.append((line, cell if is_atena_form(cell) else "", str(exc)))
        async with unit_of_work(sessions) as session:
            await _store(session, vault, unit_code, rows, report, actor, remainder_one)
            if report.rows == 0:
                await _refresh_statistics(session)
        report.rows += len(batch)
        progress(len(batch))
    return report


async def _store(
    session: AsyncSession,
    vault: MyNumberVault,
    unit_code: str,
    rows: list[_Row],
    report: ImportReport,
    actor: str,
    remainder_one: RemainderOne,
) -> None:
    rows = _drop_duplicates(rows, report)
    connection = await session.connection()
    numbers = _one_of(connection.dialect.name, AtenaLink.atena_number, [r.atena for r in rows])
    linked = set(
        (
            await connection.scalars(
                select(AtenaLink.atena_number).where(
                    AtenaLink.unit_code == unit_code, AtenaLink.unlinked_at.is_(None), numbers
                )
            )
        ).all()
    )
    hashes = _one_of(
        connection.dialect.name, Person.my_number_hash, [r.my_number_hash for r in rows if r.my_number_hash]
    )
    known: dict[str | None, tuple[int, str | None]] = {
        h: (i, n)
        for h, i, n in await connection.execute(
            select(Person.my_number_hash, Person.id, Person.integrated_number).where(hashes)
        )
    }
    given = [r.integrated_number for r in rows if r.integrated_number]
    held = await repository.integrated_numbers_taken(session, given) if given else set()
    fresh: list[_Row] = []
    kept: list[_Row] = []
    for row in rows:
        problem = _conflict(row, linked, known, held, unit_code)
        if problem is not None:
            report.errors.append((row.line, row.atena, problem))
            continue
        kept.append(row)
        if row.my_number_hash not in known:
            fresh.append(row)
    rows = kept
    created = dict(
        zip(
            (row.line for row in fresh),
            await _create_persons(session, vault, fresh, remainder_one),
            strict=True,
        )
    )
    now = utcnow()
    links = [
        {
            "person_id": known[row.my_number_hash][0]
            if row.line not in created and row.my_number_hash
            else created[row.line],
            "unit_code": unit_code,
            "atena_number": row.atena,
            "non_resident": row.status == ResidentStatus.NON_RESIDENT,
            "linked_at": now,
            "linked_by": actor,
            "link_reason": "一括取込",
        }
        for row in rows
    ]
    if links:
        await _bulk_insert(session, AtenaLink, links)
    report.created += len(fresh)
    report.linked += len(links) - len(fresh)


def _conflict(
    row: _Row,
    linked: set[str],
    known: dict[str | None, tuple[int, str | None]],
    held: set[str],
    unit_code: str,
) -> str | None:
    """Why the row cannot go in as it is (``None``: it can)."""
    if row.atena in linked:
        return f"already linked in unit {unit_code}"
    if row.integrated_number is None:
        return None
    holder = known.get(row.my_number_hash) if row.my_number_hash else None
    if holder is not None:
        # The person of this 個人番号 is known: the number must be theirs, one to one.
        return (
            None
            if holder[1] == row.integrated_number
            else ("the person of this 個人番号 holds another 団体内統合宛名番号")
        )
    if row.integrated_number in held:
        return "integrated_number is held by another person already"
    return None


async def _refresh_statistics(session: AsyncSession) -> None:
    """On PostgreSQL, let the planner see the tables' real size after the first batch: a registry
    loaded from empty would otherwise be planned as empty — sequential scans for every lookup."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("ANALYZE persons, person_versions, atena_links"))


def _one_of(dialect: str, column: Any, values: list[str]) -> Any:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of thousands."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    return column.in_(values)


def _drop_duplicates(rows: list[_Row], report: ImportReport) -> list[_Row]:
    """Within one batch a 宛名番号 or 個人番号 may appear once; later repeats are errors."""
    seen_atena: set[str] = set()
    seen_hash: set[str] = set()
    seen_integrated: set[str] = set()
    kept = []
    for row in rows:
        if (
            row.atena in seen_atena
            or (row.my_number_hash and row.my_number_hash in seen_hash)
            or (row.integrated_number and row.integrated_number in seen_integrated)
        ):
            report.errors.append((row.line, row.atena, "repeats an earlier row of the file"))
            continue
        seen_atena.add(row.atena)
        if row.my_number_hash:
            seen_hash.add(row.my_number_hash)
        if row.integrated_number:
            seen_integrated.add(row.integrated_number)
        kept.append(row)
    return kept


async def _create_persons(
    session: AsyncSession, vault: MyNumberVault, rows: list[_Row], remainder_one: RemainderOne
) -> list[int]:
    if not rows:
        return []
    # Only a row with a 個人番号 has a 団体内統合宛名番号: its own (migrated), or one issued now.
    wanted = sum(1 for row in rows if row.my_number and not row.integrated_number)
    importing = frozenset(row.integrated_number for row in rows if row.integrated_number)
    issued = iter(
        await service.issue_integrated_numbers(session, wanted, importing, remainder_one=remainder_one)
    )
    now = utcnow()
    persons: list[dict[str, Any]] = []
    for row in rows:
        number, basis = None, None
        if row.my_number:
            number = row.integrated_number or next(issued)
            basis = IntegratedNumberBasis.IMPORTED if row.integrated_number else IntegratedNumberBasis.ISSUED
        key_id, blob = vault.encrypt(row.my_number, number) if row.my_number and number else (None, None)
        persons.append(
            {
                "integrated_number": number,
                "integrated_number_basis": basis,
                "my_number_key_id": key_id,
                "my_number_ciphertext": blob,
                "my_number_hash": row.my_number_hash,
                "restricted_attributes": "[]",
                "created_at": now,
            }
        )
    ids = await _insert_persons(session, persons)
    versions = [
        {
            "person_id": pid,
            "valid_from": row.valid_from,
            "valid_to": None,
            "name": row.info.name,
            "name_kana": row.info.name_kana,
            "birth_date": row.info.birth_date,
            "sex": row.info.sex,
            "address": row.info.address,
            "municipality_code": row.info.municipality_code,
            "status": row.status,
            "name_key": normalize.name_key(row.info.name),
            "kana_key": normalize.kana_key(row.info.name_kana) if row.info.name_kana else None,
            "address_key": normalize.address_key(row.info.address),
            "reason": "一括取込",
            "recorded_at": now,
        }
        for pid, row in zip(ids, rows, strict=True)
    ]
    await _bulk_insert(session, PersonVersion, versions)
    return ids


async def _insert_persons(session: AsyncSession, persons: list[dict[str, Any]]) -> list[int]:
    """Insert and return the new ids; on PostgreSQL the ids come from the sequence, rows by COPY."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        for person in persons:
            person["restricted_attributes"] = []
        result = await session.execute(
            insert(Person).returning(Person.id, sort_by_parameter_order=True), persons
        )
        return list(result.scalars())
    ids = list(
        await session.scalars(
            text("SELECT nextval(pg_get_serial_sequence('persons', 'id')) FROM generate_series(1, :n)"),
            {"n": len(persons)},
        )
    )
    await _bulk_insert(session, Person, [{"id": i, **p} for i, p in zip(ids, persons, strict=True)])
    return ids


async def _bulk_insert(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL — a multi-row INSERT costs more in building the statement than in storing it."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        await session.execute(insert(model), rows)
        return
    columns = list(rows[0])
    raw = await connection.get_raw_connection()
    statement = f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN"
    cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
    async with cursor, cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row([row[column] for column in columns])
