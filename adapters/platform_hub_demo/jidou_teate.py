"""011 児童手当: the applicant side of 児童手当の認定請求, step by step as the seed lecture's
業務プロセスフロー draws it.

For each 認定請求 (``POST /ninteiseikyu``): 申請書等の受理 → 申請者の宛名情報の確認 (the registry, by
個人番号 or 基本4情報; a 住民 or a 住登外者, registered if unknown) → 住民票関係情報の照会 (the household
on the 請求日) → 照会先（基準日現在の住所地）の特定 → 地方税関係情報の照会 (the income) → 審査 → 決定・記録.
Every step is kept with its outcome and, when the hub refused it, the hub's code; a refused income
query (E3001: the ordinance) makes the decision 保留 with the reason, never a failure.

The decision rule is simplified on purpose and follows 児童手当法 as it was before October 2024:
- 支給対象児童: members of the applicant's household on the 請求日 until the March 31 after their
  15th birthday (中学校修了前); when the 住民基本台帳 cannot tell, the number stated on the 請求書.
- 所得制限: the 総所得金額 of the 課税年度 (from June this year's, before that last year's) against the
  limits by 扶養人数: 0 → 622万 / 858万, 1 → 660万 / 896万, 2 → 698万 / 934万, 3 → 736万 / 972万, and
  38万 more per further dependant. Up to the first: 認定; up to the second: 認定（特例給付）; above: 却下.
- 月額: 15,000 円 per child under 3, 10,000 円 per older child; 特例給付 5,000 円 per child.
- 保留: the applicant could not be identified, lived elsewhere on the 基準日 (the income would come from
  that city over the national network), the income query was refused, or no income is on record.

HTTP: ``POST /ninteiseikyu`` (``?stream=1`` for NDJSON steps as they happen), ``GET /ninteiseikyu/{id}``,
``GET /recipients``, ``POST /seed``, ``GET /ido-log``. On the hub: answers IF_JDT_0001, takes IF_JUK_0001
(a recipient's 転出 or 死亡 ends the allowance) and IF_ZEI_0101.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

from platform_hub_sdk import Payload, Received
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from platform_hub.kit.clock import city_today, utcnow
from platform_hub_demo.common import Addressees, MockUnit, read_model
from platform_hub_demo.flows import (
    Applicant,
    Flow,
    Identified,
    StepListener,
    fiscal_income_year,
    identify_applicant,
    query_household,
    query_income,
    residence_on,
    respond_with_flow,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    seikyu_date TEXT NOT NULL,
    atena TEXT,
    integrated_number TEXT,
    decision TEXT,                 -- 認定, 認定（特例給付）, 却下, 保留 (NULL while examined)
    reason TEXT,
    children INTEGER,
    monthly_amount INTEGER,
    steps TEXT                     -- JSON: every step and its outcome
);
-- 受給者: answers 児童手当受給状況照会 (IF_JDT_0001).
CREATE TABLE IF NOT EXISTS recipients (
    atena TEXT PRIMARY KEY,
    status TEXT NOT NULL,          -- 1 受給中, 2 受給終了, 3 支給停止
    kaishi_ym TEXT NOT NULL,
    shuryo_ym TEXT,
    children INTEGER NOT NULL
);
-- The annual income set from 個人住民税 (IF_ZEI_0101), for the 現況 checks.
CREATE TABLE IF NOT EXISTS batch_incomes (
    atena TEXT NOT NULL,
    nendo INTEGER NOT NULL,
    soshotoku INTEGER NOT NULL,
    fuyo INTEGER NOT NULL,
    PRIMARY KEY (atena, nendo)
);
"""
_LIMITS = {
    0: (6_220_000, 8_580_000),
    1: (6_600_000, 8_960_000),
    2: (6_980_000, 9_340_000),
    3: (7_360_000, 9_720_000),
}
_PER_FURTHER_DEPENDANT = 380_000


class Ninteiseikyu(Applicant):
    """A 認定請求: the applicant, the 請求日, and (optionally) the number of children on the 請求書."""

    seikyu_date: dt.date | None = None
    children: int | None = Field(default=None, ge=0, le=20, description="stated on the 請求書")


@dataclass
class Decision:
    result: str
    reason: str
    children: int | None = None
    monthly_amount: int | None = None


def income_limits(dependants: int) -> tuple[int, int]:
    """(所得制限限度額, 所得上限限度額) for ``dependants`` 扶養親族等."""
    if dependants <= 3:
        return _LIMITS[dependants]
    extra = _PER_FURTHER_DEPENDANT * (dependants - 3)
    return _LIMITS[3][0] + extra, _LIMITS[3][1] + extra


