"""The demo city's mock units as real processes: 認定請求 step by step, a provide case, refusals."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from platform_hub_demo.city import seed_city
from platform_hub_demo.demo import OUTSIDER
from platform_hub_demo.jidou_teate import SPOUSE_STEP
from platform_hub_demo.residents import WIFE, generate_city, parents_with_children

from tests.helpers import HubClient, rows, wait_until
from tests.mock_units import SEED, mock_units
from tests.test_ordinance import amendment, load

RESIDENTS = 30
FLOW = [
    "申請書等の受理",
    "申請者の宛名情報の確認",
    "住民票関係情報の照会（世帯）",
    "基準日現在の住所地の特定",
    "地方税関係情報の照会",
    "審査（受給者・支給額）",
    "決定・記録",
]
# By 個人番号, the number is verified first: on a hub without 住基ネット (as here) that step is skipped.
VERIFIED = "個人番号の真正性確認（住基ネット）"
BY_NUMBER = [*FLOW[:2], VERIFIED, *FLOW[2:]]
NON_RESIDENT = OUTSIDER  # the demo's 住登外者, by 基本4情報


def claim(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/ninteiseikyu", json=body, timeout=60)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def streamed(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with httpx.stream("POST", f"{url}/ninteiseikyu?stream=1", json=body, timeout=60) as response:
        return [json.loads(line) for line in response.iter_lines()]


def test_the_demo_city(hub: HubClient, database_url: str, tmp_path: Path) -> None:
    names = ["juki", "zeimu", "jidou-teate", "shugaku-enjo"]
    with mock_units(str(hub.http.base_url), names, tmp_path, residents=RESIDENTS) as urls:
        seeded = asyncio.run(seed_city(urls))
        assert all(
            counts.get("linked", 0) == seeded["juki"]["registered"] for counts in list(seeded.values())[1:]
        )
        city = generate_city(SEED, RESIDENTS)
        parent = parents_with_children(city)[0]
        jidou = urls["jidou-teate"]

        # A resident, by 個人番号: every step of the flow, each query with the hub's reception number.
        resident = claim(jidou, {"my_number": parent.my_number})
        married = any(r.household == parent.household and r.relation == WIFE for r in city)
        flow = [*FLOW[:5], *([SPOUSE_STEP] if married else []), *FLOW[5:]]
        by_number = [*flow[:2], VERIFIED, *flow[2:]]
        assert [step["name"] for step in resident["steps"]] == by_number
        assert resident["steps"][2]["outcome"] == "skipped"
        assert resident["result"] in {"認定", "却下"} and resident["children"] >= 1
        asked = [step for step in resident["steps"] if step["interface_id"]]
        assert [s["interface_id"] for s in asked] == ["IF_JUK_0002", "IF_JUK_0002", "IF_ZEI_0001"] + [
            "IF_ZEI_0001"
        ] * married
        assert all(s["outcome"] in {"ok", "not_found"} and s["reception_number"] for s in asked)
        # No income limit since 2024-10: the decision names the parent who receives and the amount.
        judged = next(s for s in resident["steps"] if s["name"] == "審査（受給者・支給額）")
        assert "受給者" in judged["detail"] and "限度額" not in judged["detail"]
        assert (resident["monthly_amount"] or 0) >= 10_000 * (resident["result"] == "認定")
        stored = httpx.get(f"{jidou}/ninteiseikyu/{resident['claim_id']}").json()
        assert stored["decision"] == resident["result"] and len(stored["steps"]) == len(by_number)

        # Two parents: the spouse's income is asked for too, and the higher income receives.
        couple = next(
            p
            for p in parents_with_children(city)
            if any(r.household == p.household and r.relation == WIFE for r in city)
        )
        both = claim(jidou, {"my_number": couple.my_number})
        taken = [step["name"] for step in both["steps"]]
        assert taken == [*BY_NUMBER[:6], SPOUSE_STEP, *BY_NUMBER[6:]], taken
        judged = next(s for s in both["steps"] if s["name"] == "審査（受給者・支給額）")
        assert "申請者" in judged["detail"] and "配偶者" in judged["detail"]
        assert both["result"] == "認定" or "生計を維持する程度が高い者は配偶者" in both["reason"]

        # The same person by 基本4情報, streamed: the steps come one line each, then the result.
        lines = streamed(jidou, {"name": parent.name, "birth_date": parent.birth_date.isoformat()})
        assert [line["step"]["name"] for line in lines[:-1]] == flow
        assert lines[-1]["result"]["result"] == resident["result"]

        # A 住登外者: unknown to the registry, so registered; no 住民票; lived elsewhere → 保留.
        outsider = claim(jidou, NON_RESIDENT)
        outcomes = {step["name"]: (step["outcome"], step["code"]) for step in outsider["steps"]}
        assert outcomes["申請者の宛名情報の確認"] == ("not_found", None)
        assert outcomes["住登外者の登録"] == ("registered", None)
        assert outcomes["住民票関係情報の照会（世帯）"] == ("refused", "E3002")
        assert outcomes["基準日現在の住所地の特定"] == ("elsewhere", None)
        assert outsider["result"] == "保留" and "他団体" in outsider["reason"]
        person = hub.http.get(f"/addressees/{outsider['integrated_number']}", headers=hub.admin()).json()
        assert person["current"]["status"] == "non_resident"
        assert [(link["unit_code"], link["non_resident"]) for link in person["links"]] == [("011", True)]

        # The income query refused by the ordinance (an amendment repeals 別表第2 第6項): 保留, no crash.
        assert load(hub, amendment("2026-11", drop={"U-03"}))["status"] == 201
        refused = claim(jidou, {"my_number": parent.my_number})
        income = next(step for step in refused["steps"] if step["name"] == "地方税関係情報の照会")
        assert (income["outcome"], income["code"]) == ("refused", "E3001") and income["reception_number"]
        assert refused["result"] == "保留" and "E3001" in refused["reason"]

        # 就学援助 (教育委員会) asks for the same income: a 提供 under 別表第3 (P-02), still in force.
        family = next(p for p in parents_with_children(city) if has_pupil(city, p.household))
        help_ = httpx.post(
            f"{urls['shugaku-enjo']}/shinsei", json={"my_number": family.my_number}, timeout=60
        ).json()
        tax = next(step for step in help_["steps"] if step["name"] == "地方税関係情報の照会")
        assert tax["outcome"] == "ok", help_
        (record,) = rows(
            database_url,
            "SELECT requesting_organ, ordinance_rule_id FROM transfer_records"
            f" WHERE reception_number = '{tax['reception_number']}'",
        )
        assert tuple(record) == ("教育委員会", "2026-11/P-02")

        # 住民基本台帳 may not ask 児童手当 about anyone: no rule covers IF_JDT_0001.
        atena = httpx.get(f"{urls['juki']}/residents").json()[0]["atena"]
        jdt = httpx.post(f"{urls['juki']}/jdt-query", json={"atena": atena}, timeout=60)
        assert jdt.status_code == 403 and jdt.json()["refused"]["code"] == "E3001"

        # A 転居 at 001 reaches 002 in 002's own numbering.
        moved = httpx.post(f"{urls['juki']}/ido", json={"jiyu": "03", "atena": atena}, timeout=60).json()
        assert moved["outcome"] == "accepted"
        wait_until(
            lambda: moved["msgid"] in {e["msgid"] for e in httpx.get(f"{urls['zeimu']}/ido-log").json()}
        )

        # Someone new to the tax office files a 申告: registered as a 住登外者 with 002's own number.
        filing = {**NON_RESIDENT, "name": "田中　一郎", "sex": "1", "nendo": 2026, "salary": 4_000_000}
        filing.pop("children")
        filed = httpx.post(f"{urls['zeimu']}/shinkoku", json=filing, timeout=60).json()
        assert filed["recorded"] and [s["outcome"] for s in filed["steps"]] == [
            "not_found",
            "registered",
            "ok",
        ]

        # 個人住民税's annual batch reaches 児童手当.
        batch = httpx.post(f"{urls['zeimu']}/batch", json={"nendo": 2026}, timeout=60).json()
        assert int(batch["UketsukeKensu"]) > 0 and batch["ErrorKensu"] == "0"

    # No 個人番号 in any answer above or in any unit's log.
    logs = "".join((tmp_path / f"{name}.log").read_text(errors="replace") for name in names)
    answers = json.dumps([resident, lines, outsider, refused, help_], ensure_ascii=False)
    for person in city:
        assert person.my_number not in logs and person.my_number not in answers


def has_pupil(city: Any, household: str) -> bool:
    today = dt.date.today()
    return any(p.household == household and p.relation == "04" and 7 <= p.age_on(today) <= 14 for p in city)
