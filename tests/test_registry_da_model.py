"""The 宛名 the DA defines, through the hub: 氏・名 (氏名 derived for the existing answers), 外国人
names, 通称 and 旧氏 with フリガナ, 生年月日 不詳 (flag and notation, the same in the messages),
町字コード, DV等支援措置 from 住民基本台帳 passed on (never hiding the person), and 他業務参照不可 in the
DA's sense: what came from 住基ネット serves the 事務 it was obtained for only."""

from __future__ import annotations

from typing import Any

from platform_hub.protocol.numbers import atena_number
from tests.helpers import PERSON, YAMADA, HubClient, ido_notification, rows, wait_until
from tests.units import TestUnit

LK = "{urn:platform-hub:linkage:1}"


def register(hub: HubClient, headers: dict[str, str], atena: str, **info: Any) -> dict[str, Any]:
    body = {
        "sex": "1",
        "birth_date": "1980-02-03",
        "address": "大阪府大阪市北区梅田一丁目１番１号",
        "unit_code": "011",
        "atena_number": atena,
        "reason": "認定請求（住登外者）",
        "purpose_code": "JDT-001",
        **info,
    }
    created = hub.http.post("/addressees", json=body, headers=headers)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def search(hub: HubClient, **body: Any) -> list[dict[str, Any]]:
    found = hub.http.post("/addressees/search", json=body, headers=hub.admin())
    assert found.status_code == 200, found.text
    result: list[dict[str, Any]] = found.json()
    return result


