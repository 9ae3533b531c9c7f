"""The providing side of the network: 002 個人住民税 registers, in its own 宛名番号, the city's 副本 of a
person's 地方税関係情報; another municipality asks the city through the mock NWS and the city's 中間サーバー
answers from it (at once, as 不開示, or once 002 releases it) — all real processes. Each 提供 comes into
the hub's transfer record once, from the 中間サーバー's 第23条 records, checked against the 番号法 table."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from stdnum.jp import in_ as my_number_format

from platform_hub.kit.settings import Settings
from platform_hub.national.chukan import Answer, ChukanServer, InquiryStatus
from platform_hub.national.juki_net import JukiNet
from tests.helpers import YAMADA, HubClient, count_rows, rows, served_hub, wait_until
from tests.national import CITY, OTHER, NationalNetwork, national_network


def _my_number(seed: int) -> str:
    body = f"{random.Random(seed).randrange(10**10, 10**11)}"  # synthetic
    return body + my_number_format.calc_check_digit(body)


MY_NUMBER = _my_number(82)
RESIDENT_CODE = "20250310082"
OTHERS_INTEGRATED = "000000000777002"  # the person in the other municipality's own numbering
INCOME = {"所得": "3800000", "課税区分": "1", "扶養人数": "2"}
TAX = "地方税関係情報"
ROW_81 = "番号法 第19条第8号・別表 第81項"


async def _link_at_the_other(network: NationalNetwork) -> None:
    """The other municipality, where the person lived, has its own 符号 for them: it can ask."""
    async with (
        ChukanServer(network.chukan(OTHER), network.keys[OTHER]) as chukan,
        JukiNet(network.urls["juki-net"], network.keys[OTHER]) as juki,
    ):
        request = await chukan.request_code(OTHERS_INTEGRATED, MY_NUMBER)
        await juki.send_code_step(request.process_number, RESIDENT_CODE)


@pytest.fixture
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NationalNetwork]:
    """A network of each test's own: the 中間サーバー keeps 副本 and 第23条 records across tests else."""
    with national_network(tmp_path_factory.mktemp("national")) as started:
        person = {
            "resident_code": RESIDENT_CODE,
            "my_number": MY_NUMBER,
            "name": "山田 太郎",
            "birth_date": "1985-04-01",
            "sex": "1",
            "addresses": [
                {
                    "municipality_code": OTHER,
                    "address": "前住所町3-4",
                    "from": "2010-04-01",
                    "to": "2025-03-09",
                },
                {
                    "municipality_code": CITY,
                    "address": "デモ市本町2丁目2番2号",
                    "from": "2025-03-10",
                    "to": None,
                },
            ],
        }
        started.seed_juki_net([person])
        asyncio.run(_link_at_the_other(started))
        yield started


@pytest.fixture
def settings(settings: Settings, network: NationalNetwork) -> Settings:
    """Connected to the city's 中間サーバー; the periodic sync far apart, so each test syncs when it says
    (test_the_hub_syncs_by_itself shortens it)."""
    return network.connect(settings, network_sync_seconds=3600.0)


@pytest.fixture
def zeimu(hub: HubClient) -> tuple[dict[str, str], str]:
    """002 個人住民税, the person known with their 個人番号 and linked to the network (符号取得)."""
    headers = hub.unit_headers(hub.register("002"))
    integrated = hub.enroll({"002": YAMADA["002"]}, my_number=MY_NUMBER)
    code = hub.http.post(
        "/network/codes", json={"atena_no": YAMADA["002"], "purpose": "ZEI-001"}, headers=headers
    )
    assert code.status_code == 201 and code.json()["linked"] is True, code.text
    return headers, integrated


def register(hub: HubClient, headers: dict[str, str], **overrides: Any) -> httpx.Response:
    body = {
        "atena_no": YAMADA["002"],
        "purpose": "ZEI-001",
        "information": TAX,
        "period": "2025",
        "data": INCOME,
        **overrides,
    }
    return hub.http.post("/network/duplicates", json=body, headers=headers)


