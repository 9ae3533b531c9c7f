"""What the demo city's mock units share: options, the base class, local 宛名番号, addressee tables.

Each mock unit is a real business system in miniature: its own SQLite file, its own numbering of
the same synthetic residents (``platform_hub_demo.residents``), and the SDK's ``Unit`` for the hub.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from platform_hub_sdk import Credentials, LinkageError, Payload, Received, Unit
from platform_hub_sdk.store import UnitStore
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from platform_hub.protocol.numbers import UNNUMBERED_ATENA, atena_number
from platform_hub.protocol.registry import BasicInfo
from platform_hub_demo.residents import Resident, generate_city

log = logging.getLogger("platform_hub_demo")
M = TypeVar("M", bound=BaseModel)
SEED_CONCURRENCY = 4  # registry calls in flight while seeding: the hub's SQLite takes one writer anyway


@dataclass(frozen=True)
class MockOptions:
    """How to run one mock unit: where the hub is, where the unit listens, its database and data."""

    hub_url: str
    port: int
    database: Path
    host: str = "127.0.0.1"
    seed: int = 2026
    residents: int = 120
    integrator: Credentials | None = None
    heartbeat_seconds: float = 30.0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class MockUnit:
    """A mock business unit: the SDK ``Unit``, its database, and the synthetic city it starts from."""

    code: ClassVar[str]
    name: ClassVar[str]
    organ: ClassVar[str] = "市長"
    purposes: ClassVar[tuple[str, ...]]
    emits: ClassVar[tuple[str, ...]] = ()
    rest: ClassVar[tuple[str, ...]] = ()  # what the hub sends it by the DA's REST binding, not SOAP
    department: ClassVar[str]  # 部署 code on what the unit sends (half-width, X(16))

    def __init__(self, options: MockOptions) -> None:
        self.options = options
        self.city = generate_city(options.seed, options.residents)
        self.unit = Unit(
            self.code,
            self.name,
            self.organ,
            hub_url=options.hub_url,
            base_url=options.base_url,
            database=options.database,
            purposes=self.purposes,
            emits=self.emits,
            rest=self.rest,
            integrator=options.integrator,
            heartbeat_seconds=options.heartbeat_seconds,
            department=self.department,
            user="clerk-01",
        )
        self.store: UnitStore = self.unit.store

    def routes(self) -> list[BaseRoute]:
        return []

    def app(self) -> Starlette:
        return self.unit.app(self.routes())

    async def seed_registry(self) -> dict[str, int]:
        raise NotImplementedError


# --- local 宛名番号 ----------------------------------------------------------------------------------

_NUMBERING = (
    "CREATE TABLE IF NOT EXISTS numbering (unit_code TEXT PRIMARY KEY, next_serial INTEGER NOT NULL);"
)


def local_numbers(store: UnitStore, unit_code: str, seed: int, people: Sequence[Resident]) -> dict[str, str]:
    """The unit's own 宛名番号 for each resident key: a range of its own, in an order of its own
    (shuffled per unit), so no two units share numbers and none can be derived from another's."""
    store.connection.executescript(_NUMBERING)
    base = int(unit_code) * 1_000_000 + 1_000
    order = [person.key for person in people]
    random.Random(f"{seed}:{unit_code}").shuffle(order)  # noqa: S311 - numbering, not secrecy
    numbers = {key: atena_number(base + index) for index, key in enumerate(order)}
    with store.transaction() as db:
        db.execute("INSERT OR IGNORE INTO numbering VALUES (?, ?)", (unit_code, base + len(order) + 1_000))
    return numbers


def next_atena(store: UnitStore, unit_code: str) -> str:
    """A new 宛名番号 from the unit's counter (newborns, 住登外者): never reused."""
    with store.transaction() as db:
        (serial,) = db.execute(
            "SELECT next_serial FROM numbering WHERE unit_code = ?", (unit_code,)
        ).fetchone()
        db.execute("UPDATE numbering SET next_serial = ? WHERE unit_code = ?", (serial + 1, unit_code))
    return atena_number(int(serial))


# --- the addressees a unit keeps (002, 011, 051) ------------------------------------------------------

_ADDRESSEES = """
CREATE TABLE IF NOT EXISTS addressees (
    atena TEXT PRIMARY KEY,
    resident_key TEXT UNIQUE,          -- the synthetic person (NULL for people met later)
    my_number TEXT,                    -- a 番号利用事務 keeps it; never logged nor shown
    name TEXT NOT NULL,
    kana TEXT,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL,              -- 住民状態: 1 住民, 2 転出者, 3 死亡者, 4 消除者, 9 住登外者
    integrated_number TEXT,
    linked INTEGER NOT NULL DEFAULT 0  -- linked to the registry
);
-- Every 住民異動通知 taken, in the order it arrived.
CREATE TABLE IF NOT EXISTS ido_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msgid TEXT NOT NULL,
    reception_number TEXT,
    jiyu TEXT NOT NULL,
    atena TEXT NOT NULL,
    ido_date TEXT NOT NULL
);
"""
NON_RESIDENT = "9"


