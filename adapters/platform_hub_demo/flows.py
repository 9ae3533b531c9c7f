"""Business flows told as steps: what 児童手当 and 就学援助 do for a case, one hub exchange at a time.

Each step is kept with its outcome and, when the hub refused it, the hub's code and reception
number, so a clerk (or the demo) can follow a case as it happens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from platform_hub_sdk import LinkageError, Payload, Unit
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from platform_hub.protocol.registry import BasicInfo, Candidate, ResidentStatus, Sex
from platform_hub_demo.common import NON_RESIDENT, Addressees, next_atena
from platform_hub_demo.residents import CITY_CODE, CITY_NAME

log = logging.getLogger("platform_hub_demo")
TAX_INFORMATION = "地方税関係情報"  # the 特定個人情報 a 情報照会 for the income asks


@dataclass
class Step:
    """One step of a business flow and how it went; ``code`` is the hub's E-code when refused."""

    name: str
    outcome: str  # ok, not_found, registered, linked, refused, elsewhere, skipped, decided
    detail: str
    interface_id: str | None = None
    code: str | None = None
    reception_number: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


StepListener = Callable[[Step], Awaitable[None]]


@dataclass
class Flow:
    """The steps of one case as they happen; a listener (a streaming response) hears each at once."""

    listener: StepListener | None = None
    steps: list[Step] = field(default_factory=list)

    async def step(self, name: str, outcome: str, detail: str, **facts: str | None) -> Step:
        taken = Step(name, outcome, detail, **facts)
        self.steps.append(taken)
        if self.listener is not None:
            await self.listener(taken)
        return taken

    async def refused(
        self, name: str, error: LinkageError, interface_id: str | None, detail: str = ""
    ) -> Step:
        told = f"{detail}: {error.message}" if detail else error.message
        return await self.step(
            name,
            "refused",
            told,
            interface_id=interface_id,
            code=error.code,
            reception_number=error.reception_number,
        )


class Applicant(BaseModel):
    """Who applies: a 個人番号, or the 基本4情報 (both when the 個人番号カード is shown)."""

    model_config = ConfigDict(extra="forbid")

    my_number: str | None = Field(default=None, repr=False, pattern=r"^[0-9]{12}$")
    name: str | None = None
    name_kana: str | None = None
    birth_date: str | None = None
    sex: Sex | None = None
    address: str | None = None

    @model_validator(mode="after")
    def _enough(self) -> Applicant:
        if self.my_number is None and not (self.name and self.birth_date):
            raise ValueError("give my_number, or name and birth_date (基本4情報)")
        return self

    def basic_info(self) -> BasicInfo | None:
        if not (self.name and self.birth_date and self.sex and self.address):
            return None
        return BasicInfo(
            name=self.name,
            name_kana=self.name_kana,
            birth_date=self.birth_date,
            sex=self.sex,
            address=self.address,
        )


@dataclass(frozen=True)
class Identified:
    atena: str
    integrated_number: str
    status: ResidentStatus  # the registry's 住民状態
    status_ja: str


async def identify_applicant(
    unit: Unit, addressees: Addressees, flow: Flow, applicant: Applicant, reason: str
) -> Identified | None:
    """申請者の宛名情報の確認: find the person in the registry (住民 or 住登外者), and make sure our own
    宛名番号 is linked to them; a person the registry does not know is registered as a 住登外者."""
    name = "申請者の宛名情報の確認"
    try:
        candidate = await _search(unit, applicant)
    except LinkageError as error:
        await flow.refused(name, error, None, "統一宛名の検索")
        return None
    if candidate is None:
        how = "個人番号" if applicant.my_number else "基本4情報"
        await flow.step(name, "not_found", f"{how}で統一宛名を検索: 該当なし")
        return await _register_non_resident(unit, addressees, flow, applicant, reason)
    current = candidate.current
    numbered = _numbered(candidate.person_id, candidate.integrated_number)
    await flow.step(
        name,
        "ok",
        f"統一宛名に該当あり: {current.status_ja}（{numbered}、照合: {'・'.join(candidate.matched)}）",
    )
    own = next((link.atena_number for link in candidate.links if link.unit_code == unit.code), None)
    if own is None:
        own = await _link(unit, addressees, flow, candidate, applicant, reason)
        if own is None:
            return None
    return Identified(own, candidate.person_id, current.status, current.status_ja)


async def _search(unit: Unit, applicant: Applicant) -> Candidate | None:
    if applicant.my_number is not None:
        return await unit.registry.find_by_my_number(applicant.my_number)
    assert applicant.name and applicant.birth_date
    found = await unit.registry.find_by_basic_info(applicant.name, applicant.birth_date, sex=applicant.sex)
    return found[0] if found else None


