"""001 住民基本台帳: the residents and households of the demo city, and every change to them.

It answers 住民票関係情報照会 (IF_JUK_0002) on any 基準日 from the history it keeps, and sends a
住民異動通知 (IF_JUK_0001) for each 転入, 転出, 転居, 出生, 死亡 and 氏名変更 — which the hub applies to
the registry and passes on to the units that handle the person. ``simulate`` makes a realistic
stream of such changes.

HTTP (besides the SDK's ``POST /linkage/messages`` and ``GET /healthz``):
``POST /seed`` registers every resident in the hub's registry; ``POST /simulate {"events", "seed"}``;
``POST /ido {"jiyu", "atena", "ido_date"?}`` one change of a resident (02, 03, 05, 06);
``GET /residents[?status=1]``; ``GET /ido-events``; ``POST /jdt-query {"atena"}`` asks 児童手当 (011)
for a person's 受給状況 (IF_JDT_0001 — the demo ordinance covers no such flow, so it is refused).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sqlite3
from collections import Counter
from typing import Any

from faker import Faker
from platform_hub_sdk import LinkageError, Payload, Received
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from platform_hub.kit.clock import city_today
from platform_hub.protocol.numbers import atena_number
from platform_hub_demo.common import MockUnit, local_numbers, read_model
from platform_hub_demo.residents import (
    CHILD,
    CITY_CODE,
    FULL_SPACE,
    HEAD,
    REFERENCE_DATE,
    city_address,
    elsewhere_address,
    new_my_number,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS residents (
    atena TEXT PRIMARY KEY,
    resident_key TEXT UNIQUE,
    my_number TEXT NOT NULL,      -- the 住民票コード's companion; sent only with 転入・出生
    setai_no TEXT NOT NULL,
    zokugara TEXT NOT NULL,
    name TEXT NOT NULL,
    kana TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    address TEXT NOT NULL,        -- the last address in the city
    moved_to TEXT,                -- 転出先 once moved away
    status TEXT NOT NULL,         -- 住民状態: 1 住民, 2 転出者, 3 死亡者
    since TEXT NOT NULL,
    in_registry INTEGER NOT NULL DEFAULT 0
);
-- The register as it was on any day: a 基準日 query reads the version in force that day.
CREATE TABLE IF NOT EXISTS resident_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    atena TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    name TEXT NOT NULL,
    kana TEXT NOT NULL,
    address TEXT NOT NULL,
    setai_no TEXT NOT NULL,
    zokugara TEXT NOT NULL,
    status TEXT NOT NULL,
    jiyu TEXT
);
CREATE INDEX IF NOT EXISTS ix_versions_atena ON resident_versions (atena, valid_from);
CREATE INDEX IF NOT EXISTS ix_versions_setai ON resident_versions (setai_no, valid_from);
-- Every 住民異動通知 sent, and what the hub said.
CREATE TABLE IF NOT EXISTS ido_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msgid TEXT NOT NULL,
    jiyu TEXT NOT NULL,
    atena TEXT NOT NULL,
    ido_date TEXT NOT NULL,
    outcome TEXT NOT NULL,
    code TEXT,
    reception_number TEXT
);
"""
JIYU = {"01": "転入", "02": "転出", "03": "転居", "04": "出生", "05": "死亡", "06": "氏名変更"}
_CREATING = {"01", "04"}  # the registry needs the 個人番号 with these
SEED_SET_RECORDS = 500  # residents per 全件 set: about half a megabyte
_SIMULATED = {"03": 30, "01": 20, "06": 18, "02": 12, "04": 12, "05": 8}  # relative frequency


class IdoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jiyu: str = Field(pattern="^(02|03|05|06)$", description="転出, 転居, 死亡 or 氏名変更 of a resident")
    atena: str
    ido_date: dt.date | None = None


class SimulateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: int = Field(default=100, ge=1, le=100_000)
    seed: int | None = None


class JdtQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    atena: str
    kijun_date: dt.date | None = None


