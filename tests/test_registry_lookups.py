"""Each registry lookup — by My Number (its keyed hash), exact 基本4情報, partial name and birth date —
finds the persons and all an answer needs (current version, the links the caller may see, the
restrictions) in one SQL statement; the record of the answer (its transfer entries, the operation)
adds a bounded few. Counted on the engine, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from platform_hub.addressees import access, repository, service, views
from platform_hub.addressees.access import Caller
from platform_hub.addressees.importer import COLUMNS, import_csv
from platform_hub.audit.operations import Actor, record_operation
from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import MyNumberVault, generate_key_file, load_vault
from platform_hub.models import Unit
from platform_hub.ordinance import service as ordinance
from platform_hub.protocol.numbers import atena_number
from platform_hub.protocol.registry import BasicInfo, ResidentStatus, SearchRequest

TARO_NUMBER, HANAKO_NUMBER = "123456789018", "234567890121"
TARO = {
    "my_number": TARO_NUMBER,
    "name": "山田　太郎",
    "name_kana": "ヤマダ　タロウ",
    "birth_date": "1985-04-01",
    "sex": "1",
    "address": "東京都千代田区丸の内一丁目１番１号",
}
HANAKO = {
    **TARO,
    "my_number": HANAKO_NUMBER,
    "name": "山田　花子",
    "name_kana": "ヤマダ　ハナコ",
    "sex": "2",
}
JIRO = {
    **TARO,
    "my_number": "",
    "name": "山田　次郎",
    "name_kana": "ヤマダ　ジロウ",
    "birth_date": "1985-04-00",
}
SATO = {**TARO, "my_number": "", "name": "佐藤　一郎", "name_kana": "サトウ　イチロウ"}
# Who each unit numbers (its 宛名番号 are serial + 1000 × the unit's code).
NUMBERED = {"001": [TARO, HANAKO, JIRO, SATO], "002": [TARO, HANAKO], "011": [TARO]}
UNITS = {
    "002": Unit(code="002", name="個人住民税", organ="市長", purposes=["ZEI-001"], enabled=True),
    "011": Unit(code="011", name="児童手当", organ="市長", purposes=["JDT-001"], enabled=True),
}


@dataclass
class Registry:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: MyNumberVault
    rulebook: ordinance.Rulebook
    numbers: dict[str, str]  # name → integrated number

    def caller(self, unit: str | None, purpose: str | None = None) -> Caller:
        if unit is None:
            return Caller(client_id="office", unit=None, rulebook=self.rulebook)
        return Caller(
            client_id=f"unit-{unit}",
            unit=UNITS[unit],
            purpose=purpose,
            uses_numbers=True,
            rulebook=self.rulebook,
        )


def unit_csv(unit: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    everyone = NUMBERED["001"]
    for person in NUMBERED[unit]:
        serial = int(unit) * 1000 + everyone.index(person) + 1
        writer.writerow({**person, "atena_number": atena_number(serial), "status": "resident"})
    return out.getvalue()


@pytest.fixture
async def registry(database_url: str, tmp_path: Path) -> AsyncIterator[Registry]:
    """Four persons: 太郎 (numbered by 001, 002, 011; moved house once), 花子 (001 and 002; 002 hid her
    address), 次郎 (day of birth unknown) and 佐藤 (001 only)."""
    generate_key_file(tmp_path / "keys.json")
    vault = load_vault(tmp_path / "keys.json")
    engine = create_engine(Settings(database_url=database_url).async_database_url)
    sessions = create_sessionmaker(engine)
    try:
        for unit in NUMBERED:
            report = await import_csv(sessions, vault, unit, io.StringIO(unit_csv(unit)), actor="tests")
            assert not report.errors, report.errors
        async with unit_of_work(sessions) as session:
            numbers = {}
            for person in NUMBERED["001"]:
                found = await repository.persons_by_atena(session, "001", [atena_number(1001 + len(numbers))])
                numbers[person["name"]] = next(iter(found.values()))[1]
            taro = await service.get_person(session, numbers[TARO["name"]])
            info = {key: TARO[key] for key in ("name", "name_kana", "birth_date", "sex")}
            moved = BasicInfo(**info, address="東京都千代田区丸の内二丁目３番４号")
            await service.add_version(
                session,
                taro.id,
                moved,
                status=ResidentStatus.RESIDENT,
                valid_from=dt.date(2026, 4, 1),
                reason="転居",
            )
            hanako = await service.get_person(session, numbers[HANAKO["name"]])
            await service.restrict(session, hanako, Caller("unit-002", UNITS["002"]), "002", ["address"])
            rulebook = await ordinance.rulebook(session)
        yield Registry(engine, sessions, vault, rulebook, numbers)
    finally:
        await engine.dispose()


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements the engine sends while the block runs (an executemany counts once)."""
    sent: list[str] = []

    def seen(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


LOOKUPS = {
    "my_number": SearchRequest(my_number=TARO_NUMBER),
    "exact": SearchRequest(
        name=TARO["name"],
        name_kana=TARO["name_kana"],
        birth_date=TARO["birth_date"],
        sex=TARO["sex"],
        address="東京都千代田区丸の内1-1-1",  # the former address: still 太郎
    ),
    "partial": SearchRequest(name="山田", birth_date="1985-04-01", match="partial"),
}


@pytest.mark.parametrize("unit", [None, "011", "002"])
@pytest.mark.parametrize("lookup", list(LOOKUPS))
async def test_each_lookup_is_one_statement(registry: Registry, lookup: str, unit: str | None) -> None:
    caller = registry.caller(unit, "JDT-001" if unit == "011" else "ZEI-001")
    async with unit_of_work(registry.sessions) as session:
        await session.connection()  # the transaction's own start is not the lookup's
        with statements(registry.engine) as sent:
            candidates, shown = await views.search(session, registry.vault, LOOKUPS[lookup], caller)
    assert len(sent) == 1, sent
    assert candidates and len(shown) == len(candidates)
    assert candidates[0].person_id == registry.numbers[TARO["name"]]
    for candidate in candidates:  # a unit sees only its own links; the office every unit's
        assert all(link.unit_code == unit for link in candidate.links) if unit else candidate.links


async def test_lookups_answer_what_they_did(registry: Registry) -> None:
    """What the answers carry, so that one statement changed none of it: scores, what matched (a
    former version too), the unknown day of birth, the caller's links, 他業務参照不可."""
    numbers = registry.numbers
    async with unit_of_work(registry.sessions) as session:
        by_number, _ = await views.search(
            session, registry.vault, LOOKUPS["my_number"], registry.caller("011")
        )
        exact, _ = await views.search(session, registry.vault, LOOKUPS["exact"], registry.caller(None))
        partial, shown = await views.search(
            session, registry.vault, LOOKUPS["partial"], registry.caller("011")
        )
        hidden_by, _ = await views.search(
            session,
            registry.vault,
            SearchRequest(name="山田花子", birth_date="1985-04-01", address="東京都千代田区丸の内1-1-1"),
            registry.caller("011"),
        )
        wildcards = [  # LIKE's own characters are searched for as they are
            await views.search(
                session,
                registry.vault,
                SearchRequest(name=name, birth_date="1985-04-01", match="partial"),
                registry.caller(None),
            )
            for name in ("%", "_", "/")
        ]
        seen_by_setter, setter_shown = await views.search(
            session, registry.vault, SearchRequest(my_number=HANAKO_NUMBER), registry.caller("002")
        )
    (taro,) = by_number
    assert (taro.score, taro.matched, taro.matched_former, taro.has_my_number) == (
        10,
        ["my_number"],
        False,
        True,
    )
    assert [(link.unit_code, link.atena_number) for link in taro.links] == [("011", atena_number(11001))]
    assert taro.current.address == "東京都千代田区丸の内二丁目３番４号" and taro.current.status_ja == "住民"
    (former,) = exact
    assert former.matched == ["name", "name_kana", "birth_date", "sex", "address"] and former.matched_former
    assert former.score == 11 * 2 - 1  # the weights, doubled, less one for a former version
    assert [link.unit_code for link in former.links] == ["001", "002", "011"]
    assert [c.person_id for c in partial] == [numbers[n] for n in ("山田　太郎", "山田　花子", "山田　次郎")]
    assert {c.matched_former for c in partial} == {False}
    assert [c.score for c in partial] == [12, 12, 12] and [len(c.links) for c in partial] == [1, 0, 0]
    hanako = partial[1]
    assert hanako.current.address is None and hanako.current.name == "山田　花子"  # hidden from 011
    assert "住所" not in shown[1][1] and "住所" in shown[0][1]
    assert hidden_by == []  # a hidden address does not confirm the person found through it
    assert wildcards == [([], [])] * 3
    (hanako_for_002,) = seen_by_setter
    assert hanako_for_002.current.address == TARO["address"] and "住所" in setter_shown[0][1]


async def test_the_record_of_an_answer_is_a_bounded_few_statements(registry: Registry) -> None:
    """Besides the lookup: one INSERT (an executemany) of transfer entries per set of items shown —
    three candidates, two sets as one had her address hidden — and the operations entry."""
    caller = registry.caller("011", "JDT-001")
    holder = access.registry_holder("市長")
    async with unit_of_work(registry.sessions) as session:
        await session.connection()
        with statements(registry.engine) as sent:
            provision = access.decide(caller, holder, "ATENA_SEARCH")
            candidates, shown = await views.search(session, registry.vault, LOOKUPS["partial"], caller)
            answer = b"[" + b",".join(c.model_dump_json().encode() for c in candidates) + b"]"
            await access.record_provision(session, registry.vault.record_key, provision, shown, answer)
            actor = Actor(caller.client_id, "unit", "011")
            await record_operation(session, registry.vault.record_key, actor, "registry.search", detail="3")
    lookup, *writes = sent
    assert lookup.lstrip().upper().startswith(("SELECT", "WITH"))
    assert len(candidates) == 3 and len({tuple(items) for _, items in shown}) == 2
    assert len(writes) == 2 + 1, writes
    assert all(w.lstrip().upper().startswith("INSERT") for w in writes)