def other_asks(network: NationalNetwork, affair: str = "JDT-001") -> Answer:
    """The other municipality's 情報照会 to the city, as its own hub would make it."""

    async def ask() -> Answer:
        async with ChukanServer(network.chukan(OTHER), network.keys[OTHER]) as chukan:
            number = await chukan.ask(OTHERS_INTEGRATED, CITY, affair, TAX, "2025")
            return await chukan.wait_answer(number, within=20)

    return asyncio.run(ask())


def others_answer(network: NationalNetwork, process_number: str) -> Answer:
    async def poll() -> Answer:
        async with ChukanServer(network.chukan(OTHER), network.keys[OTHER]) as chukan:
            return await chukan.answer(process_number)

    return asyncio.run(poll())


def sync(hub: HubClient) -> int:
    synced = hub.http.post("/network/provisions/sync", headers=hub.admin())
    assert synced.status_code == 200 and synced.json()["connected"] is True, synced.text
    return int(synced.json()["recorded"])


def provisions(database_url: str) -> list[Any]:
    return rows(
        database_url,
        "SELECT id, reception_number, interface_id, pattern, requesting_unit, requesting_organ,"
        " providing_unit, providing_organ, purpose_code, information_category, ordinance_rule_id,"
        " outcome, refusal_reason, subject_integrated_number, item_names, binding, provided_at"
        " FROM transfer_records WHERE interface_id = 'NWS_PROVISION' ORDER BY id",
    )


def names(entry: Any) -> list[str]:
    found = entry.item_names if isinstance(entry.item_names, list) else json.loads(entry.item_names)
    return sorted(found)


def compliance(hub: HubClient) -> dict[str, Any]:
    found: dict[str, Any] = hub.http.get(
        "/audit/compliance", params={"from": "2000-01-01", "to": "2100-12-31"}, headers=hub.admin_auditor()
    ).json()
    return found


def test_another_organisation_obtains_the_duplicate_and_the_record_has_the_provision_once(
    hub: HubClient, zeimu: tuple[dict[str, str], str], network: NationalNetwork, database_url: str
) -> None:
    headers, integrated = zeimu
    registered = register(hub, headers)
    assert registered.status_code == 201, registered.text
    assert registered.json()["atena_no"] == YAMADA["002"] and registered.json()["replaced"] is False
    assert MY_NUMBER not in registered.text and integrated not in registered.text
    assert count_rows(database_url, "network_duplicates") == 1
    assert rows(database_url, "SELECT outcome FROM operations WHERE action = 'network.duplicate'")
    assert sync(hub) == 0 and provisions(database_url) == []  # registering is not a 提供

    answer = other_asks(network)
    assert answer.status is InquiryStatus.PROVIDED and answer.data == INCOME

    assert sync(hub) == 1
    assert sync(hub) == 0  # the same 第23条 record, read again
    (entry,) = provisions(database_url)
    assert (entry.pattern, entry.requesting_unit, entry.providing_unit) == ("network", "NWS", "002")
    assert (
        entry.requesting_organ == f"{OTHER}（情報提供ネットワークシステム）"
        and entry.providing_organ == "市長"
    )
    assert (entry.purpose_code, entry.information_category) == ("JDT-001", TAX)
    assert entry.ordinance_rule_id == ROW_81 and entry.outcome == "provided" and entry.provided_at
    assert entry.subject_integrated_number == integrated and entry.binding == "network"
    assert names(entry) == sorted(INCOME)
    # The person's やりとり履歴 shows what the city gave the other municipality; the 番号法 allows it.
    history = hub.http.get(f"/audit/persons/{integrated}", headers=hub.admin_auditor()).json()["transfers"]
    assert any(item["provided_by_unit"] == "002" for item in history), history
    report = compliance(hub)
    assert report["violations"] == [] and report["checked"] >= 1


