"""051 就学援助 (教育委員会): a 就学援助 application judged on the family's income.

The 教育委員会 is another organ than the mayor's, so the 住民票関係情報 and 地方税関係情報 it asks for
are 提供 under 番号法 第19条第11号 (the ordinance's 別表第3, rules P-01 and P-02), not 利用.

The rule, simplified: 認定 when the household has a child of school age (小学校入学から中学校卒業まで)
and the applicant's 総所得金額 is at most the 準要保護 limit, 100万円 + 60万円 × 扶養人数 (a stand-in for
1.3 times the 生活保護基準); 不認定 otherwise; 保留 when the applicant or the income cannot be known.

HTTP: ``POST /shinsei`` (``?stream=1`` for NDJSON steps), ``POST /seed``, ``GET /ido-log``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from platform_hub_sdk import Received
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from platform_hub.kit.clock import city_today
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
    respond_with_flow,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shinsei_date TEXT NOT NULL,
    atena TEXT,
    decision TEXT,                 -- 認定, 不認定, 保留
    reason TEXT,
    steps TEXT
);
"""


class Shinsei(Applicant):
    """A 就学援助 application: the parent, and the day it was made."""

    shinsei_date: dt.date | None = None


def is_school_age(birth_date: dt.date, on: dt.date) -> bool:
    """From the April after the 6th birthday to the March after the 15th (学齢: born 2 Apr – 1 Apr)."""
    school_year = on.year if on.month >= 4 else on.year - 1
    entered = birth_date.year + 6 + ((birth_date.month, birth_date.day) > (4, 1))
    return entered <= school_year <= entered + 8


def limit_for(dependants: int) -> int:
    return 1_000_000 + 600_000 * dependants


class ShugakuEnjo(MockUnit):
    code, name, organ, purposes, department = "051", "就学援助", "教育委員会", ("SHU-001",), "GAKUMU-1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.addressees = Addressees(self.store, self.unit, self.options.seed, self.city)
        self.store.connection.executescript(_SCHEMA)
        self.unit.on_notification("IF_JUK_0001")(self.resident_changed)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/shinsei", self._shinsei_endpoint, methods=["POST"]),
            Route("/seed", self._seed_endpoint, methods=["POST"]),
            Route("/ido-log", self._ido_log_endpoint, methods=["GET"]),
        ]

    async def seed_registry(self) -> dict[str, int]:
        return await self.addressees.link_all()

    async def resident_changed(self, message: Received) -> None:
        await self.addressees.apply_ido(message)

    async def shinsei(self, application: Shinsei, listener: StepListener | None = None) -> dict[str, Any]:
        flow, day = Flow(listener), application.shinsei_date or city_today()
        await flow.step("申請書の受理", "ok", f"就学援助の申請を受理（申請日 {day}）")
        person = await identify_applicant(self.unit, self.addressees, flow, application, "就学援助の申請")
        result, reason = await self._examine(flow, person, day)
        await flow.step("決定・記録", "decided", f"{result}: {reason}")
        steps = [step.as_json() for step in flow.steps]
        with self.store.transaction() as db:
            application_id = db.execute(
                "INSERT INTO applications (shinsei_date, atena, decision, reason, steps)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    day.isoformat(),
                    person.atena if person else None,
                    result,
                    reason,
                    json.dumps(steps, ensure_ascii=False),
                ),
            ).lastrowid
        return {"application_id": application_id, "result": result, "reason": reason, "steps": steps}

    async def _examine(self, flow: Flow, person: Identified | None, day: dt.date) -> tuple[str, str]:
        if person is None:
            return "保留", "申請者の宛名情報を確認できない"
        household = await query_household(self.unit, flow, person.atena, day)
        if household is None:
            return "保留", "市内に住所のある世帯を確認できない"
        pupils = [m for m in household if is_school_age(dt.date.fromisoformat(m["SeinengappiDate"]), day)]
        if not pupils:
            return "不認定", "学齢の児童生徒がいない"
        nendo, _ = fiscal_income_year(day)
        income = await query_income(self.unit, flow, person.atena, nendo)
        if income is None:
            return "保留", f"地方税関係情報を照会できない（{flow.steps[-1].code}）"
        if income["ShokaiKekkaCode"] != "0":
            return "保留", f"{nendo} 年度の所得の記録がない"
        shotoku, dependants = int(income["SoshotokuKingaku"]), int(income["FuyoNinzu"])
        limit = limit_for(dependants)
        result = "認定" if shotoku <= limit else "不認定"
        await flow.step(
            "審査（準要保護の所得基準）",
            "ok",
            f"総所得金額 {shotoku:,} 円／扶養 {dependants} 人の基準額 {limit:,} 円、"
            f"学齢の児童生徒 {len(pupils)} 人 → {result}",
        )
        return result, "準要保護の所得基準以下" if result == "認定" else "所得基準を超える"

    async def _shinsei_endpoint(self, request: Request) -> Response:
        application = await read_model(request, Shinsei)
        if isinstance(application, Response):
            return application
        return await respond_with_flow(request, lambda listener: self.shinsei(application, listener))

    async def _seed_endpoint(self, _: Request) -> Response:
        return JSONResponse(await self.seed_registry())

    async def _ido_log_endpoint(self, _: Request) -> Response:
        return JSONResponse(self.addressees.ido_log())