def is_eligible_child(birth_date: dt.date, on: dt.date) -> bool:
    """中学校修了前: until the March 31 after the 15th birthday (born 1 Jan–1 Apr: that same spring)."""
    late_in_school_year = (birth_date.month, birth_date.day) > (4, 1)
    return birth_date <= on <= dt.date(birth_date.year + 15 + late_in_school_year, 3, 31)


def monthly_amount(births: list[dt.date], on: dt.date, special: bool) -> int:
    if special:
        return 5_000 * len(births)
    return sum(15_000 if (on - birth).days < 3 * 365 else 10_000 for birth in births)


class JidouTeate(MockUnit):
    code, name, purposes, department = "011", "児童手当", ("JDT-001",), "KODOMO-1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.addressees = Addressees(self.store, self.unit, self.options.seed, self.city)
        self.store.connection.executescript(_SCHEMA)
        self.unit.on_query("IF_JDT_0001")(self.answer_jukyu)
        self.unit.on_notification("IF_JUK_0001")(self.resident_changed)
        self.unit.on_notification("IF_ZEI_0101")(self.incomes_arrived)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/ninteiseikyu", self._claim_endpoint, methods=["POST"]),
            Route("/ninteiseikyu/{claim_id:int}", self._claim_get_endpoint, methods=["GET"]),
            Route("/recipients", self._recipients_endpoint, methods=["GET"]),
            Route("/seed", self._seed_endpoint, methods=["POST"]),
            Route("/ido-log", self._ido_log_endpoint, methods=["GET"]),
        ]

    async def seed_registry(self) -> dict[str, int]:
        return await self.addressees.link_all()

    # --- 認定請求 ---------------------------------------------------------------------------------

    async def ninteiseikyu(self, claim: Ninteiseikyu, listener: StepListener | None = None) -> dict[str, Any]:
        """Take one 認定請求 through the flow; returns the decision and every step (also stored)."""
        flow, day = Flow(listener), claim.seikyu_date or city_today()
        with self.store.transaction() as db:
            claim_id = db.execute(
                "INSERT INTO claims (received_at, seikyu_date) VALUES (?, ?)",
                (utcnow().isoformat(timespec="seconds"), day.isoformat()),
            ).lastrowid
        await flow.step("申請書等の受理", "ok", f"認定請求を受理（受付番号 {claim_id}、請求日 {day}）")
        person = await identify_applicant(self.unit, self.addressees, flow, claim, "児童手当の認定請求")
        decision = await self._examine(flow, claim, day, person)
        await flow.step("決定・記録", "decided", f"{decision.result}: {decision.reason}")
        result = {
            "claim_id": claim_id,
            "atena": person.atena if person else None,
            "integrated_number": person.integrated_number if person else None,
            **asdict(decision),
            "steps": [step.as_json() for step in flow.steps],
        }
        self._store_decision(result, day)
        return result

    async def _examine(
        self, flow: Flow, claim: Ninteiseikyu, day: dt.date, person: Identified | None
    ) -> Decision:
        if person is None:
            return Decision("保留", "申請者の宛名情報を確認できない")
        atena = person.atena
        household = await query_household(self.unit, flow, atena, day)
        births = [
            dt.date.fromisoformat(m["SeinengappiDate"])
            for m in household or []
            if m["AtenaNo"] != atena and is_eligible_child(dt.date.fromisoformat(m["SeinengappiDate"]), day)
        ]
        children = len(births) if household is not None else claim.children
        if children is None:
            return Decision(
                "保留", "支給対象児童を確認できない（住民基本台帳に世帯がなく、請求書にも記載がない）"
            )
        if children == 0:
            return Decision("却下", "支給対象となる児童がいない", children=0)
        nendo, kijun = fiscal_income_year(day)
        residence = await residence_on(self.unit, flow, person, kijun)
        if residence == "elsewhere":
            why = f"基準日（{kijun}）の住所地が他団体: 情報提供ネットワークシステムによる所得の照会を待つ"
            return Decision("保留", why, children=children)
        if residence == "unknown":
            return Decision("保留", f"基準日（{kijun}）の住所地を特定できない", children=children)
        income = await query_income(self.unit, flow, atena, nendo)
        if income is None:
            code = flow.steps[-1].code
            return Decision(
                "保留", f"地方税関係情報を照会できない（{code}）: {flow.steps[-1].detail}", children
            )
        if income["ShokaiKekkaCode"] != "0":
            return Decision("保留", f"{nendo} 年度の所得の記録がない: 申告を求める", children=children)
        births = births or [day - dt.timedelta(days=5 * 365)] * children  # stated children: 3 or older
        return await self._judge(flow, income, births, day)

    async def _judge(self, flow: Flow, income: Payload, births: list[dt.date], day: dt.date) -> Decision:
        shotoku, dependants = int(income["SoshotokuKingaku"]), int(income["FuyoNinzu"])
        limit, upper = income_limits(dependants)
        if shotoku <= limit:
            decision = Decision("認定", "所得制限限度額以下", len(births), monthly_amount(births, day, False))
        elif shotoku <= upper:
            decision = Decision("認定（特例給付）", "所得制限限度額超・所得上限限度額以下", len(births))
            decision.monthly_amount = monthly_amount(births, day, True)
        else:
            decision = Decision("却下", "所得上限限度額を超える", len(births))
        await flow.step(
            "審査（所得制限）",
            "ok",
            f"総所得金額 {shotoku:,} 円／扶養 {dependants} 人の限度額 {limit:,} 円・上限 {upper:,} 円、"
            f"支給対象児童 {len(births)} 人 → {decision.result}",
        )
        return decision

    def _store_decision(self, result: dict[str, Any], day: dt.date) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE claims SET atena = :atena, integrated_number = :integrated_number,"
                " decision = :result, reason = :reason, children = :children,"
                " monthly_amount = :monthly_amount, steps = :steps WHERE id = :claim_id",
                {**result, "steps": json.dumps(result["steps"], ensure_ascii=False)},
            )
            if result["result"].startswith("認定"):
                start = (day.replace(day=1) + dt.timedelta(days=32)).strftime("%Y%m")  # from the next month
                db.execute(
                    "INSERT OR REPLACE INTO recipients VALUES (?, '1', ?, NULL, ?)",
                    (result["atena"], start, result["children"]),
                )

    # --- what the hub delivers --------------------------------------------------------------------

    async def answer_jukyu(self, message: Received) -> Payload:
        atena = message.payload["AtenaNo"]
        found = self.store.row("SELECT * FROM recipients WHERE atena = ?", (atena,))
        if found is None:
            return {"ShokaiKekkaCode": "1", "AtenaNo": atena}
        answer: Payload = {
            "ShokaiKekkaCode": "0",
            "AtenaNo": atena,
            "JukyuJokyoCode": found["status"],
            "JukyuKaishiYm": found["kaishi_ym"],
        }
        if found["status"] == "2":
            answer["JukyuShuryoYm"] = found["shuryo_ym"]
        if found["status"] == "1":
            answer["ShikyuTaishoJidoSu"] = found["children"]
        return answer

    async def resident_changed(self, message: Received) -> None:
        atena = await self.addressees.apply_ido(message)
        if message.payload["IdoJiyuCode"] in {"02", "05"}:  # 転出 or 死亡 of a recipient ends it
            month = message.payload["IdoDate"][:7].replace("-", "")
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE recipients SET status = '2', shuryo_ym = ? WHERE atena = ? AND status = '1'",
                    (month, atena),
                )

    async def incomes_arrived(self, message: Received) -> None:
        nendo = int(message.payload["KazeiNendo"])
        with self.store.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO batch_incomes VALUES (?, ?, ?, ?)",
                [
                    (r["AtenaNo"], nendo, int(r["SoshotokuKingaku"]), int(r["FuyoNinzu"]))
                    for r in message.payload["Shotoku"]
                ],
            )

    # --- HTTP -------------------------------------------------------------------------------------

    async def _claim_endpoint(self, request: Request) -> Response:
        claim = await read_model(request, Ninteiseikyu)
        if isinstance(claim, Response):
            return claim
        return await respond_with_flow(request, lambda listener: self.ninteiseikyu(claim, listener))

    async def _claim_get_endpoint(self, request: Request) -> Response:
        found = self.store.row("SELECT * FROM claims WHERE id = ?", (request.path_params["claim_id"],))
        if found is None:
            return JSONResponse({"error": {"code": "E1003", "message": "no such 認定請求"}}, status_code=404)
        return JSONResponse({**dict(found), "steps": json.loads(found["steps"] or "[]")})

    async def _recipients_endpoint(self, _: Request) -> Response:
        return JSONResponse([dict(row) for row in self.store.rows("SELECT * FROM recipients ORDER BY atena")])

    async def _seed_endpoint(self, _: Request) -> Response:
        return JSONResponse(await self.seed_registry())

    async def _ido_log_endpoint(self, _: Request) -> Response:
        return JSONResponse(self.addressees.ido_log())