class Juki(MockUnit):
    code, name, purposes, emits, department = (
        "001",
        "住民基本台帳",
        ("JUK-001",),
        ("IF_JUK_0001", "IF_JUK_0101"),
        "SHIMIN-1",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store.connection.executescript(_SCHEMA)
        self._populate()
        self._sending = asyncio.Lock()  # one change at a time: the hub gets them in order
        self.unit.on_query("IF_JUK_0002")(self.answer_juminhyo)

    def _populate(self) -> None:
        numbers = local_numbers(self.store, self.code, self.options.seed, self.city)
        with self.store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO numbering VALUES ('setai', 1900000)")
            if db.execute("SELECT 1 FROM residents LIMIT 1").fetchone() is not None:
                return
            for person in self.city:
                row = {
                    "atena": numbers[person.key],
                    "resident_key": person.key,
                    "my_number": person.my_number,
                    "setai_no": atena_number(1_500_000 + int(person.household[1:])),
                    "zokugara": person.relation,
                    "name": person.name,
                    "kana": person.kana,
                    "birth_date": person.birth_date.isoformat(),
                    "sex": person.sex,
                    "address": person.address,
                    "status": "1",
                    "since": person.resident_since.isoformat(),
                }
                _insert_resident(db, row, person.resident_since, jiyu=None)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/seed", self._seed_endpoint, methods=["POST"]),
            Route("/simulate", self._simulate_endpoint, methods=["POST"]),
            Route("/ido", self._ido_endpoint, methods=["POST"]),
            Route("/residents", self._residents_endpoint, methods=["GET"]),
            Route("/ido-events", self._events_endpoint, methods=["GET"]),
            Route("/jdt-query", self._jdt_endpoint, methods=["POST"]),
        ]

    # --- the registry -----------------------------------------------------------------------

    async def seed_registry(self) -> dict[str, int]:
        """Bring every resident into the hub's registry with 001's 宛名番号 and the 個人番号: the
        resident register as 住民情報一括提供 (IF_JUK_0101) 全件 sets — the residents were here before
        the hub, and no unit but 住民基本台帳 brings residents into the registry."""
        pending = self.store.rows("SELECT * FROM residents WHERE in_registry = 0 AND status = '1'")
        counts: Counter[str] = Counter()
        today = city_today()
        for start in range(0, len(pending), SEED_SET_RECORDS):  # each set well under the hub's body cap
            rows = pending[start : start + SEED_SET_RECORDS]
            since = [dt.date.fromisoformat(row["since"]) for row in rows]
            records = [
                {"RecordNo": number, **_ido_payload(row, "08", day, {"KojinBango": row["my_number"]})}
                for number, (row, day) in enumerate(zip(rows, since, strict=True), start=1)
            ]
            payload = {"ShoriKubun": "1", "KijunDate": today, "SakuseiDate": today, "Jumin": records}
            reply = await self.unit.notify("IF_JUK_0101", payload, purpose="JUK-001")
            counts["registered"] += int(reply.payload["SeijoKensu"])
            counts["refused"] += int(reply.payload["ErrorKensu"])
            with self.store.transaction() as db:
                db.executemany(
                    "UPDATE residents SET in_registry = 1 WHERE atena = ?", [(row["atena"],) for row in rows]
                )
        return {"registered": counts["registered"], "refused": counts["refused"]}

    # --- 住民票関係情報照会 ------------------------------------------------------------------------

    async def answer_juminhyo(self, message: Received) -> Payload:
        """The person (and household) as recorded on the 基準日."""
        atena, kijun = message.payload["AtenaNo"], message.payload["KijunDate"]
        person = self.store.row("SELECT * FROM residents WHERE atena = ?", (atena,))
        if person is None:
            return {"ShokaiKekkaCode": "1", "AtenaNo": atena}
        version = _version_on(self.store.connection, atena, kijun)
        if version is None:
            return {"ShokaiKekkaCode": "2", "AtenaNo": atena}
        answer: Payload = {
            "ShokaiKekkaCode": "0",
            "AtenaNo": atena,
            "Shimei": version["name"],
            "ShimeiKana": version["kana"],
            "SeinengappiDate": person["birth_date"],
            "SeibetsuCode": person["sex"],
            "ShikuchosonCode": CITY_CODE,
            "Jusho": version["address"],
            "JuminJotaiCode": version["status"],
            "SetaiNo": version["setai_no"],
        }
        if message.payload.get("SetaiShokaiKubun") == "1" and version["status"] == "1":
            answer["SetaiIn"] = self._household_on(version["setai_no"], kijun)
        return answer

    def _household_on(self, setai_no: str, day: str) -> list[Payload]:
        members = self.store.rows(
            "SELECT v.atena, v.name, v.zokugara, r.birth_date FROM resident_versions v"
            " JOIN residents r ON r.atena = v.atena WHERE v.setai_no = ? AND v.status = '1'"
            " AND v.valid_from <= ? AND (v.valid_to IS NULL OR v.valid_to > ?)"
            " ORDER BY v.zokugara, r.birth_date"
            " LIMIT 30",
            (setai_no, day, day),
        )
        return [
            {
                "AtenaNo": m["atena"],
                "Shimei": m["name"],
                "ZokugaraCode": m["zokugara"],
                "SeinengappiDate": m["birth_date"],
            }
            for m in members
        ]

    # --- 住民異動 ----------------------------------------------------------------------------------

    async def record(
        self, jiyu: str, atena: str, ido_date: dt.date, changes: dict[str, str], extra: Payload
    ) -> dict[str, Any]:
        """Apply one change to the register and send its 住民異動通知; returns what the hub said."""
        async with self._sending:
            with self.store.transaction() as db:
                row = _change_resident(db, atena, ido_date, changes, jiyu)
            return await self._send(jiyu, row, ido_date, extra)

    async def move_in(
        self, people: list[dict[str, str]], ido_date: dt.date, came_from: str
    ) -> list[dict[str, Any]]:
        """転入 of a new household (or 出生 with ``jiyu`` 04 in the rows): numbered here, then notified."""
        results = []
        async with self._sending:
            for person in people:
                jiyu = person.pop("jiyu", "01")
                with self.store.transaction() as db:
                    person["atena"] = _next_number(db, self.code)
                    _insert_resident(
                        db, {**person, "status": "1", "since": ido_date.isoformat()}, ido_date, jiyu
                    )
                row = self.store.row("SELECT * FROM residents WHERE atena = ?", (person["atena"],))
                assert row is not None
                extra: Payload = {"TennyumaeJusho": came_from} if jiyu == "01" else {}
                results.append(await self._send(jiyu, row, ido_date, extra))
        return results

    async def _send(self, jiyu: str, row: sqlite3.Row, ido_date: dt.date, extra: Payload) -> dict[str, Any]:
        payload = _ido_payload(row, jiyu, ido_date, extra)
        outcome, code, reception, msgid = "accepted", None, None, None
        try:
            reply = await self.unit.notify("IF_JUK_0001", payload)
            reception, msgid = reply.reception_number, reply.msgid
        except LinkageError as error:  # the change happened here whatever the hub says
            outcome, code, reception = "refused", error.code, error.reception_number
        event = {
            "msgid": msgid or "-",
            "jiyu": jiyu,
            "atena": row["atena"],
            "ido_date": ido_date.isoformat(),
            "outcome": outcome,
            "code": code,
            "reception_number": reception,
        }
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO ido_events (msgid, jiyu, atena, ido_date, outcome, code, reception_number)"
                " VALUES (:msgid, :jiyu, :atena, :ido_date, :outcome, :code, :reception_number)",
                event,
            )
        return event

    # --- simulate -------------------------------------------------------------------------------

    async def simulate(self, events: int, seed: int | None = None) -> dict[str, Any]:
        """A realistic stream of ``events`` changes (転居 most often, then 転入, 氏名変更, 転出, 出生, 死亡),
        each applied here and notified in order."""
        stream = _Stream(self, seed if seed is not None else self.options.seed + 1)
        sent: list[dict[str, Any]] = []
        while len(sent) < events:
            sent.extend(await stream.next_changes(events - len(sent)))
        outcomes = Counter(event["code"] or event["outcome"] for event in sent)
        by_event = Counter(JIYU[event["jiyu"]] for event in sent)
        return {"sent": len(sent), "outcomes": dict(outcomes), "by_event": dict(by_event), "events": sent}

    # --- HTTP -----------------------------------------------------------------------------------

    async def _seed_endpoint(self, _: Request) -> Response:
        return JSONResponse(await self.seed_registry())

    async def _simulate_endpoint(self, request: Request) -> Response:
        body = await read_model(request, SimulateRequest)
        if isinstance(body, Response):
            return body
        return JSONResponse(await self.simulate(body.events, body.seed))

    async def _ido_endpoint(self, request: Request) -> Response:
        body = await read_model(request, IdoRequest)
        if isinstance(body, Response):
            return body
        person = self.store.row("SELECT * FROM residents WHERE atena = ? AND status = '1'", (body.atena,))
        if person is None:
            return JSONResponse({"error": {"code": "E1003", "message": "no such resident"}}, status_code=404)
        day = body.ido_date or city_today()
        changes, extra = _Stream(self, self.options.seed + 2).change_for(body.jiyu, person, day)
        return JSONResponse(await self.record(body.jiyu, body.atena, day, changes, extra))

    async def _residents_endpoint(self, request: Request) -> Response:
        status = request.query_params.get("status")
        where, parameters = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.store.rows(
            "SELECT atena, resident_key, setai_no, zokugara, name, kana, birth_date, sex, address,"  # noqa: S608
            f" moved_to, status, since FROM residents {where} ORDER BY atena",  # the WHERE is ours
            parameters,
        )
        return JSONResponse([dict(row) for row in rows])

    async def _events_endpoint(self, _: Request) -> Response:
        return JSONResponse([dict(row) for row in self.store.rows("SELECT * FROM ido_events ORDER BY seq")])

    async def _jdt_endpoint(self, request: Request) -> Response:
        body = await read_model(request, JdtQuery)
        if isinstance(body, Response):
            return body
        kijun = body.kijun_date or city_today()
        try:
            reply = await self.unit.query("IF_JDT_0001", {"AtenaNo": body.atena, "KijunDate": kijun})
        except LinkageError as error:
            refusal = {
                "code": error.code,
                "message": error.message,
                "reception_number": error.reception_number,
            }
            return JSONResponse({"refused": refusal}, status_code=error.status_code)
        return JSONResponse({"reception_number": reply.reception_number, "answer": reply.payload})


