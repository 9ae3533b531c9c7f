"""011 児童手当: the applicant side of 児童手当の認定請求, step by step as the seed lecture's
業務プロセスフロー draws it.

For each 認定請求 (``POST /ninteiseikyu``): 申請書等の受理 → 申請者の宛名情報の確認 (the registry, by
個人番号 or 基本4情報; a 住民 or a 住登外者, registered if unknown) → with a 個人番号, its 真正性確認 and a
住登外者's 本人確認情報の最新化 through 住基ネット → 住民票関係情報の照会 (the household on the 請求日) →
照会先（基準日現在の住所地）の特定 (住民基本台帳, else 住基ネット) → 地方税関係情報の照会: 庁内 from 002,
or — for a person who lived in another municipality on the 基準日 — 符号取得 and a 情報照会 to it through
the 情報提供ネットワークシステム → 審査 → 決定・記録.
Every step is kept with its outcome and, when the hub refused it, the hub's code; a refused income
query (E3001: the ordinance) makes the decision 保留 with the reason, never a failure.

The 審査 follows 児童手当法 as in force since 2024-10-01 (令和6年法律第47号; the rule itself is
``allowance``): no 所得制限; 支給対象児童 to the end of 高校生年代; 15,000 円 under 3, 10,000 円 from 3,
30,000 円 for the 第3子以降, ranked over the children up to the 22歳年度末. Simplified on purpose:
- the children: the applicant's children in the household on the 請求日 (続柄 子 of a 世帯主 or their
  spouse, 孫 of a 子), all taken as 監護・生計費負担 by the applicant (one household); when the
  住民基本台帳 cannot tell, the number stated on the 請求書, taken as 3歳以上 and in 高校生年代;
- the income still decides who receives: the 総所得金額 of the 課税年度 (from June this year's, before
  that last year's) of the applicant and of the spouse in the household; the higher is the
  生計を維持する程度が高い者. An applicant whose spouse has the higher income is 却下 (the spouse is the
  受給資格者 and claims). 該当なし counts as no income; 未申告 stops the comparison. The spouse is taken to
  have lived where the applicant did on the 基準日;
- the amount is the first paid month's: the month after the 請求日's.
- 保留: the applicant could not be identified, their 個人番号 is not theirs by 住基ネット, the 基準日's
  municipality cannot be known (elsewhere, without a 個人番号), an income query was refused or not
  answered, or an income needed is 未申告.

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
from platform_hub.protocol.registry import ResidentStatus
from platform_hub_demo.allowance import Child, Share, first_paid_month, recipient, shares
from platform_hub_demo.common import Addressees, MockUnit, read_model
from platform_hub_demo.flows import (
    Applicant,
    Flow,
    Identified,
    Residence,
    StepListener,
    fiscal_income_year,
    identify_applicant,
    network_income,
    query_household,
    query_income,
    refresh_identity,
    residence_on,
    respond_with_flow,
    verify_my_number,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    seikyu_date TEXT NOT NULL,
    atena TEXT,
    integrated_number TEXT,
    decision TEXT,                 -- 認定, 却下, 保留 (NULL while examined)
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
# 続柄 (IF_JUK_0002 00102214): whose children a household member's are.
_HEAD, _WIFE, _HUSBAND, _CHILD, _GRANDCHILD = "01", "02", "03", "04", "07"
SPOUSE_STEP = "地方税関係情報の照会（配偶者）"


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


@dataclass(frozen=True)
class Family:
    """The applicant's children and spouse as the household on the 請求日 shows them."""

    children: list[Child]
    spouse: str | None  # the spouse's 宛名番号 (ours), when in the household


def family_of(members: list[Payload], atena: str) -> Family:
    """The applicant's children (子 of the 世帯主 and of the spouse, 孫 of a 子) and spouse."""
    relation = next((m["ZokugaraCode"] for m in members if m["AtenaNo"] == atena), None)
    children_are = (
        _GRANDCHILD if relation == _CHILD else _CHILD if relation in {_HEAD, _WIFE, _HUSBAND} else None
    )
    spouse_is = {_HEAD: {_WIFE, _HUSBAND}, _WIFE: {_HEAD}, _HUSBAND: {_HEAD}}.get(relation or "", set())
    return Family(
        children=[
            Child(dt.date.fromisoformat(m["SeinengappiDate"]))
            for m in members
            if m["ZokugaraCode"] == children_are
        ],
        spouse=next(
            (m["AtenaNo"] for m in members if m["ZokugaraCode"] in spouse_is and m["AtenaNo"] != atena), None
        ),
    )