class Addressees:
    """The unit's own addressee table (宛名), numbered by the unit, linked to the hub's registry."""

    def __init__(self, store: UnitStore, unit: Unit, seed: int, city: Sequence[Resident]) -> None:
        self.store, self.unit = store, unit
        store.connection.executescript(_ADDRESSEES)
        numbers = local_numbers(store, unit.code, seed, city)
        if store.row("SELECT 1 FROM addressees LIMIT 1") is None:
            with store.transaction() as db:
                db.executemany(
                    "INSERT INTO addressees (atena, resident_key, my_number, name, kana, birth_date, sex,"
                    " address, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '1')",
                    [
                        (
                            numbers[r.key],
                            r.key,
                            r.my_number,
                            r.name,
                            r.kana,
                            r.birth_date.isoformat(),
                            r.sex,
                            r.address,
                        )
                        for r in city
                    ],
                )
        self.numbers = numbers

    def add(
        self, atena: str, info: BasicInfo, *, status: str, integrated_number: str, my_number: str | None
    ) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO addressees (atena, my_number, name, kana, birth_date, sex, address, status,"
                " integrated_number, linked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    atena,
                    my_number,
                    info.name,
                    info.name_kana,
                    info.birth_date,
                    info.sex,
                    info.address,
                    status,
                    integrated_number,
                ),
            )

    async def apply_ido(self, message: Received) -> str:
        """A 住民異動通知: the person's attributes as the 住民基本台帳 has them now. Someone new to us
        (未採番: a 転入 or 出生) gets our next 宛名番号, linked in the registry. Returns our number."""
        item = dict(message.payload)
        integrated = None
        if item["AtenaNo"] == UNNUMBERED_ATENA:
            item["AtenaNo"], integrated = await self._number_newcomer(item)
        moved_away = item["JuminJotaiCode"] == "2" and item.get("TenshutsusakiJusho")
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO addressees"
                " (atena, name, kana, birth_date, sex, address, status, integrated_number, linked)"
                " VALUES (:AtenaNo, :Shimei, :ShimeiKana, :SeinengappiDate, :SeibetsuCode, :address,"
                " :JuminJotaiCode, :integrated, :linked) ON CONFLICT (atena) DO UPDATE SET"
                " name = excluded.name, kana = excluded.kana, birth_date = excluded.birth_date,"
                " sex = excluded.sex, address = excluded.address, status = excluded.status",
                {
                    "ShimeiKana": None,
                    **item,
                    "address": item["TenshutsusakiJusho"] if moved_away else item["Jusho"],
                    "integrated": integrated,
                    "linked": integrated is not None or message.payload["AtenaNo"] != UNNUMBERED_ATENA,
                },
            )
            db.execute(
                "INSERT INTO ido_log (msgid, reception_number, jiyu, atena, ido_date) VALUES (?, ?, ?, ?, ?)",
                (
                    message.msgid,
                    message.reception_number,
                    item["IdoJiyuCode"],
                    item["AtenaNo"],
                    item["IdoDate"],
                ),
            )
        return str(item["AtenaNo"])

    async def _number_newcomer(self, item: Payload) -> tuple[str, str | None]:
        """Our number for a person new to the city, linked to the one registry record with these 基本4情報
        that no number of ours is linked to yet (the hub has just created it from the same message)."""
        atena = next_atena(self.store, self.unit.code)
        found = await self.unit.registry.find_by_basic_info(
            item["Shimei"], item["SeinengappiDate"], sex=item["SeibetsuCode"], address=item["Jusho"]
        )
        unlinked = [candidate for candidate in found if not candidate.links]  # we see only our own links
        if len(unlinked) != 1:
            log.warning(
                "unit %s: %d registry records fit a newcomer; left unlinked", self.unit.code, len(unlinked)
            )
            return atena, None
        await self.unit.registry.link(
            unlinked[0].person_id,
            atena,
            "住民異動通知（転入・出生）による採番",
            name=item["Shimei"],
            birth_date=item["SeinengappiDate"],
        )
        return atena, unlinked[0].person_id

    def ido_log(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.store.rows("SELECT * FROM ido_log ORDER BY seq")]

    async def link_all(
        self, reason: str = "業務システムの宛名と統一宛名の突合（初期登録）"
    ) -> dict[str, int]:
        """Link every person we number to the registry, found by their 個人番号 (seeding, 名寄せ)."""
        pending = self.store.rows(
            "SELECT atena, my_number FROM addressees WHERE linked = 0 AND my_number IS NOT NULL"
        )
        counts = {"linked": 0, "already": 0, "unknown": 0}
        gate = asyncio.Semaphore(SEED_CONCURRENCY)

        async def link_one(atena: str, my_number: str) -> None:
            async with gate:
                outcome = await self._link_one(atena, my_number, reason)
            counts[outcome] += 1

        await asyncio.gather(*(link_one(row["atena"], row["my_number"]) for row in pending))
        return counts

    async def _link_one(self, atena: str, my_number: str, reason: str) -> str:
        candidate = await self.unit.registry.find_by_my_number(my_number)
        if candidate is None:
            return "unknown"  # not (yet) in the registry: linked when the person is met
        outcome = "already"
        if not any(link.atena_number == atena for link in candidate.links):
            try:
                await self.unit.registry.link(candidate.person_id, atena, reason, my_number=my_number)
                outcome = "linked"
            except LinkageError as error:
                if error.code != "E1004":
                    raise
        with self.store.transaction() as db:
            db.execute(
                "UPDATE addressees SET linked = 1, integrated_number = ? WHERE atena = ?",
                (candidate.person_id, atena),
            )
        return outcome


# --- small HTTP helpers --------------------------------------------------------------------------


async def read_model(request: Request, model: type[M]) -> M | Response:
    """The request's JSON body as ``model``, or a 422 answer naming what is wrong (never the values)."""
    try:
        return model.model_validate(await request.json())
    except ValueError as exc:
        problems = (
            [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else ["the body is not JSON"]
        )
        return JSONResponse({"error": {"code": "E1002", "message": "; ".join(problems)}}, status_code=422)