# --- the register's rows ------------------------------------------------------------------------


def _insert_resident(db: sqlite3.Connection, row: dict[str, Any], since: dt.date, jiyu: str | None) -> None:
    db.execute(
        "INSERT INTO residents (atena, resident_key, my_number, setai_no, zokugara, name, kana,"
        " birth_date, sex, address, status, since) VALUES (:atena, :resident_key, :my_number, :setai_no,"
        " :zokugara, :name, :kana, :birth_date, :sex, :address, :status, :since)",
        {"resident_key": None, **row},
    )
    _add_version(db, row["atena"], since, jiyu)


def _add_version(db: sqlite3.Connection, atena: str, since: dt.date, jiyu: str | None) -> None:
    """Close the version in force and open the next from ``since``: the past is never rewritten."""
    day = since.isoformat()
    db.execute("UPDATE resident_versions SET valid_to = ? WHERE atena = ? AND valid_to IS NULL", (day, atena))
    db.execute(
        "INSERT INTO resident_versions"
        " (atena, valid_from, name, kana, address, setai_no, zokugara, status, jiyu)"
        " SELECT atena, ?, name, kana, address, setai_no, zokugara, status, ? FROM residents WHERE atena = ?",
        (day, jiyu, atena),
    )


def _change_resident(
    db: sqlite3.Connection, atena: str, day: dt.date, changes: dict[str, str], jiyu: str
) -> sqlite3.Row:
    columns = ", ".join(f"{column} = :{column}" for column in changes)  # column names are ours, not input
    db.execute(f"UPDATE residents SET {columns} WHERE atena = :atena", {**changes, "atena": atena})  # noqa: S608
    _add_version(db, atena, day, jiyu)
    row: sqlite3.Row = db.execute("SELECT * FROM residents WHERE atena = ?", (atena,)).fetchone()
    return row