async def _link(
    unit: Unit, addressees: Addressees, flow: Flow, candidate: Candidate, applicant: Applicant, reason: str
) -> str | None:
    name, atena = "宛名番号の紐付け", next_atena(addressees.store, unit.code)
    try:
        await unit.registry.link(
            candidate.person_id,
            atena,
            reason,
            my_number=applicant.my_number,
            name=applicant.name,
            birth_date=applicant.birth_date,
        )
    except LinkageError as error:
        await flow.refused(name, error, None)
        return None
    current = candidate.current
    # Attributes hidden from us (他業務参照不可) are taken from the application instead.
    info = BasicInfo.model_validate(
        {
            "name": current.name or applicant.name or "不明",
            "name_kana": current.name_kana,
            "birth_date": current.birth_date or applicant.birth_date or "1900-01-00",
            "sex": current.sex or applicant.sex or "0",
            "address": current.address or applicant.address or "不明",
        }
    )
    status = "1" if current.status == ResidentStatus.RESIDENT else NON_RESIDENT
    addressees.add(
        atena,
        info,
        status=status,
        integrated_number=candidate.person_id,
        my_number=applicant.my_number,
    )
    await flow.step(name, "linked", f"当ユニットの宛名番号 {atena} を統一宛名に紐付け")
    return atena


async def _register_non_resident(
    unit: Unit, addressees: Addressees, flow: Flow, applicant: Applicant, reason: str
) -> Identified | None:
    name, info = "住登外者の登録", applicant.basic_info()
    if info is None:
        await flow.step(name, "not_found", "基本4情報（氏名・生年月日・性別・住所）がないため登録できない")
        return None
    atena = next_atena(addressees.store, unit.code)
    try:
        person = await unit.registry.register(info, atena, reason=reason, my_number=applicant.my_number)
    except LinkageError as error:
        await flow.refused(name, error, None)
        return None
    addressees.add(
        atena,
        info,
        status=NON_RESIDENT,
        integrated_number=person.person_id,
        my_number=applicant.my_number,
    )
    await flow.step(
        name,
        "registered",
        f"住登外者として登録（宛名番号 {atena}、{_numbered(person.person_id, person.integrated_number)}）",
    )
    status = ResidentStatus.NON_RESIDENT
    return Identified(atena, person.person_id, status, status.ja)


def _numbered(person_id: str, integrated_number: str | None) -> str:
    """The person as the registry names them: a 団体内統合宛名番号 comes only with the 個人番号."""
    if integrated_number is not None:
        return f"団体内統合宛名番号 {integrated_number}"
    return f"個人番号がなく団体内統合宛名番号は未付番、統一宛名の個人 {person_id}"


def fiscal_income_year(day: dt.date) -> tuple[int, dt.date]:
    """The 課税年度 whose income a case on ``day`` is judged by, and its 基準日 (1 January).

    Until May the newest 住民税 is last year's (it is assessed in June), from June this year's.
    """
    nendo = day.year if day.month >= 6 else day.year - 1
    return nendo, dt.date(nendo, 1, 1)


async def query_household(unit: Unit, flow: Flow, atena: str, day: dt.date) -> list[Payload] | None:
    """住民票関係情報の照会 (IF_JUK_0002, 世帯全員) on ``day``: the household, or ``None`` when the
    住民基本台帳 has no resident household for the person."""
    name = "住民票関係情報の照会（世帯）"
    try:
        reply = await unit.query("IF_JUK_0002", {"AtenaNo": atena, "KijunDate": day, "SetaiShokaiKubun": "1"})
    except LinkageError as error:
        why = "住民基本台帳に記録なし（住登外者）" if error.code == "E3002" else "照会できない"
        await flow.refused(name, error, "IF_JUK_0002", why)
        return None
    answer, facts = reply.payload, {"interface_id": "IF_JUK_0002", "reception_number": reply.reception_number}
    if answer["ShokaiKekkaCode"] != "0" or answer.get("JuminJotaiCode") != "1":
        state = {"1": "該当なし", "2": "基準日時点で住民でない"}.get(
            answer["ShokaiKekkaCode"], "住民でない（除票）"
        )
        await flow.step(name, "not_found", f"{day} 現在: {state}", **facts)
        return None
    members: list[Payload] = answer["SetaiIn"]
    await flow.step(name, "ok", f"{day} 現在: 住民（{answer['Jusho']}）、世帯員 {len(members)} 人", **facts)
    return members


@dataclass(frozen=True)
class Residence:
    """照会先（基準日現在の住所地）: ``"city"`` (庁内照会), ``"elsewhere"`` (a 情報照会 through the network
    to ``municipality`` — when 住基ネット named it; without, nobody to ask), or ``"unknown"``."""

    where: str
    municipality: str | None = None


