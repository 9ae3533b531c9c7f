"""The hub as the city's 団体内統合宛名 gateway: a unit asks, in its own 宛名番号, for 符号取得 and for a
情報照会 to another municipality, through the mock 中間サーバー, 住基ネット and NWS running as their own
processes; the 番号法 table decides first, and the record holds each 照会 beside internal transfers."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from stdnum.jp import in_ as my_number_format

from platform_hub.kit.settings import Settings
from platform_hub.national.chukan import ChukanServer
from platform_hub.national.juki_net import JukiNet
from tests.helpers import YAMADA, HubClient, rows, wait_until
from tests.national import CITY, OTHER, NationalNetwork, national_network


def _my_number(seed: int) -> str:
    body = f"{random.Random(seed).randrange(10**10, 10**11)}"  # synthetic
    return body + my_number_format.calc_check_digit(body)


MY_NUMBER = _my_number(81)
RESIDENT_CODE = "20250310081"
OTHERS_INTEGRATED = "000000000777001"  # the person in the other municipality's own numbering
INCOME = {"所得": "3800000", "課税区分": "1"}


async def _other_side(network: NationalNetwork) -> None:
    """The other municipality links the person and registers its 副本 of 地方税関係情報 (年度 2025)."""
    async with (
        ChukanServer(network.chukan(OTHER), network.keys[OTHER]) as chukan,
        JukiNet(network.urls["juki-net"], network.keys[OTHER]) as juki,
    ):
        request = await chukan.request_code(OTHERS_INTEGRATED, MY_NUMBER)
        await juki.send_code_step(request.process_number, RESIDENT_CODE)
        await chukan.register_duplicate(OTHERS_INTEGRATED, "地方税関係情報", "2025", INCOME)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NationalNetwork]:
    with national_network(tmp_path_factory.mktemp("national")) as started:
        person = {
            "resident_code": RESIDENT_CODE,
            "my_number": MY_NUMBER,
            "name": "山田 花子",
            "birth_date": "1986-01-11",
            "sex": "2",
            "addresses": [
                {
                    "municipality_code": OTHER,
                    "address": "前住所町1-2",
                    "from": "2010-04-01",
                    "to": "2025-03-09",
                },
                {
                    "municipality_code": CITY,
                    "address": "デモ市本町1丁目1番1号",
                    "from": "2025-03-10",
                    "to": None,
                },
            ],
        }
        started.seed_juki_net([person])
        asyncio.run(_other_side(started))
        yield started


@pytest.fixture
def settings(settings: Settings, network: NationalNetwork) -> Settings:
    return network.connect(settings)


@pytest.fixture
def jidou(hub: HubClient) -> tuple[dict[str, str], str]:
    """011 児童手当 (a 個人番号利用事務) and the person, known to the registry with their 個人番号."""
    headers = hub.unit_headers(hub.register("011"))
    return headers, hub.enroll({"011": YAMADA["011"]}, my_number=MY_NUMBER)


def ask_income(hub: HubClient, headers: dict[str, str], **overrides: str) -> httpx.Response:
    body = {
        "atena_no": YAMADA["011"],
        "purpose": "JDT-001",
        "provider": OTHER,
        "information": "地方税関係情報",
        "period": "2025",
        **overrides,
    }
    return hub.http.post("/network/inquiries", json=body, headers=headers)


def answered(hub: HubClient, headers: dict[str, str], process_number: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(hub.http.get(f"/network/inquiries/{process_number}", headers=headers).json())
        return found["status"] not in ("sent", "pending")

    wait_until(done, timeout=20)
    return found


def network_entries(database_url: str) -> list[Any]:
    return rows(
        database_url,
        "SELECT interface_id, pattern, requesting_unit, providing_unit, providing_organ, purpose_code,"
        " information_category, ordinance_rule_id, outcome, subject_integrated_number, item_names,"
        " binding FROM transfer_records WHERE pattern = 'network' ORDER BY id",
    )


def test_a_unit_obtains_a_code_and_the_other_municipalitys_answer_in_its_own_numbers(
    hub: HubClient, jidou: tuple[dict[str, str], str], database_url: str
) -> None:
    headers, integrated = jidou
    before = ask_income(hub, headers)  # no 符号 yet: the 中間サーバー cannot ask
    assert before.status_code == 422 and before.json()["error"]["code"] == "E3002", before.text
    code = hub.http.post(
        "/network/codes", json={"atena_no": YAMADA["011"], "purpose": "JDT-001"}, headers=headers
    )
    assert code.status_code == 201, code.text
    assert code.json()["linked"] is True and code.json()["process_number"]
    assert MY_NUMBER not in code.text

    asked = ask_income(hub, headers)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "sent"
    assert asked.json()["article"] == "番号法 第19条第8号・別表 第81項"
    answer = answered(hub, headers, asked.json()["process_number"])
    assert answer["status"] == "provided" and answer["data"] == INCOME
    assert answer["atena_no"] == YAMADA["011"]

    (entry,) = network_entries(database_url)
    assert (entry.interface_id, entry.requesting_unit, entry.providing_unit) == ("NWS_INQUIRY", "011", "NWS")
    assert entry.providing_organ.startswith(OTHER) and entry.outcome == "provided"
    assert (
        entry.ordinance_rule_id == "番号法 第19条第8号・別表 第81項"
        and entry.subject_integrated_number == integrated
    )
    names = entry.item_names if isinstance(entry.item_names, list) else json.loads(entry.item_names)
    assert sorted(names) == sorted(INCOME) and entry.binding == "network"
    hub.http.get(f"/network/inquiries/{asked.json()['process_number']}", headers=headers)  # polled again
    assert len(network_entries(database_url)) == 1  # recorded once
    # The person's やりとり履歴 shows the network 照会 beside the registry's answers.
    history = hub.http.get(f"/audit/persons/{integrated}", headers=hub.admin_auditor()).json()["transfers"]
    assert {item["provided_by_unit"] for item in history} >= {"NWS"}
    compliance = hub.http.get(
        "/audit/compliance", params={"from": "2000-01-01", "to": "2100-12-31"}, headers=hub.admin_auditor()
    ).json()
    assert compliance["violations"] == [] and compliance["checked"] >= 1


def test_what_the_bangou_law_table_does_not_allow_is_refused_and_recorded(
    hub: HubClient, jidou: tuple[dict[str, str], str], database_url: str
) -> None:
    headers, integrated = jidou
    refused = ask_income(hub, headers, information="医療保険給付関係情報")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "E3001", refused.text
    (entry,) = network_entries(database_url)
    assert entry.outcome == "refused" and entry.subject_integrated_number == integrated
    assert entry.ordinance_rule_id is None


def test_only_the_asking_unit_reads_its_answer(hub: HubClient, jidou: tuple[dict[str, str], str]) -> None:
    headers, _ = jidou
    hub.http.post("/network/codes", json={"atena_no": YAMADA["011"], "purpose": "JDT-001"}, headers=headers)
    asked = ask_income(hub, headers).json()
    other = hub.unit_headers(hub.register("051"))
    peek = hub.http.get(f"/network/inquiries/{asked['process_number']}", headers=other)
    assert peek.status_code in (403, 404)
    zeimu = hub.unit_headers(hub.register("002"))  # no 個人番号利用事務 of the network's
    assert ask_income(hub, zeimu, purpose="ZEI-001").status_code == 403


def test_a_hub_not_connected_says_so(tmp_path: Path) -> None:
    from platform_hub.network.service import NationalSystems

    assert NationalSystems.connect(Settings(chukan_url="http://127.0.0.1:9")) is None


def test_an_auditor_reads_the_persons_article_23_record_through_the_hub(
    hub: HubClient, jidou: tuple[dict[str, str], str]
) -> None:
    headers, integrated = jidou
    hub.http.post("/network/codes", json={"atena_no": YAMADA["011"], "purpose": "JDT-001"}, headers=headers)
    path = f"/audit/persons/{integrated}/provisions"
    before = _asked_by_the_city(hub.http.get(path, headers=hub.admin_auditor()))
    answered(hub, headers, ask_income(hub, headers).json()["process_number"])
    records = hub.http.get(path, headers=hub.admin_auditor())
    assert records.status_code == 200, records.text
    assert records.json()["connected"] is True
    asked_by_the_city = _asked_by_the_city(records)
    assert len(asked_by_the_city) == len(before) + 1
    for record in asked_by_the_city:
        assert (record["requester"], record["provider"], record["affair"]) == (CITY, OTHER, "JDT-001")
        assert record["information"] == "地方税関係情報" and record["result"] == "provided"
        assert "code" not in record
    assert MY_NUMBER not in records.text
    assert hub.http.get(path, headers=headers).status_code == 403


def _asked_by_the_city(records: httpx.Response) -> list[dict[str, Any]]:
    return [r for r in records.json()["records"] if r["side"] == "requester"]