def _version_on(db: sqlite3.Connection, atena: str, day: str) -> sqlite3.Row | None:
    found: sqlite3.Row | None = db.execute(
        "SELECT * FROM resident_versions WHERE atena = ? AND valid_from <= ?"
        " AND (valid_to IS NULL OR valid_to > ?)"
        " ORDER BY id DESC LIMIT 1",
        (atena, day, day),
    ).fetchone()
    return found


def _next_number(db: sqlite3.Connection, key: str) -> str:
    (serial,) = db.execute("SELECT next_serial FROM numbering WHERE unit_code = ?", (key,)).fetchone()
    db.execute("UPDATE numbering SET next_serial = ? WHERE unit_code = ?", (serial + 1, key))
    return atena_number(int(serial))


def _name_parts(name: str, kana: str | None) -> Payload:
    """氏 and 名 apart, as the DA's 宛名 has them (the register keeps 氏名 as 氏　名)."""
    family, _, given = name.partition(FULL_SPACE)
    parts: Payload = {"Shi": family, "Mei": given} if given else {}
    family_kana, _, given_kana = (kana or "").partition(FULL_SPACE)
    if given and given_kana:
        parts |= {"ShiKana": family_kana, "MeiKana": given_kana}
    return parts


def _ido_payload(row: sqlite3.Row, jiyu: str, ido_date: dt.date, extra: Payload) -> Payload:
    payload: Payload = {
        "IdoJiyuCode": jiyu,
        "IdoDate": ido_date,
        "TodokedeDate": ido_date,
        "AtenaNo": row["atena"],
        "SetaiNo": row["setai_no"],
        "ZokugaraCode": row["zokugara"],
        "Shimei": row["name"],
        "ShimeiKana": row["kana"],
        "SeinengappiDate": row["birth_date"],
        "SeibetsuCode": row["sex"],
        "ShikuchosonCode": CITY_CODE,
        "Jusho": row["address"],
        "JuminJotaiCode": row["status"],
        **_name_parts(row["name"], row["kana"]),
        **extra,
    }
    if jiyu in _CREATING:
        payload["KojinBango"] = row["my_number"]
    return payload


