"""住基ネット through the hub, for a unit's 個人番号利用事務 (番号法 第14条第2項): 個人番号の真正性確認,
本人確認情報 and the 最新化 of a 住登外者, and the 住所 on a 基準日 — against the mock 住基ネット running
as its own process. Each call is in the transfer record; a 事務 without the 個人番号 is refused."""

from __future__ import annotations

from typing import Any

import httpx

from tests import test_network_gateway as gateway
from tests.helpers import YAMADA, HubClient, rows
from tests.national import CITY, OTHER
from tests.test_network_gateway import MY_NUMBER

# The mock national network with 山田 花子 in 住基ネット, the hub connected to it, and 011 with her.
network, settings, jidou = gateway.network, gateway.settings, gateway.jidou

YAMADA_HANAKO = {
    "name": "山田 花子",
    "birth_date": "1986-01-11",
    "sex": "2",
    "address": "デモ市本町1丁目1番1号",
}


def juki_entries(database_url: str) -> list[Any]:
    return rows(
        database_url,
        "SELECT interface_id, requesting_unit, providing_unit, purpose_code, information_category,"
        " ordinance_rule_id, outcome, subject_integrated_number, binding, refusal_reason"
        " FROM transfer_records WHERE pattern = 'juki_net' ORDER BY id",
    )


def post(hub: HubClient, path: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    return hub.http.post(f"/network/{path}", json={"purpose": "JDT-001", **body}, headers=headers)


def test_a_my_number_is_verified_against_the_basic_four(
    hub: HubClient, jidou: tuple[dict[str, str], str], database_url: str
) -> None:
    headers, integrated = jidou
    same = post(hub, "verifications", headers, my_number=MY_NUMBER, **YAMADA_HANAKO)
    assert same.status_code == 200, same.text
    assert same.json() == {"authentic": True, "known": True, "differing": []}
    other_day = post(
        hub, "verifications", headers, my_number=MY_NUMBER, **{**YAMADA_HANAKO, "birth_date": "1986-01-12"}
    )
    assert other_day.json() == {"authentic": False, "known": True, "differing": ["birth_date"]}
    unknown = "123456789018"
    nobody = post(hub, "verifications", headers, my_number=unknown, **YAMADA_HANAKO)
    assert nobody.json()["known"] is False and nobody.json()["authentic"] is False
    for answer in (same, other_day, nobody):
        assert MY_NUMBER not in answer.text and unknown not in answer.text
    entries = juki_entries(database_url)
    assert [(e.interface_id, e.requesting_unit, e.providing_unit, e.outcome) for e in entries] == [
        ("JUKI_VERIFY", "011", "JLS", "provided")
    ] * 3
    assert entries[0].ordinance_rule_id == "番号法 第14条第2項" and entries[0].binding == "juki_net"
    assert entries[0].information_category == "本人確認情報"
    # Recorded against the person the registry holds under the number; an unknown number, nobody.
    assert [e.subject_integrated_number for e in entries] == [integrated, integrated, None]


def test_a_non_residents_identity_is_refreshed_from_juki_net(hub: HubClient, database_url: str) -> None:
    headers = hub.unit_headers(hub.register("011"))
    atena = YAMADA["011"]
    registered = hub.http.post(
        "/addressees",
        json={
            **YAMADA_HANAKO,
            "address": "前住所町1-2",  # as the 請求書 said: where she lived before
            "unit_code": "011",
            "atena_number": atena,
            "status": "non_resident",
            "reason": "児童手当の認定請求",
            "purpose_code": "JDT-001",
            "my_number": MY_NUMBER,
        },
        headers=headers,
    )
    assert registered.status_code == 201, registered.text
    person = registered.json()["person_id"]

    refreshed = post(hub, "identities", headers, atena_no=atena, refresh=True)
    assert refreshed.status_code == 200, refreshed.text
    found = refreshed.json()
    assert found["refreshed"] is True and found["changed"] == ["住所", "市町村コード"]
    assert (found["address"], found["municipality_code"]) == ("デモ市本町1丁目1番1号", CITY)
    assert MY_NUMBER not in refreshed.text and "resident_code" not in found

    seen = hub.http.get(f"/addressees/{person}?purpose=JDT-001", headers=headers).json()
    assert seen["current"]["address"] == "デモ市本町1丁目1番1号"
    again = post(hub, "identities", headers, atena_no=atena, refresh=True).json()
    assert again["refreshed"] is False and again["changed"] == []  # nothing new: no new version
    assert [e.interface_id for e in juki_entries(database_url)] == ["JUKI_IDENTITY", "JUKI_IDENTITY"]


def test_the_address_on_a_kijunbi_says_where_to_ask(
    hub: HubClient, jidou: tuple[dict[str, str], str], database_url: str
) -> None:
    headers, integrated = jidou
    before = post(hub, "addresses", headers, atena_no=YAMADA["011"], on="2025-01-01").json()
    assert before["found"] is True and before["municipality_code"] == OTHER
    assert (before["since"], before["until"]) == ("2010-04-01", "2025-03-09")
    now = post(hub, "addresses", headers, atena_no=YAMADA["011"], on="2026-01-01").json()
    assert now["municipality_code"] == CITY and now["until"] is None
    unborn = post(hub, "addresses", headers, atena_no=YAMADA["011"], on="1980-01-01").json()
    assert unborn == {"on": "1980-01-01", "found": False, "municipality_code": None, "address": None,
                      "since": None, "until": None}  # fmt: skip
    entries = juki_entries(database_url)
    assert {e.interface_id for e in entries} == {"JUKI_ADDRESS"} and len(entries) == 3
    assert {e.subject_integrated_number for e in entries} == {integrated}


def test_a_task_without_the_my_number_may_not_ask_juki_net(hub: HubClient, database_url: str) -> None:
    headers = hub.unit_headers(hub.register("061", purposes=["JDT-001", "KOH-001"]))
    refused = post(
        hub, "verifications", headers, my_number=MY_NUMBER, **{**YAMADA_HANAKO, "purpose": "KOH-001"}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "E3001", refused.text
    assert MY_NUMBER not in refused.text
    (entry,) = juki_entries(database_url)
    assert (entry.outcome, entry.purpose_code, entry.ordinance_rule_id) == ("refused", "KOH-001", None)
    assert "個人番号利用事務" in entry.refusal_reason
    # A unit with no 個人番号利用事務 at all has no UNIT:mynumber: not even asked.
    koho = hub.unit_headers(hub.register("071", purposes=["KOH-001"]))
    assert (
        post(hub, "addresses", koho, atena_no=YAMADA["011"], on="2026-01-01", purpose="KOH-001").status_code
        == 403
    )
    assert post(hub, "addresses", {}, atena_no=YAMADA["011"], on="2026-01-01").status_code == 401