async def residence_on(
    unit: Unit, flow: Flow, person: Identified, kijun: dt.date, *, numbered: bool
) -> Residence:
    """Where the person lived on the 基準日: the city's 住民基本台帳 first; for a person it does not
    hold then, 住基ネット (``numbered``: the registry holds their 個人番号), else the registry's history."""
    name = "基準日現在の住所地の特定"
    try:
        reply = await unit.query(
            "IF_JUK_0002", {"AtenaNo": person.atena, "KijunDate": kijun, "SetaiShokaiKubun": "0"}
        )
        answer = reply.payload
        if answer["ShokaiKekkaCode"] == "0" and answer.get("JuminJotaiCode") == "1":
            await flow.step(
                name,
                "ok",
                f"基準日（{kijun}）の住所地: 市内（{answer['Jusho']}）→ 照会先: 個人住民税（002）",
                interface_id="IF_JUK_0002",
                reception_number=reply.reception_number,
            )
            return Residence("city")
    except LinkageError as error:
        if error.code != "E3002":  # E3002: the 住民基本台帳 does not know the person; ask elsewhere
            await flow.refused(name, error, "IF_JUK_0002")
            return Residence("unknown")
    if numbered:
        return await _juki_net_residence(unit, flow, person, kijun)
    address = await _registry_address_on(unit, person.integrated_number, kijun)
    if address.startswith(CITY_NAME):
        await flow.step(
            name, "ok", f"基準日（{kijun}）の住所地: 市内（統一宛名の履歴）→ 照会先: 個人住民税（002）"
        )
        return Residence("city")
    await flow.step(name, "elsewhere", f"基準日（{kijun}）の住所地: 他団体（{address}）")
    return Residence("elsewhere")


async def _juki_net_residence(unit: Unit, flow: Flow, person: Identified, kijun: dt.date) -> Residence:
    name = "基準日現在の住所地の特定（住基ネット）"
    try:
        found = await unit.network.address_on(person.atena, kijun)
    except LinkageError as error:
        await flow.refused(name, error, None)
        return Residence("unknown")
    if not found["found"]:
        await flow.step(name, "not_found", f"基準日（{kijun}）の住所: 住基ネットに記録なし")
        return Residence("unknown")
    code, address = found["municipality_code"], found["address"]
    if code == CITY_CODE:
        await flow.step(name, "ok", f"基準日（{kijun}）の住所地: 市内（{address}）→ 照会先: 個人住民税")
        return Residence("city")
    await flow.step(
        name,
        "elsewhere",
        f"基準日（{kijun}）の住所地: {address}（団体コード {code}）→ 情報提供ネットワークシステムで照会",
    )
    return Residence("elsewhere", code)


async def verify_my_number(unit: Unit, flow: Flow, person: Identified, my_number: str) -> bool:
    """個人番号の真正性確認 against 住基ネット: is the number on the 請求書 the person's?"""
    name = "個人番号の真正性確認（住基ネット）"
    current = (await unit.registry.person(person.integrated_number)).current
    try:
        found = await unit.network.verify(
            my_number,
            name=current.name or "",
            birth_date=current.birth_date or "",
            sex=current.sex or "0",
            address=current.address or "",
        )
    except LinkageError as error:
        if error.status_code == 503:  # a hub without 住基ネット: the card's 番号確認 is all there is
            await flow.step(name, "skipped", "住基ネットに未接続: 個人番号カード等による番号確認のみ")
            return True
        await flow.refused(name, error, None)
        return False
    if found["authentic"]:
        await flow.step(name, "ok", "個人番号は基本4情報（氏名・生年月日・性別・住所）の本人のもの")
        return True
    differing = ", ".join(found["differing"])
    await flow.step(name, "refused", f"相違: {differing}" if found["known"] else "住基ネットにない個人番号")
    return False


async def refresh_identity(unit: Unit, flow: Flow, person: Identified) -> None:
    """本人確認情報の最新化 of a 住登外者: the registry takes what 住基ネット holds today."""
    name = "本人確認情報の最新化（住基ネット）"
    try:
        found = await unit.network.identity(person.atena, refresh=True)
    except LinkageError as error:
        await flow.refused(name, error, None)
        return
    changed = "、".join(found["changed"]) if found["refreshed"] else "変更なし"
    await flow.step(name, "ok", f"住基ネットの本人確認情報で統一宛名を更新: {changed}（{found['address']}）")