def test_family_and_given_names_make_the_name_and_are_searched_apart(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    person = register(
        hub,
        jidou,
        atena_number(4001),
        family_name="髙橋",
        given_name="邊子",
        family_name_kana="タカハシ",
        given_name_kana="ナベコ",
        former_surname="﨑山",
        former_surname_kana="サキヤマ",
        alias="髙橋　なべ",
        alias_kana="タカハシ　ナベ",
    )
    current = person["current"]
    assert current["name"] == "髙橋　邊子" and current["name_kana"] == "タカハシ　ナベコ"  # derived
    assert (current["family_name"], current["given_name"]) == ("髙橋", "邊子")
    assert (current["former_surname"], current["former_surname_kana"]) == ("﨑山", "サキヤマ")
    assert (current["alias"], current["alias_kana"]) == ("髙橋　なべ", "タカハシ　ナベ")
    # 氏 and 名 each on their own, 異体字 folded (高 = 髙, 辺 = 邊).
    (by_family,) = search(hub, family_name="高橋", birth_date="1980-02-03")
    assert by_family["person_id"] == person["person_id"] and by_family["matched"] == [
        "family_name",
        "birth_date",
    ]
    assert by_family["current"]["family_name"] == "髙橋"
    (by_given,) = search(hub, given_name="辺子", birth_date="1980-02-03")
    assert by_given["matched"] == ["given_name", "birth_date"]
    assert search(hub, family_name="高橋", given_name="花子", birth_date="1980-02-03") == []
    (partial,) = search(hub, given_name="辺", birth_date="1980-02-03", match="partial")
    assert partial["person_id"] == person["person_id"]
    # An old client's full 氏名 still finds the person.
    assert search(hub, name="高橋辺子", birth_date="1980-02-03")[0]["person_id"] == person["person_id"]


def test_a_foreign_resident_is_named_by_the_kanji_name_and_keeps_the_alphabet_one(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    person = register(
        hub,
        jidou,
        atena_number(4002),
        foreign_name_alphabet="WANG XIAOMING",
        foreign_name_kanji="王　小明",
        alias="山本　明",
        alias_kana="ヤマモト　アキラ",
    )
    current = person["current"]
    assert current["name"] == "王　小明" and current["foreign_name_alphabet"] == "WANG XIAOMING"
    assert current["family_name"] is None  # 氏・名 are the 日本人's items
    read = hub.http.get(f"/addressees/{person['person_id']}", params={"purpose": "JDT-001"}, headers=jidou)
    assert read.json()["current"]["alias_kana"] == "ヤマモト　アキラ"


def test_a_birth_date_partly_unknown_has_its_flag_and_notation(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    person = register(
        hub,
        jidou,
        atena_number(4003),
        name="佐藤　一",
        birth_date="1945-00-00",
        birth_date_notation="昭和２０年月日不詳",
    )
    assert person["current"]["birth_date_unknown"] is True
    assert person["current"]["birth_date_notation"] == "昭和２０年月日不詳"
    (found,) = search(hub, name="佐藤一", birth_date="1945-08-15")  # any day of that year
    assert found["current"]["birth_date"] == "1945-00-00"
    wrong = hub.http.post(
        "/addressees",
        json={
            **PERSON,
            "unit_code": "011",
            "atena_number": atena_number(4004),
            "reason": "x",
            "purpose_code": "JDT-001",
            "birth_date_unknown": True,
        },
        headers=jidou,
    )
    assert wrong.status_code == 400  # a 不詳 flag on a whole date says nothing true


def test_the_resident_register_sends_the_da_items_and_the_support_measure(
    hub: HubClient, subscribers: dict[str, TestUnit], database_url: str
) -> None:
    juki = hub.unit_headers(hub.register("001"))
    items = {
        "Shi": "山田",
        "Mei": "太郎",
        "ShiKana": "ヤマダ",
        "MeiKana": "タロウ",
        "SeinengappiDate": "1985-04-01",
        "SeinengappiFushoKubun": "1",
        "SeinengappiFushoHyoki": "昭和６０年４月日不詳",
        "ChoazaCode": "0001001",
        "ShienSochiFlag": "1",
    }
    sent = hub.send(ido_notification(changes=items), juki)
    assert sent.status_code == 200, sent.text
    jidou = hub.unit_headers(hub.http.post("/adapters/011/secret", headers=hub.admin()).json())
    (person,) = search(hub, family_name="山田", birth_date="1985-04-01")
    assert person["support_measure"] is True
    # The unit that handles the person still sees them, with the flag: they are not hidden.
    read = hub.http.get(f"/addressees/{person['person_id']}", params={"purpose": "JDT-001"}, headers=jidou)
    assert read.status_code == 200, read.text
    view = read.json()
    assert view["support_measure"] is True and view["current"]["name"] == "山田　太郎"
    current = view["current"]
    assert (current["birth_date"], current["birth_date_unknown"]) == ("1985-04-00", True)
    assert (current["town_code"], current["given_name"]) == ("0001001", "太郎")
    (entry,) = rows(database_url, "SELECT item_names FROM transfer_records WHERE interface_id = 'ATENA_READ'")
    assert "支援措置" in entry.item_names and "町字コード" in entry.item_names
    # The subscribers received the 住民異動 with the flag in it, as 住民基本台帳 sent it.
    wait_until(lambda: all(unit.received for unit in subscribers.values()))
    for unit in subscribers.values():
        assert unit.received[0].findtext(f".//{LK}ShienSochiFlag") == "1"
    # 住民基本台帳 ends the measure: the registry follows; a message without the item leaves it.
    assert hub.send(ido_notification(changes={"ShienSochiFlag": "0"}, msgid="end"), juki).status_code == 200
    assert search(hub, name="山田太郎", birth_date="1985-04-01")[0]["support_measure"] is False
    assert hub.send(ido_notification(changes={"ShienSochiFlag": "1"}, msgid="again"), juki).status_code == 200
    assert hub.send(ido_notification(msgid="silent"), juki).status_code == 200
    assert search(hub, name="山田太郎", birth_date="1985-04-01")[0]["support_measure"] is True


def test_what_came_from_jukinet_serves_only_the_affair_it_was_obtained_for(
    hub: HubClient, database_url: str
) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    zeimu = hub.unit_headers(hub.register("002"))
    person = register(hub, jidou, atena_number(4005), name="中村　次郎", obtained_from_jukinet=True)
    assert person["current"]["obtained_from_jukinet"] is True
    person_id = person["person_id"]
    own = hub.http.get(f"/addressees/{person_id}", params={"purpose": "JDT-001"}, headers=jidou).json()
    assert own["current"]["name"] == "中村　次郎"
    # 002 has the applicant in front of it and links on their 氏名 and 生年月日 …
    linked = hub.http.post(
        f"/addressees/{person_id}/links",
        json={
            "unit_code": "002",
            "atena_number": atena_number(4006),
            "reason": "申告",
            "purpose_code": "ZEI-001",
            "name": "中村　次郎",
            "birth_date": "1980-02-03",
        },
        headers=zeimu,
    )
    assert linked.status_code == 201, linked.text
    # … but what the registry had from 住基ネット (for 児童手当) is not used for 個人住民税.
    other = hub.http.get(f"/addressees/{person_id}", params={"purpose": "ZEI-001"}, headers=zeimu).json()
    assert other["current"]["name"] is None and other["current"]["address"] is None
    assert other["history"] == []
    found = hub.http.post(
        "/addressees/search",
        json={"name": "中村次郎", "birth_date": "1980-02-03", "purpose_code": "ZEI-001"},
        headers=zeimu,
    )
    assert found.status_code == 200 and found.json() == []
    query = (
        "SELECT item_names FROM transfer_records"
        " WHERE requesting_unit = '002' AND interface_id = 'ATENA_READ'"
    )
    items = rows(database_url, query)
    assert "氏名" not in items[0].item_names
    # The office administers the registry and sees it, marked as from 住基ネット.
    office = hub.http.get(f"/addressees/{person_id}", headers=hub.admin()).json()
    assert office["current"]["name"] == "中村　次郎" and office["current"]["obtained_from_jukinet"] is True


def test_units_that_send_none_of_the_new_items_are_unchanged(hub: HubClient) -> None:
    """An old client's registration (氏名 whole) answers as before, the new items null."""
    jidou = hub.unit_headers(hub.register("011"))
    person = register(hub, jidou, YAMADA["011"], name="山田　太郎", name_kana="ヤマダ　タロウ")
    current = person["current"]
    assert current["name"] == "山田　太郎" and current["family_name"] is None
    assert current["birth_date_unknown"] is False and person["support_measure"] is False