def stated_children(count: int, month: dt.date) -> list[Child]:
    """Children stated on the 請求書 only: taken as 3歳以上 and in 高校生年代 (ten years old)."""
    return [Child(dt.date(month.year - 10, month.month, 1))] * count


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
        decision = await self._confirm_identity(flow, claim, person)
        if decision is None:
            assert person is not None
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

    async def _confirm_identity(
        self, flow: Flow, claim: Ninteiseikyu, person: Identified | None
    ) -> Decision | None:
        """With a 個人番号 on the 請求書: its 真正性確認 against 住基ネット, and a 住登外者's 本人確認情報
        brought up to date from it. A decision only when the case cannot go on."""
        if person is None:
            return Decision("保留", "申請者の宛名情報を確認できない")
        if claim.my_number is None:
            return None
        if not await verify_my_number(self.unit, flow, person, claim.my_number):
            return Decision("保留", "個人番号の真正性を確認できない: 番号確認書類の再提出を求める")
        if person.status == ResidentStatus.NON_RESIDENT:
            await refresh_identity(self.unit, flow, person)
        return None

    async def _examine(self, flow: Flow, claim: Ninteiseikyu, day: dt.date, person: Identified) -> Decision:
        atena, month = person.atena, first_paid_month(day)
        household = await query_household(self.unit, flow, atena, day)
        family = family_of(household, atena) if household is not None else None
        if family is None and claim.children is None:
            return Decision(
                "保留", "支給対象児童を確認できない（住民基本台帳に世帯がなく、請求書にも記載がない）"
            )
        if family is None:
            family = Family(stated_children(claim.children or 0, month), None)
        paid = shares(family.children, month)
        if not paid:
            return Decision("却下", "支給対象となる児童（高校生年代まで）がいない", children=0)
        nendo, kijun = fiscal_income_year(day)
        residence = await residence_on(self.unit, flow, person, kijun, numbered=claim.my_number is not None)
        if residence.where == "unknown":
            return Decision("保留", f"基準日（{kijun}）の住所地を特定できない", children=len(paid))
        if residence.where == "elsewhere" and residence.municipality is None:
            why = f"基準日（{kijun}）の住所地が他団体: 個人番号がなくネットワークで照会できない"
            return Decision("保留", why, children=len(paid))
        incomes = await self._incomes(flow, atena, family.spouse, nendo, residence)
        if isinstance(incomes, str):
            return Decision("保留", incomes, children=len(paid))
        return await self._judge(flow, incomes, paid, month)

    async def _incomes(
        self, flow: Flow, atena: str, spouse: str | None, nendo: int, residence: Residence
    ) -> dict[str, int] | str:
        """The 基準日's incomes of the applicant and the spouse — from 個人住民税 (002), or through the
        network from the municipality they lived in — or why they cannot be had (保留)."""
        incomes: dict[str, int] = {}
        for who, whose, step in (("申請者", atena, None), ("配偶者", spouse, SPOUSE_STEP)):
            if whose is None:
                continue
            if residence.municipality is not None:
                answer = await network_income(self.unit, flow, whose, residence.municipality, nendo, who)
            else:
                answer = await query_income(self.unit, flow, whose, nendo, name=step)
            if answer is None:
                return f"地方税関係情報を照会できない（{flow.steps[-1].code}）: {flow.steps[-1].detail}"
            code = answer["ShokaiKekkaCode"]
            if code == "2" and spouse is not None:  # 未申告: the parents cannot be compared
                return f"{who}の {nendo} 年度の所得が未申告: 申告を求める"
            incomes[who] = int(answer["SoshotokuKingaku"]) if code == "0" else 0  # 該当なし: no income
        return incomes

    async def _judge(
        self, flow: Flow, incomes: dict[str, int], paid: list[Share], month: dt.date
    ) -> Decision:
        receiver = recipient(incomes, "申請者")
        compared = "、".join(f"{who} {amount:,} 円" for who, amount in incomes.items())
        amount = sum(share.amount for share in paid)
        if receiver != "申請者":
            decision = Decision("却下", "生計を維持する程度が高い者は配偶者: 配偶者が認定請求する", len(paid))
        else:
            decision = Decision("認定", f"{month:%Y年%m月}分から（所得制限なし）", len(paid), amount)
        await flow.step(
            "審査（受給者・支給額）",
            "ok",
            f"基準日の総所得金額 {compared} → 受給者 {receiver}; 支給対象児童 {len(paid)} 人 "
            f"（{'、'.join(f'{s.why} {s.amount:,} 円' for s in paid)}）→ {decision.result}",
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