def test_a_provision_no_row_of_the_bangou_table_allows_is_recorded_for_the_compliance_report(
    hub: HubClient, zeimu: tuple[dict[str, str], str], network: NationalNetwork, database_url: str
) -> None:
    """The mock NWS's table lets 児童扶養手当 (JFT-001) ask for 地方税関係情報; the hub's 番号法 table has
    no such row for the city's 事務. What the 中間サーバー gave is recorded as given, with no rule."""
    headers, _ = zeimu
    assert register(hub, headers).status_code == 201
    assert other_asks(network, affair="JFT-001").status is InquiryStatus.PROVIDED
    assert sync(hub) == 1
    (entry,) = provisions(database_url)
    assert entry.outcome == "provided" and entry.ordinance_rule_id is None
    assert entry.purpose_code == "JFT-001" and "JFT-001" in entry.refusal_reason
    assert [v["entry_id"] for v in compliance(hub)["violations"]] == [entry.id]


def test_an_undisclosed_duplicate_is_answered_as_such_and_recorded_as_refused(
    hub: HubClient, zeimu: tuple[dict[str, str], str], network: NationalNetwork, database_url: str
) -> None:
    headers, _ = zeimu
    assert register(hub, headers, undisclosed=True).status_code == 201
    answer = other_asks(network)
    assert answer.status is InquiryStatus.UNDISCLOSED and answer.data is None
    assert sync(hub) == 1
    (entry,) = provisions(database_url)
    assert (entry.outcome, entry.providing_unit, entry.provided_at) == ("refused", "002", None)
    assert names(entry) == [] and "不開示" in entry.refusal_reason and entry.ordinance_rule_id == ROW_81


def test_no_auto_answer_waits_for_the_registering_unit_which_releases_it_once_recorded(
    hub: HubClient, zeimu: tuple[dict[str, str], str], network: NationalNetwork, database_url: str
) -> None:
    headers, integrated = zeimu
    assert register(hub, headers, no_auto_answer=True).status_code == 201
    jidou = hub.unit_headers(hub.register("011"))  # a 個人番号利用事務 too, but not the 副本's unit
    answer = other_asks(network)
    assert answer.status is InquiryStatus.PENDING
    assert sync(hub) == 0 and provisions(database_url) == []  # nothing was provided yet

    listed = hub.http.get("/network/provisions", headers=headers)
    assert listed.status_code == 200, listed.text
    (waiting,) = listed.json()["provisions"]
    assert waiting["atena_no"] == YAMADA["002"] and waiting["requester"] == OTHER
    assert (waiting["affair"], waiting["information"], waiting["period"]) == ("JDT-001", TAX, "2025")
    assert MY_NUMBER not in listed.text and integrated not in listed.text
    assert hub.http.get("/network/provisions", headers=jidou).json()["provisions"] == []
    peek = hub.http.post(f"/network/provisions/{waiting['inquiry_id']}/release", headers=jidou)
    assert peek.status_code == 404, peek.text

    released = hub.http.post(f"/network/provisions/{waiting['inquiry_id']}/release", headers=headers)
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "provided" and released.json()["article"] == ROW_81
    wait_until(lambda: others_answer(network, answer.process_number).status is InquiryStatus.PROVIDED)
    assert others_answer(network, answer.process_number).data == INCOME
    (entry,) = provisions(database_url)  # recorded as it was released
    assert entry.reception_number == waiting["inquiry_id"] and entry.outcome == "provided"
    assert entry.providing_unit == "002" and names(entry) == sorted(INCOME)
    assert sync(hub) == 0 and len(provisions(database_url)) == 1
    assert hub.http.get("/network/provisions", headers=headers).json()["provisions"] == []


