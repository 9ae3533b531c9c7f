"""The addressee registry: persons and history, search, 住登外者, links, 名寄せ, and translation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from platform_hub.protocol.numbers import atena_number
from tests.helpers import (
    PERSON,
    YAMADA,
    HubClient,
    count_rows,
    fault_code,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
    zei_query,
)
from tests.units import TestUnit, zei_answer

MY_NUMBER = "123456789018"


def search(hub: HubClient, headers: dict[str, str], **body: Any) -> list[dict[str, Any]]:
    response = hub.http.post("/addressees/search", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


@pytest.fixture
def juki(hub: HubClient) -> dict[str, str]:
    """001 住民基本台帳, whose 住民異動通知 feed the registry."""
    return hub.unit_headers(hub.register("001"))


def test_tennyu_creates_the_person_and_tenkyo_adds_a_version(
    hub: HubClient, juki: dict[str, str], database_url: str
) -> None:
    moved_in = hub.send(
        ido_notification(
            jiyu="01", my_number=MY_NUMBER, changes={"TennyumaeJusho": "大阪府大阪市北区梅田一丁目１番"}
        ),
        juki,
    )
    assert moved_in.status_code == 200, moved_in.text
    changes = {"Jusho": "東京都千代田区丸の内二丁目３番４号"}
    assert (
        hub.send(ido_notification(jiyu="03", changes=changes | {"IdoDate": "2026-11-20"}), juki).status_code
        == 200
    )
    (found,) = search(hub, hub.admin(), my_number=MY_NUMBER)
    assert found["matched"] == ["my_number"] and found["has_my_number"] and "my_number" not in found
    person = hub.http.get(f"/addressees/{found['person_id']}", headers=hub.admin()).json()
    assert [v["reason"] for v in person["history"]] == ["転入", "転居"]
    assert person["current"]["address"] == "東京都千代田区丸の内二丁目３番４号"
    assert person["history"][0]["valid_to"] == "2026-11-20"
    assert [link["atena_number"] for link in person["links"]] == [YAMADA["001"]]
    # The stored message keeps the notification but not the 個人番号.
    (stored,) = rows(
        database_url, "SELECT request_xml FROM messages WHERE interface_id = 'IF_JUK_0001' LIMIT 1"
    )
    assert b"KojinBango" not in bytes(stored[0]) and MY_NUMBER.encode() not in bytes(stored[0])


def test_a_change_brings_the_my_number_of_a_person_linked_without_one(
    hub: HubClient, juki: dict[str, str]
) -> None:
    moved_in = ido_notification(jiyu="01", changes={"TennyumaeJusho": "大阪府"})
    assert hub.send(moved_in, juki).status_code == 200
    assert search(hub, hub.admin(), my_number=MY_NUMBER) == []
    assert hub.send(ido_notification(jiyu="03", my_number=MY_NUMBER), juki).status_code == 200
    (found,) = search(hub, hub.admin(), my_number=MY_NUMBER)
    assert found["matched"] == ["my_number"]


def test_a_change_for_an_unknown_person_is_e3002_with_nothing_stored(
    hub: HubClient, juki: dict[str, str], database_url: str
) -> None:
    response = hub.send(ido_notification(jiyu="03"), juki)
    assert response.status_code == 422
    assert fault_code(response) == "E3002"
    assert count_rows(database_url, "messages") == count_rows(database_url, "persons") == 0


def test_search_finds_a_person_only_through_a_former_address(hub: HubClient, juki: dict[str, str]) -> None:
    hub.send(ido_notification(jiyu="01", my_number=MY_NUMBER, changes={"TennyumaeJusho": "大阪府"}), juki)
    hub.send(ido_notification(jiyu="03", changes={"Jusho": "東京都港区芝公園四丁目２番８号"}), juki)
    former = {
        "name": "山田太郎",
        "birth_date": "1985-04-01",
        "address": "東京都千代田区千代田1-1-1",
    }  # half-width, spaces and dashes differ
    (found,) = search(hub, hub.admin(), **former)
    assert found["matched_former"] is True and set(found["matched"]) == {"name", "birth_date", "address"}
    assert search(hub, hub.admin(), **former, include_history=False) == []
    # 読み仮名 in hiragana or half-width katakana, partial, with the birth date.
    (by_kana,) = search(hub, hub.admin(), name_kana="やまだ", birth_date="1985-04-01", match="partial")
    assert by_kana["person_id"] == found["person_id"]
    (half_width,) = search(hub, hub.admin(), name_kana="ﾔﾏﾀﾞ ﾀﾛｳ", birth_date="1985-04-01")
    assert half_width["person_id"] == found["person_id"]


def test_search_finds_a_former_name_and_an_unknown_birth_day(hub: HubClient) -> None:
    hub.register("011")
    integrated = hub.enroll(
        {"011": atena_number(7)},
        name="佐藤　花子",
        name_kana="サトウ　ハナコ",
        birth_date="1950-07-00",
        sex="2",
    )
    (found,) = search(hub, hub.admin(), name="佐藤花子", birth_date="1950-07-15")
    assert found["person_id"] == integrated and found["current"]["birth_date"] == "1950-07-00"


def test_search_needs_enough_to_go_on(hub: HubClient) -> None:
    for body in (
        {"name": "山田"},
        {"birth_date": "1985-04-01"},
        {"name": "山田", "birth_date": "1985-13-01"},
        {"name": "山田", "address": "東京都"},  # a name needs its birth date
        {"name": " ", "address": " ", "birth_date": "1985-04-01"},  # blanks are not values
        {"name": "　", "birth_date": "1985-04-01", "match": "partial"},
        {"name": "山田", "birth_date": "1985-04-01", "limit": 21},  # a bounded list of candidates
    ):
        response = hub.http.post("/addressees/search", json=body, headers=hub.admin())
        assert response.status_code == 400 and response.json()["error"]["code"] == "E1002"
    response = hub.http.post("/addressees/search", json={"my_number": "123456789012"}, headers=hub.admin())
    assert response.json()["error"]["code"] == "E1002"
    assert "123456789012" not in response.text


def test_register_a_non_resident_and_one_integrated_number_per_my_number(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    body = {
        **PERSON,
        "unit_code": "011",
        "atena_number": atena_number(900),
        "my_number": MY_NUMBER,
        "reason": "認定請求（住登外者）",
        "purpose_code": "JDT-001",
    }
    created = hub.http.post("/addressees", json=body, headers=jidou)
    assert created.status_code == 201, created.text
    person = created.json()
    assert person["current"]["status"] == "non_resident" and person["links"][0]["non_resident"]
    again = hub.http.post("/addressees", json={**body, "atena_number": atena_number(901)}, headers=jidou)
    assert again.status_code == 409 and again.json()["error"]["code"] == "E1004"
    assert MY_NUMBER not in again.text
    for bad, code in (
        ({"atena_number": "123"}, "E1002"),
        ({"my_number": "123456789012"}, "E1002"),
        ({"reason": ""}, "E1002"),
        ({"unit_code": "002"}, "E2002"),
    ):
        response = hub.http.post(
            "/addressees", json={**body, "atena_number": atena_number(902), **bad}, headers=jidou
        )
        assert response.json()["error"]["code"] == code, (bad, response.text)


def test_my_number_only_for_number_use_units_that_handle_the_person(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))  # 児童手当: a 番号利用事務, and linked below
    zeimu = hub.unit_headers(hub.register("002"))  # 個人住民税: a 番号利用事務, but not linked to this person
    koho = hub.unit_headers(hub.register("099", purposes=["KOH-001"]))  # 広報: not a 番号利用事務
    integrated = hub.enroll({"011": YAMADA["011"], "099": atena_number(99)}, my_number=MY_NUMBER)
    (found,) = search(hub, jidou, my_number=MY_NUMBER, purpose_code="JDT-001")
    assert "my_number" not in found  # a search never answers a My Number
    read = hub.http.get(f"/addressees/{integrated}", params={"purpose": "JDT-001"}, headers=jidou).json()
    assert read["my_number"] is None  # only when asked for
    shown = hub.http.get(
        f"/addressees/{integrated}", params={"purpose": "JDT-001", "with_my_number": "true"}, headers=jidou
    )
    assert shown.json()["my_number"] == MY_NUMBER
    (seen_by_002,) = search(hub, zeimu, my_number=MY_NUMBER, purpose_code="ZEI-001")
    assert seen_by_002["links"] == []
    # 002 does not handle the person: to it they are unknown, whatever it asks for.
    for params in ({"purpose": "ZEI-001"}, {"purpose": "ZEI-001", "with_my_number": "true"}):
        hidden = hub.http.get(f"/addressees/{integrated}", params=params, headers=zeimu)
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "E1003"
        assert MY_NUMBER not in hidden.text
    # A unit with no 番号利用事務, or a token without the scope, may not even search by My Number.
    narrow = hub.unit_headers(hub.register("051"), scope="051:addressees")
    for headers, purpose in ((koho, "KOH-001"), (narrow, "SHU-001")):
        refused = hub.http.post(
            "/addressees/search", json={"my_number": MY_NUMBER, "purpose_code": purpose}, headers=headers
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "E2002"
    auditor = hub.http.post("/clients", json={"name": "監査", "role": "auditor"}, headers=hub.admin()).json()
    headers = {"Authorization": f"Bearer {hub.token(auditor['client_id'], auditor['client_secret'])}"}
    assert (
        hub.http.post("/addressees/search", json={"my_number": MY_NUMBER}, headers=headers).status_code == 403
    )


def test_restrictions_belong_to_the_unit_that_set_them(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    zeimu = hub.unit_headers(hub.register("002"))
    integrated = hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    body = {"unit_code": "011", "attributes": ["address"], "reason": "DV等支援措置"}
    assert (
        hub.http.post(f"/addressees/{integrated}/restrictions", headers=jidou, json=body).status_code == 200
    )
    lifted = hub.http.post(
        f"/addressees/{integrated}/restrictions",
        headers=zeimu,
        json={**body, "unit_code": "002", "attributes": []},
    )
    assert lifted.status_code == 403
    # Searching by the hidden address does not confirm it to another unit.
    by_address = {"name": "山田太郎", "birth_date": PERSON["birth_date"], "address": PERSON["address"]}
    assert search(hub, zeimu, **by_address, purpose_code="ZEI-001") == []
    assert len(search(hub, jidou, **by_address, purpose_code="JDT-001")) == 1


def test_units_see_their_own_links_and_not_hidden_attributes(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    zeimu = hub.unit_headers(hub.register("002"))
    integrated = hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    restricted = hub.http.post(
        f"/addressees/{integrated}/restrictions",
        headers=jidou,
        json={"unit_code": "011", "attributes": ["address"], "reason": "DV等支援措置"},
    )
    assert restricted.status_code == 200
    seen_by_002 = hub.http.get(
        f"/addressees/{integrated}", params={"purpose": "ZEI-001"}, headers=zeimu
    ).json()
    assert [link["unit_code"] for link in seen_by_002["links"]] == ["002"]
    assert seen_by_002["current"]["address"] is None and seen_by_002["restricted"] == ["address"]
    seen_by_011 = hub.http.get(
        f"/addressees/{integrated}", params={"purpose": "JDT-001"}, headers=jidou
    ).json()
    assert seen_by_011["current"]["address"] == PERSON["address"]


def test_link_unlink_and_merge_with_undo(hub: HubClient) -> None:
    hub.register("001")
    jidou = hub.unit_headers(hub.register("011"))
    resident = hub.enroll({"001": YAMADA["001"]}, my_number=MY_NUMBER)
    non_resident = hub.enroll({"011": YAMADA["011"]})
    # 名寄せ: the 住登外者 record of 011 is the resident; neither is renumbered.
    merged = hub.http.post(
        "/addressees/merges",
        headers=hub.admin(),
        json={
            "integrated_number": non_resident,
            "into_integrated_number": resident,
            "reason": "同一人と確認",
        },
    )
    assert merged.status_code == 201, merged.text
    assert (
        hub.http.post(
            "/addressees/merges",
            headers=jidou,
            json={"integrated_number": non_resident, "into_integrated_number": resident, "reason": "x"},
        ).status_code
        == 403
    )
    person = hub.http.get(f"/addressees/{resident}", headers=hub.admin()).json()
    assert (
        person["merges"][0]["into_integrated_number"] == resident and person["merges"][0]["undone_at"] is None
    )
    merge_id = person["merges"][0]["id"]
    missing_reason = hub.http.post(f"/addressees/merges/{merge_id}/undo", headers=hub.admin(), json={})
    assert missing_reason.json()["error"]["code"] == "E1002"
    undone = hub.http.post(
        f"/addressees/merges/{merge_id}/undo", headers=hub.admin(), json={"reason": "誤り"}
    )
    assert undone.status_code == 200 and undone.json()["undo_reason"] == "誤り"
    history = hub.http.get(f"/addressees/{non_resident}", headers=hub.admin()).json()
    assert (
        history["merges"][0]["reason"] == "同一人と確認" and history["merges"][0]["undone_by"] == "test-admin"
    )
    assert history["person_id"] == non_resident  # still its own number
    unlinked = hub.http.post(
        f"/addressees/links/011/{YAMADA['011']}/unlink", headers=jidou, json={"reason": "誤登録"}
    )
    assert unlinked.status_code == 200 and unlinked.json()["unlink_reason"] == "誤登録"
    kept = hub.http.get(f"/addressees/{non_resident}", headers=hub.admin()).json()["links"]
    assert kept[0]["unlinked_at"] is not None  # the link is kept, with who, when and why


@pytest.fixture
def zeimu_unit(hub: HubClient) -> Iterator[TestUnit]:
    unit = TestUnit(answer=zei_answer)
    with serve_in_thread(unit.app()) as url:
        hub.register("002", url)
        yield unit


def test_query_arrives_with_the_receivers_number_and_returns_with_the_senders(
    hub: HubClient, zeimu_unit: TestUnit, database_url: str
) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    integrated = hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    response = hub.send(zei_query(atena=YAMADA["011"]), jidou)
    assert response.status_code == 200, response.text
    sent = zeimu_unit.received[0].findtext(
        ".//{urn:platform-hub:linkage:1}Payload/{urn:platform-hub:linkage:1}AtenaNo"
    )
    assert sent == YAMADA["002"]
    assert f"<lk:AtenaNo>{YAMADA['011']}</lk:AtenaNo>".encode() in response.content
    assert YAMADA["002"].encode() not in response.content
    (record,) = rows(database_url, "SELECT subject_integrated_number FROM transfer_records")
    assert record[0] == integrated


def test_query_through_a_merge(hub: HubClient, zeimu_unit: TestUnit) -> None:
    """011 knows the 住登外者 record, 002 the resident one; after 名寄せ the query goes through."""
    jidou = hub.unit_headers(hub.register("011"))
    resident = hub.enroll({"002": YAMADA["002"]})
    non_resident = hub.enroll({"011": YAMADA["011"]})
    assert fault_code(hub.send(zei_query(), jidou)) == "E3002"
    hub.http.post(
        "/addressees/merges",
        headers=hub.admin(),
        json={"integrated_number": non_resident, "into_integrated_number": resident, "reason": "同一人"},
    )
    assert hub.send(zei_query(), jidou).status_code == 200


def test_unknown_or_unlinked_person_is_e3002_with_nothing_delivered(
    hub: HubClient, zeimu_unit: TestUnit, database_url: str
) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    unknown = hub.send(zei_query(atena=atena_number(4242)), jidou)
    assert unknown.status_code == 422 and fault_code(unknown) == "E3002"
    hub.enroll({"011": YAMADA["011"]})  # not linked in 002
    unlinked = hub.send(zei_query(msgid="unlinked"), jidou)
    assert fault_code(unlinked) == "E3002" and "not linked in unit 002" in unlinked.text
    assert zeimu_unit.received == []
    refusals = rows(database_url, "SELECT outcome, refusal_reason FROM transfer_records ORDER BY id")
    assert [r.outcome for r in refusals] == ["refused", "refused"]
    # Once linked, the same MSGID goes through.
    hub.http.post(
        f"/addressees/{hub_person(hub, YAMADA['011'])}/links",
        headers=hub.admin(),
        json={"unit_code": "002", "atena_number": YAMADA["002"], "reason": "課税台帳と照合"},
    )
    assert hub.send(zei_query(msgid="unlinked"), jidou).status_code == 200


def hub_person(hub: HubClient, atena_011: str) -> str:
    found = search(hub, hub.admin(), name=PERSON["name"], birth_date=PERSON["birth_date"])
    return next(
        c["person_id"] for c in found if any(link["atena_number"] == atena_011 for link in c["links"])
    )


def test_notification_to_a_subscriber_without_the_person_is_refused_for_it(
    hub: HubClient, juki: dict[str, str], database_url: str
) -> None:
    linked, unlinked = TestUnit(), TestUnit()
    with serve_in_thread(linked.app()) as url_002, serve_in_thread(unlinked.app()) as url_011:
        hub.register("002", url_002)
        hub.register("011", url_011)
        hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
        assert hub.send(ido_notification(), juki).status_code == 200
        wait_until(lambda: count_rows(database_url, "transfer_records") == 2)
    assert len(linked.received) == 1 and unlinked.received == []
    outcomes = rows(
        database_url, "SELECT requesting_unit, outcome FROM transfer_records ORDER BY requesting_unit"
    )
    assert [tuple(r) for r in outcomes] == [("002", "delivered"), ("011", "refused")]
    assert {r.status for r in rows(database_url, "SELECT status FROM deliveries")} == {"delivered", "refused"}
