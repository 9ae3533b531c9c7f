"""002 個人住民税: taxpayers and their income by 課税年度.

It answers 地方税関係情報照会 (IF_ZEI_0001), keeps its addressees up to date from 住民異動通知
(IF_JUK_0001) — both taken by the Digital Agency's REST/JSON binding, as a 標準準拠システム would — and
sends the annual 所得情報一括提供 (IF_ZEI_0101) to 児童手当 for its 現況 checks.

The tax is the 23-ku's, simplified: 給与所得 = 収入 − 給与所得控除 (30% + 8万, between 55万 and 195万);
非課税 when 所得 ≤ 35万 × (本人 + 扶養) + 10万 (+21万 with dependants; 45万 alone); 所得割 10% of
所得 − 基礎控除 43万 − 扶養控除 33万 per dependant of 16 or more − 社会保険料 15% of 収入; 均等割 5,000.

HTTP: ``POST /seed`` links every taxpayer to the registry; ``POST /batch {"nendo", "destination"?}``
sends IF_ZEI_0101; ``POST /shinkoku`` records a 申告 of someone new to the tax office (found in the
registry and linked, or registered as a 住登外者); ``GET /ido-log``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from platform_hub_sdk import Payload, Received
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from platform_hub.kit.clock import city_today
from platform_hub_demo.common import Addressees, MockUnit, read_model
from platform_hub_demo.flows import Applicant, Flow, identify_applicant
from platform_hub_demo.residents import CHILD, HEAD, REFERENCE_DATE, WIFE, Resident

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incomes (
    atena TEXT NOT NULL,
    nendo INTEGER NOT NULL,        -- 課税年度: the income of the year before
    kazei_kubun TEXT NOT NULL,     -- 1 課税, 2 非課税, 3 均等割のみ課税
    soshotoku INTEGER NOT NULL,
    shotokuwari INTEGER NOT NULL,
    kintowari INTEGER NOT NULL,
    fuyo INTEGER NOT NULL,
    nensho_fuyo INTEGER NOT NULL,
    hitorioya TEXT NOT NULL,       -- 0 該当なし, 1 寡婦, 2 ひとり親
    PRIMARY KEY (atena, nendo)
);
"""
KINTOWARI = 5_000
_INSERT_INCOME = (
    "INSERT INTO incomes VALUES"
    " (:atena, :nendo, :kazei_kubun, :soshotoku, :shotokuwari, :kintowari, :fuyo, :nensho_fuyo, :hitorioya)"
)


class Shinkoku(Applicant):
    """A 申告 of someone the tax office has not met: who they are, the year, and their 給与収入."""

    nendo: int = Field(ge=2000, le=2100)
    salary: int = Field(ge=0, le=10**11)