async def network_income(
    unit: Unit, flow: Flow, atena: str, provider: str, nendo: int, whose: str
) -> Payload | None:
    """地方税関係情報 from the municipality ``provider`` through the 情報提供ネットワークシステム: the
    情報照会, answered asynchronously — after a 符号取得 (資料8, the 処理通番) when the person has no 符号
    yet. The answer in the shape of the 庁内 IF_ZEI_0001's, or ``None`` when it cannot be had (the step
    says why)."""
    name = f"地方税関係情報の照会（情報提供ネットワークシステム）— {whose}"

    async def ask() -> Payload:
        period = str(nendo)
        return await unit.network.ask(atena, provider=provider, information=TAX_INFORMATION, period=period)

    try:
        try:
            asked = await ask()
        except LinkageError as error:
            if error.code != "E3002":  # E3002: no 符号 yet (or no 団体内統合宛名番号, which 符号取得 says)
                raise
            if not await _obtain_code(unit, flow, atena, whose):
                return None
            asked = await ask()
        answer = await unit.network.wait_answer(asked["process_number"])
    except LinkageError as error:
        await flow.refused(name, error, None)
        return None
    told = f"処理通番 {asked['process_number']} で団体 {provider} に照会（{asked['article']}）"
    if answer["status"] != "provided":
        await flow.step(name, "refused", f"{told}: {answer['status']} {answer.get('reason') or ''}".strip())
        return None
    income, dependants = int(answer["data"]["総所得金額"]), int(answer["data"]["扶養人数"])
    await flow.step(name, "ok", f"{told}: {nendo} 年度 総所得金額 {income:,} 円、扶養人数 {dependants} 人")
    return {"ShokaiKekkaCode": "0", "SoshotokuKingaku": str(income), "FuyoNinzu": str(dependants)}


async def _obtain_code(unit: Unit, flow: Flow, atena: str, whose: str) -> bool:
    name = f"符号取得（中間サーバー）— {whose}"
    try:
        code = await unit.network.obtain_code(atena)
    except LinkageError as error:
        await flow.refused(name, error, None)
        return False
    linked = "符号を生成し団体内統合宛名番号に紐付け" if code["linked"] else "符号の到着待ち"
    told = f"処理通番 {code['process_number']}: 符号が未取得のため取得、住基ネット経由でNWSが{linked}"
    await flow.step(name, "ok", told)
    return bool(code["linked"])


async def _registry_address_on(unit: Unit, integrated_number: str, day: dt.date) -> str:
    person = await unit.registry.person(integrated_number)
    in_force = [v for v in person.history if v.valid_from <= day and (v.valid_to is None or v.valid_to > day)]
    version = in_force[-1] if in_force else person.history[0]  # registered later: the earliest known
    return version.address or "不明"


async def query_income(
    unit: Unit, flow: Flow, atena: str, nendo: int, name: str | None = None
) -> Payload | None:
    """地方税関係情報の照会 (IF_ZEI_0001): the answer, or ``None`` when refused (the step says why)."""
    name = name or "地方税関係情報の照会"
    try:
        reply = await unit.query("IF_ZEI_0001", {"AtenaNo": atena, "KazeiNendo": nendo}, destination="002")
    except LinkageError as error:
        why = "条例により拒否" if error.code == "E3001" else "照会できない"
        await flow.refused(name, error, "IF_ZEI_0001", why)
        return None
    answer: Payload = reply.payload
    facts = {"interface_id": "IF_ZEI_0001", "reception_number": reply.reception_number}
    if answer["ShokaiKekkaCode"] != "0":
        state = {"1": "該当なし", "2": "未申告"}[answer["ShokaiKekkaCode"]]
        await flow.step(name, "not_found", f"{nendo} 年度: {state}", **facts)
        return answer
    await flow.step(
        name,
        "ok",
        f"{nendo} 年度: 総所得金額 {int(answer['SoshotokuKingaku']):,} 円、扶養人数 {answer['FuyoNinzu']} 人",
        **facts,
    )
    return answer


async def respond_with_flow(
    request: Request, run: Callable[[StepListener | None], Awaitable[dict[str, Any]]]
) -> Response:
    """The case's result as JSON, or — with ``?stream=1`` — each step as one NDJSON line as it
    happens, then ``{"result": …}``. The case runs to its end even if the client goes away."""
    if request.query_params.get("stream", "0") in {"0", "false", ""}:
        return JSONResponse(await run(None))
    lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def hear(step: Step) -> None:
        await lines.put({"step": step.as_json()})

    async def case() -> None:
        try:
            await lines.put({"result": await run(hear)})
        except Exception as exc:
            log.exception("case failed")
            await lines.put({"error": {"code": "E5000", "message": f"{type(exc).__name__}"}})
        finally:
            await lines.put(None)

    task = asyncio.create_task(case())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)

    async def stream() -> AsyncIterator[bytes]:
        while (line := await lines.get()) is not None:
            yield (json.dumps(line, ensure_ascii=False, default=str) + "\n").encode()

    return StreamingResponse(stream(), media_type="application/x-ndjson")


_RUNNING: set[asyncio.Task[None]] = set()  # cases whose client may have gone: kept until they end