def test_a_release_the_bangou_table_does_not_allow_is_refused_recorded_and_not_released(
    hub: HubClient, zeimu: tuple[dict[str, str], str], network: NationalNetwork, database_url: str
) -> None:
    headers, _ = zeimu
    assert register(hub, headers, no_auto_answer=True).status_code == 201
    answer = other_asks(network, affair="JFT-001")
    assert answer.status is InquiryStatus.PENDING
    (waiting,) = hub.http.get("/network/provisions", headers=headers).json()["provisions"]
    refused = hub.http.post(f"/network/provisions/{waiting['inquiry_id']}/release", headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "E3001", refused.text
    (entry,) = provisions(database_url)
    assert (entry.outcome, entry.ordinance_rule_id, entry.providing_unit) == ("refused", None, "002")
    assert others_answer(network, answer.process_number).status is InquiryStatus.PENDING
    assert len(hub.http.get("/network/provisions", headers=headers).json()["provisions"]) == 1
    assert sync(hub) == 0 and len(provisions(database_url)) == 1


def test_a_unit_registers_only_a_duplicate_of_what_it_holds(
    hub: HubClient, zeimu: tuple[dict[str, str], str], database_url: str
) -> None:
    headers, integrated = zeimu
    jidou = hub.unit_headers(hub.register("011"))  # 児童手当 provides 児童手当関係情報, not 地方税関係情報
    linked = hub.http.post(
        f"/addressees/{integrated}/links",
        headers=hub.admin(),
        json={"unit_code": "011", "atena_number": YAMADA["011"], "reason": "test"},
    )
    assert linked.status_code == 201, linked.text
    foreign = register(hub, jidou, atena_no=YAMADA["011"], purpose="JDT-001")
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "E2002", foreign.text
    not_its_affair = register(hub, headers, purpose="JDT-001")
    assert not_its_affair.status_code == 403, not_its_affair.text
    assert count_rows(database_url, "network_duplicates") == 0
    assert register(hub, headers).status_code == 201  # the same person, by the unit that holds it


def test_a_person_without_an_integrated_number_has_no_duplicate(hub: HubClient, database_url: str) -> None:
    headers = hub.unit_headers(hub.register("002"))
    hub.enroll({"002": YAMADA["002"]})  # no 個人番号: no 団体内統合宛名番号
    unknown = register(hub, headers)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "E3002", unknown.text
    nobody = register(hub, headers, atena_no=YAMADA["001"])
    assert nobody.status_code == 422 and nobody.json()["error"]["code"] == "E3002", nobody.text
    assert count_rows(database_url, "network_duplicates") == 0


def test_who_may_call(hub: HubClient, zeimu: tuple[dict[str, str], str]) -> None:
    headers, _ = zeimu
    assert register(hub, {}).status_code == 401
    assert hub.http.get("/network/provisions").status_code == 401
    assert hub.http.post("/network/provisions/sync").status_code == 401
    admin, auditor = hub.admin(), hub.staff("auditor")
    for staff in (admin, auditor):
        assert register(hub, staff).status_code == 403
        assert hub.http.get("/network/provisions", headers=staff).status_code == 403
        assert hub.http.post("/network/provisions/0123abcd/release", headers=staff).status_code == 403
    assert hub.http.post("/network/provisions/sync", headers=auditor).status_code == 403
    assert hub.http.post("/network/provisions/sync", headers=headers).status_code == 403  # a unit


def test_a_hub_not_connected_checks_the_caller_then_says_so(settings: Settings) -> None:
    unplugged = settings.model_copy(update={"chukan_url": None, "chukan_key": None})
    with served_hub(unplugged) as (_, hub):
        headers = hub.unit_headers(hub.register("002"))
        assert register(hub, {}).status_code == 401 and register(hub, hub.admin()).status_code == 403
        assert register(hub, headers).status_code == 503
        synced = hub.http.post("/network/provisions/sync", headers=hub.admin())
        assert synced.status_code == 200 and synced.json() == {"connected": False, "recorded": 0}


def test_the_hub_syncs_by_itself(settings: Settings, network: NationalNetwork, database_url: str) -> None:
    with served_hub(settings.model_copy(update={"network_sync_seconds": 0.2})) as (_, hub):
        headers = hub.unit_headers(hub.register("002"))
        hub.enroll({"002": YAMADA["002"]}, my_number=MY_NUMBER)
        hub.http.post(
            "/network/codes", json={"atena_no": YAMADA["002"], "purpose": "ZEI-001"}, headers=headers
        )
        assert register(hub, headers).status_code == 201
        assert other_asks(network).status is InquiryStatus.PROVIDED
        wait_until(lambda: len(provisions(database_url)) == 1, timeout=10)
        time.sleep(0.6)  # rounds more, reading the same 第23条 record
        (entry,) = provisions(database_url)
        assert entry.providing_unit == "002" and entry.ordinance_rule_id == ROW_81