class Zeimu(MockUnit):
    code, name, purposes, emits, department = "002", "個人住民税", ("ZEI-001",), ("IF_ZEI_0101",), "ZEIMU-1"
    # A 標準準拠システム: the hub asks it and tells it by the Digital Agency's REST/JSON binding.
    rest = ("IF_ZEI_0001", "IF_JUK_0001")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.addressees = Addressees(self.store, self.unit, self.options.seed, self.city)
        self.store.connection.executescript(_SCHEMA)
        self._populate()
        self.unit.on_query("IF_ZEI_0001")(self.answer_income)
        self.unit.on_notification("IF_JUK_0001")(self.resident_changed)

    def _populate(self) -> None:
        if self.store.row("SELECT 1 FROM incomes LIMIT 1") is not None:
            return
        households: dict[str, list[Resident]] = {}
        for person in self.city:
            households.setdefault(person.household, []).append(person)
        rows = []
        for nendo in range(REFERENCE_DATE.year - 2, max(city_today().year, REFERENCE_DATE.year) + 1):
            for person in self.city:
                facts = facts_of(person, households[person.household], nendo, self.options.seed)
                if facts is not None:
                    rows.append(
                        {"atena": self.addressees.numbers[person.key], "nendo": nendo, **assess(facts)}
                    )
        with self.store.transaction() as db:
            db.executemany(
                _INSERT_INCOME,
                rows,
            )

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/seed", self._seed_endpoint, methods=["POST"]),
            Route("/batch", self._batch_endpoint, methods=["POST"]),
            Route("/shinkoku", self._shinkoku_endpoint, methods=["POST"]),
            Route("/ido-log", self._ido_log_endpoint, methods=["GET"]),
        ]

    async def seed_registry(self) -> dict[str, int]:
        return await self.addressees.link_all()

    async def answer_income(self, message: Received) -> Payload:
        atena, nendo = message.payload["AtenaNo"], message.payload["KazeiNendo"]
        found = self.store.row("SELECT * FROM incomes WHERE atena = ? AND nendo = ?", (atena, int(nendo)))
        if found is None:
            return {"ShokaiKekkaCode": "1", "AtenaNo": atena, "KazeiNendo": nendo}
        answer: Payload = {
            "ShokaiKekkaCode": "0",
            "AtenaNo": atena,
            "KazeiNendo": nendo,
            "KazeiKubunCode": found["kazei_kubun"],
            "SoshotokuKingaku": found["soshotoku"],
            "ShotokuwariGaku": found["shotokuwari"],
            "KintowariGaku": found["kintowari"],
            "FuyoNinzu": found["fuyo"],
            "NenshoFuyoNinzu": found["nensho_fuyo"],
            "KafuHitorioyaCode": found["hitorioya"],
        }
        if message.version >= 2:  # version 2 (over REST) adds 合計所得金額: no separate income here
            answer["GokeiShotokuKingaku"] = found["soshotoku"]
        return answer

    async def resident_changed(self, message: Received) -> None:
        await self.addressees.apply_ido(message)

    async def send_batch(self, nendo: int, destination: str = "011") -> dict[str, Any]:
        """所得情報一括提供 (全件) of ``nendo`` for every resident taxpayer linked to the registry."""
        rows = self.store.rows(
            "SELECT i.* FROM incomes i JOIN addressees a ON a.atena = i.atena"
            " WHERE i.nendo = ? AND a.linked = 1 AND a.status = '1' ORDER BY i.atena",
            (nendo,),
        )
        records = [
            {
                "RecordNo": number,
                "AtenaNo": row["atena"],
                "KazeiKubunCode": row["kazei_kubun"],
                "SoshotokuKingaku": row["soshotoku"],
                "ShotokuwariGaku": row["shotokuwari"],
                "FuyoNinzu": row["fuyo"],
            }
            for number, row in enumerate(rows, start=1)
        ]
        payload = {"KazeiNendo": nendo, "ShoriKubun": "1", "SakuseiDate": city_today(), "Shotoku": records}
        reply = await self.unit.notify("IF_ZEI_0101", payload, destination=destination)
        return {"reception_number": reply.reception_number, **reply.payload}

    async def shinkoku(self, filing: Shinkoku) -> dict[str, Any]:
        """A new taxpayer's 申告: find them in the registry (link our number) or register a 住登外者."""
        flow = Flow()
        found = await identify_applicant(self.unit, self.addressees, flow, filing, "個人住民税の申告")
        if found is None:
            return {"recorded": False, "steps": [step.as_json() for step in flow.steps]}
        with self.store.transaction() as db:
            db.execute(
                _INSERT_INCOME.replace("INSERT", "INSERT OR REPLACE"),
                {"atena": found.atena, "nendo": filing.nendo, **assess(TaxFacts(revenue=filing.salary))},
            )
        await flow.step(
            "課税台帳への記録", "ok", f"宛名番号 {found.atena} の {filing.nendo} 年度の所得を記録"
        )
        return {"recorded": True, "atena": found.atena, "steps": [step.as_json() for step in flow.steps]}

    async def _seed_endpoint(self, _: Request) -> Response:
        return JSONResponse(await self.seed_registry())

    async def _batch_endpoint(self, request: Request) -> Response:
        body = await request.json()
        nendo = int(body.get("nendo", city_today().year))
        return JSONResponse(await self.send_batch(nendo, str(body.get("destination", "011"))))

    async def _shinkoku_endpoint(self, request: Request) -> Response:
        filing = await read_model(request, Shinkoku)
        if isinstance(filing, Response):
            return filing
        return JSONResponse(await self.shinkoku(filing))

    async def _ido_log_endpoint(self, _: Request) -> Response:
        return JSONResponse(self.addressees.ido_log())


@dataclass(frozen=True)
class TaxFacts:
    """What the 住民税 of one taxpayer depends on here."""

    revenue: int  # 給与等の収入金額
    dependants: int = 0
    young_dependants: int = 0  # under 16: no 扶養控除
    single_parent: bool = False


def facts_of(person: Resident, household: Sequence[Resident], nendo: int, seed: int) -> TaxFacts | None:
    """The synthetic facts for 課税年度 ``nendo`` (the income of the year before), or ``None`` when the
    tax office has no record of the person (children, dependants without income)."""
    year_end = dt.date(nendo - 1, 12, 31)
    if person.salary == 0 or person.age_on(year_end) < 16:
        return None
    wobble = random.Random(f"{seed}:{person.key}:{nendo}").uniform(0.9, 1.1)  # noqa: S311 - synthetic data
    dependants = (
        [m for m in household if m is not person and (m.relation == CHILD or m.salary == 0)]
        if person.relation == HEAD
        else []
    )
    young = sum(1 for m in dependants if m.age_on(year_end) < 16)
    married = any(m.relation == WIFE for m in household)
    return TaxFacts(
        revenue=int(person.salary * wobble) // 1_000 * 1_000,
        dependants=len(dependants),
        young_dependants=young,
        single_parent=person.relation == HEAD and not married and young > 0,
    )


def assess(facts: TaxFacts) -> dict[str, Any]:
    """The tax of the module docstring's simplified rule, as the incomes table keeps it."""
    revenue, fuyo = facts.revenue, facts.dependants
    shotoku = max(revenue - min(max(int(revenue * 0.3) + 80_000, 550_000), 1_950_000), 0)
    limit = 350_000 * (fuyo + 1) + 100_000 + 210_000 if fuyo else 450_000
    taxable = shotoku - 430_000 - 330_000 * (fuyo - facts.young_dependants) - int(revenue * 0.15)
    shotokuwari = max(taxable, 0) // 10 // 100 * 100
    kubun = "2" if shotoku <= limit else ("1" if shotokuwari else "3")
    return {
        "kazei_kubun": kubun,
        "soshotoku": shotoku,
        "shotokuwari": 0 if kubun == "2" else shotokuwari,
        "kintowari": 0 if kubun == "2" else KINTOWARI,
        "fuyo": fuyo,
        "nensho_fuyo": facts.young_dependants,
        "hitorioya": "2" if facts.single_parent else "0",
    }