class _Stream:
    """The changes of a simulated stream, drawn from the register as it is at each step."""

    def __init__(self, juki: Juki, seed: int) -> None:
        self.juki, self.store = juki, juki.store
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data
        self.fake = Faker("ja_JP")
        self.fake.seed_instance(seed)
        self.named: set[tuple[str, str]] = set()  # (氏名, 生年月日) given in this stream
        last = self.store.row("SELECT max(ido_date) AS day FROM ido_events")
        start = city_today() - dt.timedelta(days=90)
        self.day = max(dt.date.fromisoformat(last["day"]) if last and last["day"] else start, start)

    def _tick(self) -> dt.date:
        if self.rng.random() < 0.1:
            self.day = min(self.day + dt.timedelta(days=1), max(city_today(), self.day))
        return self.day

    def _living(self, condition: str = "1 = 1", parameters: tuple[object, ...] = ()) -> sqlite3.Row | None:
        # The conditions are this module's own, never a caller's input.
        rows = self.store.rows(f"SELECT * FROM residents WHERE status = '1' AND {condition}", parameters)  # noqa: S608
        return self.rng.choice(rows) if rows else None

    async def next_changes(self, budget: int) -> list[dict[str, Any]]:
        jiyu = self.rng.choices(list(_SIMULATED), list(_SIMULATED.values()))[0]
        day = self._tick()
        if jiyu == "01":
            return await self._move_in(day, budget)
        if jiyu == "04":
            return await self._birth(day)
        person = self._living("birth_date <= ?", (_years_before(day, 70 if jiyu == "05" else 18),))
        person = person or self._living()
        if person is None:
            return await self._move_in(day, budget)
        if jiyu in {"02", "03"}:  # the household moves together
            return await self._household_moves(jiyu, person, day, budget)
        changes, extra = self.change_for(jiyu, person, day)
        return [await self.juki.record(jiyu, person["atena"], day, changes, extra)]

    def change_for(self, jiyu: str, person: sqlite3.Row, day: dt.date) -> tuple[dict[str, str], Payload]:
        """The new attributes and the extra items of one change of ``person``."""
        if jiyu == "02":
            moved_to = elsewhere_address(self.fake)
            return {"status": "2", "moved_to": moved_to}, {
                "TenshutsusakiJusho": moved_to,
                "TenshutsuYoteiDate": day,
            }
        if jiyu == "03":
            return {"address": city_address(self.rng)}, {}
        if jiyu == "05":
            return {"status": "3"}, {}
        last, kana = self.fake.last_name_pair()[:2]
        first, first_kana = person["name"].split(FULL_SPACE)[-1], person["kana"].split(FULL_SPACE)[-1]
        new = {"name": f"{last}{FULL_SPACE}{first}", "kana": f"{kana}{FULL_SPACE}{first_kana}"}
        return new, {"KyuShimei": person["name"]}

    async def _household_moves(
        self, jiyu: str, person: sqlite3.Row, day: dt.date, budget: int
    ) -> list[dict[str, Any]]:
        members = self.store.rows(
            "SELECT * FROM residents WHERE setai_no = ? AND status = '1'", (person["setai_no"],)
        )
        changes, extra = self.change_for(jiyu, person, day)
        return [await self.juki.record(jiyu, m["atena"], day, changes, extra) for m in members[:budget]]

    async def _move_in(self, day: dt.date, budget: int) -> list[dict[str, Any]]:
        returning = self.store.rows("SELECT * FROM residents WHERE status = '2'")
        if returning and self.rng.random() < 0.4:  # a former resident comes back: the same person
            person = self.rng.choice(returning)
            changes = {"status": "1", "address": city_address(self.rng)}
            extra: Payload = {"TennyumaeJusho": person["moved_to"]}
            return [await self.juki.record("01", person["atena"], day, changes, extra)]
        return await self.juki.move_in(self._newcomers(day, budget), day, elsewhere_address(self.fake))

    def _newcomers(self, day: dt.date, budget: int) -> list[dict[str, str]]:
        with self.store.transaction() as db:
            setai_no = _next_number(db, "setai")
        last, kana = self.fake.last_name_pair()[:2]
        address = city_address(self.rng)
        size = min(budget, self.rng.choice([1, 1, 2, 3]))
        people = []
        for index in range(size):
            sex = self.rng.choice("12") if index == 0 else ("2" if index == 1 else self.rng.choice("12"))
            age = self.rng.randint(22, 60) if index < 2 else self.rng.randint(0, 12)
            relation = HEAD if index == 0 else ("02" if index == 1 else CHILD)
            people.append(self._person(last, kana, sex, _years_before(day, age), setai_no, relation, address))
        return people

    async def _birth(self, day: dt.date) -> list[dict[str, Any]]:
        mother = self._living(
            "sex = '2' AND birth_date BETWEEN ? AND ?", (_years_before(day, 45), _years_before(day, 20))
        )
        if mother is None:
            return await self._move_in(day, 1)
        last, kana = mother["name"].split(FULL_SPACE)[0], mother["kana"].split(FULL_SPACE)[0]
        baby = self._person(
            last, kana, self.rng.choice("12"), day.isoformat(), mother["setai_no"], CHILD, mother["address"]
        )
        return await self.juki.move_in([{**baby, "jiyu": "04"}], day, "")

    def _person(
        self, last: str, kana: str, sex: str, birth_date: str, setai_no: str, relation: str, address: str
    ) -> dict[str, str]:
        """A new person; never the 基本4情報 of someone already known (twins get different names), so
        that the units can tell newcomers apart in the registry."""
        while True:
            pair = self.fake.first_name_male_pair() if sex == "1" else self.fake.first_name_female_pair()
            name = f"{last}{FULL_SPACE}{pair[0]}"
            if (name, birth_date) not in self.named and not self.store.row(
                "SELECT 1 FROM residents WHERE name = ? AND birth_date = ?", (name, birth_date)
            ):
                self.named.add((name, birth_date))
                break
        return {
            "my_number": self._unused_my_number(),
            "setai_no": setai_no,
            "zokugara": relation,
            "name": name,
            "kana": f"{kana}{FULL_SPACE}{pair[1]}",
            "birth_date": birth_date,
            "sex": sex,
            "address": address,
        }

    def _unused_my_number(self) -> str:
        while True:
            number = new_my_number(self.rng)
            if self.store.row("SELECT 1 FROM residents WHERE my_number = ?", (number,)) is None:
                return number


def _years_before(day: dt.date, years: int) -> str:
    return dt.date(day.year - years, day.month, min(day.day, 28)).isoformat()


__all__ = ["JIYU", "REFERENCE_DATE", "Juki"]
