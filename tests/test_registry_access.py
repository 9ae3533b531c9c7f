"""The registry by need-to-know: a unit sees only the persons it handles, links only on evidence,
reads 宛名情報 only under an ordinance rule, and every answer that carries a person leaves an entry in
the transfer record (and every call one in the operations record)."""

from __future__ import annotations

from typing import Any

import httpx

from platform_hub.kit.settings import Settings
from platform_hub.protocol.numbers import atena_number
from tests.helpers import PERSON, YAMADA, HubClient, rows, served_hub

MY_NUMBER = "123456789018"
OUTSIDER = {  # a 住登外者 known only to 002 (個人住民税)
    **PERSON,
    "name": "佐々木　花子",
    "name_kana": "ササキ　ハナコ",
    "birth_date": "1990-05-05",
    "sex": "2",
    "address": "大阪府大阪市北区梅田一丁目１番１号",
}


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def register_outsider(hub: HubClient, zeimu: dict[str, str]) -> str:
    body = {
        **OUTSIDER,
        "unit_code": "002",
        "atena_number": atena_number(2002),
        "my_number": MY_NUMBER,
        "reason": "申告（住登外者）",
        "purpose_code": "ZEI-001",
    }
    created = hub.http.post("/addressees", json=body, headers=zeimu)
    assert created.status_code == 201, created.text
    return str(created.json()["person_id"])


def test_a_unit_cannot_link_itself_to_a_stranger_to_read_their_my_number(
    hub: HubClient, database_url: str
) -> None:
    """Found: 051 linked a fresh number of its own to a 住登外者 only 002 knew, read the My Number in
    clear, and unlinked again — with nothing in any record."""
    zeimu = hub.unit_headers(hub.register("002"))
    shugaku = hub.unit_headers(hub.register("051"))
    integrated = register_outsider(hub, zeimu)
    attempt = {
        "unit_code": "051",
        "atena_number": atena_number(5051),
        "reason": "調査",
        "purpose_code": "SHU-001",
    }
    bare = hub.http.post(f"/addressees/{integrated}/links", json=attempt, headers=shugaku)
    assert bare.status_code == 400 and error_code(bare) == "E1002"  # no evidence, no link
    guessed = {**attempt, "name": "山田　太郎", "birth_date": "1985-04-01"}
    wrong = hub.http.post(f"/addressees/{integrated}/links", json=guessed, headers=shugaku)
    assert wrong.status_code == 404 and error_code(wrong) == "E1003"  # as if nobody held the number
    read = hub.http.get(
        f"/addressees/{integrated}", params={"purpose": "SHU-001", "with_my_number": "true"}, headers=shugaku
    )
    assert read.status_code == 404 and error_code(read) == "E1003"
    for answer in (bare, wrong, read):
        assert MY_NUMBER not in answer.text and "佐々木" not in answer.text
    refused = rows(
        database_url, "SELECT action, outcome, client_id FROM operations WHERE outcome = 'refused'"
    )
    assert [(r.action, r.outcome) for r in refused] == [
        ("registry.link", "refused"),
        ("registry.link", "refused"),
        ("registry.read", "refused"),
    ]
    assert rows(database_url, "SELECT 1 FROM atena_links WHERE unit_code = '051'") == []

    # The applicant stands at 051's counter with her name and birth date: now 051 handles her.
    evidence = {**attempt, "name": OUTSIDER["name"], "birth_date": OUTSIDER["birth_date"]}
    linked = hub.http.post(f"/addressees/{integrated}/links", json=evidence, headers=shugaku)
    assert linked.status_code == 201, linked.text
    assert linked.json()["my_number"] is None
    shown = hub.http.get(
        f"/addressees/{integrated}", params={"purpose": "SHU-001", "with_my_number": "true"}, headers=shugaku
    )
    assert shown.status_code == 200 and shown.json()["my_number"] == MY_NUMBER
    # Both answers are provisions of 宛名情報 to another organ (第19条第11号), on the rule that allows them.
    provided = rows(
        database_url,
        "SELECT interface_id, requesting_organ, purpose_code, ordinance_rule_id, information_category,"
        " item_names, subject_integrated_number FROM transfer_records WHERE requesting_unit = '051'"
        " AND outcome = 'provided' ORDER BY id",
    )
    assert [(r.interface_id, r.requesting_organ, r.ordinance_rule_id) for r in provided] == [
        ("ATENA_LINK", "教育委員会", "2026-04/P-03"),
        ("ATENA_READ", "教育委員会", "2026-04/P-03"),
    ]
    assert {r.subject_integrated_number for r in provided} == {integrated}
    assert "個人番号" in provided[1].item_names and "個人番号" not in provided[0].item_names
    reveals = rows(
        database_url, "SELECT subject_integrated_number FROM operations WHERE action = 'registry.reveal'"
    )
    assert [r.subject_integrated_number for r in reveals] == [integrated]
    # The person's やりとり履歴 tells her who read her 宛名情報, on which article.
    history = hub.http.get(f"/audit/persons/{integrated}", headers=hub.admin_auditor()).json()["transfers"]
    assert {(t["received_by_unit"], t["information_category"], t["article"]) for t in history} >= {
        ("051", "宛名情報", "別表第3 第3項")
    }


def test_a_unit_reads_only_the_persons_it_handles(hub: HubClient) -> None:
    """Found: any unit read every person (integrated numbers come from a counter) with their 基本4情報."""
    koho = hub.unit_headers(hub.register("099", purposes=["KOH-001"]))  # no 番号利用事務
    zeimu = hub.unit_headers(hub.register("002"))
    hub.register("011")
    numbers = [hub.enroll({"011": atena_number(100 + n)}, name=f"住民　{n}号") for n in range(5)]
    for integrated in numbers:
        for headers, purpose in ((koho, "KOH-001"), (zeimu, "ZEI-001")):
            walked = hub.http.get(f"/addressees/{integrated}", params={"purpose": purpose}, headers=headers)
            assert walked.status_code == 404 and error_code(walked) == "E1003", walked.text
            assert "住民" not in walked.text
    unknown = hub.http.get(
        f"/addressees/{atena_number(999_999)}", params={"purpose": "ZEI-001"}, headers=zeimu
    )
    assert unknown.status_code == 404  # the same answer, in the same words, as for one who exists
    held = hub.http.get(f"/addressees/{numbers[0]}", params={"purpose": "ZEI-001"}, headers=zeimu)
    assert unknown.json()["error"]["message"].replace(atena_number(999_999), "N") == held.json()["error"][
        "message"
    ].replace(numbers[0], "N")
    needs_purpose = hub.http.get(f"/addressees/{numbers[0]}", headers=hub.unit_headers(hub.register("051")))
    assert error_code(needs_purpose) in {"E1002", "E1003"}


def test_a_registry_answer_is_a_provision_under_the_ordinance(hub: HubClient, database_url: str) -> None:
    """Found: a registry answer crossed organs with no rule consulted and nothing recorded."""
    koho = hub.unit_headers(hub.register("099", purposes=["KOH-001"]))
    shugaku = hub.unit_headers(hub.register("051"))
    hub.register("011")
    twins = [hub.enroll({"011": atena_number(200 + n)}) for n in range(25)]  # one name, one birth day
    asked = {"name": PERSON["name"], "birth_date": PERSON["birth_date"]}
    found = hub.http.post(
        "/addressees/search", json={**asked, "purpose_code": "SHU-001", "limit": 20}, headers=shugaku
    )
    assert found.status_code == 200 and len(found.json()) == 20  # a bounded list
    assert {c["person_id"] for c in found.json()} <= set(twins)
    assert all(
        set(c["current"])
        == {
            "name",
            "family_name",
            "given_name",
            "name_kana",
            "birth_date",
            "sex",
            "address",
            "status",
            "status_ja",
        }
        for c in found.json()
    )
    entries = rows(
        database_url,
        "SELECT requesting_unit, ordinance_rule_id, item_names, subject_integrated_number"
        " FROM transfer_records WHERE interface_id = 'ATENA_SEARCH'",
    )
    assert len(entries) == 20 and {e.ordinance_rule_id for e in entries} == {"2026-04/P-03"}
    assert {e.subject_integrated_number for e in entries} == {c["person_id"] for c in found.json()}
    # 広報 has no rule for 宛名情報: refused, and the refusal recorded.
    refused = hub.http.post("/addressees/search", json={**asked, "purpose_code": "KOH-001"}, headers=koho)
    assert refused.status_code == 403 and error_code(refused) == "E3001"
    (refusal,) = rows(
        database_url, "SELECT outcome, refusal_reason FROM transfer_records WHERE requesting_unit = '099'"
    )
    assert refusal.outcome == "refused" and "宛名情報" in refusal.refusal_reason
    # A 事務 the unit is not registered for is no way around it.
    other = hub.http.post("/addressees/search", json={**asked, "purpose_code": "JDT-001"}, headers=shugaku)
    assert error_code(other) == "E3001"
    searches = rows(database_url, "SELECT outcome, detail FROM operations WHERE action = 'registry.search'")
    assert [s.outcome for s in searches] == ["ok", "refused", "refused"] and searches[
        0
    ].detail == "20 candidates"
    assert PERSON["name"] not in " ".join(
        str(tuple(s)) for s in rows(database_url, "SELECT * FROM operations")
    )


def test_restrictions_and_new_persons_stay_with_those_who_handle_them(hub: HubClient) -> None:
    """Found: any unit could hide a person from every other unit, and create persons as 住民 or 死亡."""
    zeimu = hub.unit_headers(hub.register("002"))
    shugaku = hub.unit_headers(hub.register("051"))
    integrated = register_outsider(hub, zeimu)
    hide = {"unit_code": "051", "attributes": ["name", "address"], "reason": "DV等支援措置"}
    hidden = hub.http.post(f"/addressees/{integrated}/restrictions", json=hide, headers=shugaku)
    assert hidden.status_code == 404 and error_code(hidden) == "E1003"
    seen = hub.http.get(f"/addressees/{integrated}", params={"purpose": "ZEI-001"}, headers=zeimu).json()
    assert seen["current"]["address"] == OUTSIDER["address"] and seen["restricted"] == []
    # 002, which numbers her, may set and lift it; the My Number office may lift any.
    own = hub.http.post(
        f"/addressees/{integrated}/restrictions", json={**hide, "unit_code": "002"}, headers=zeimu
    )
    assert own.status_code == 200 and own.json()["restricted_by_unit"] == "002"
    lifted = hub.http.post(
        f"/addressees/{integrated}/restrictions",
        json={**hide, "unit_code": "002", "attributes": []},
        headers=hub.admin(),
    )
    assert lifted.status_code == 200 and lifted.json()["restricted"] == []
    for status in ("resident", "deceased", "moved_out"):
        body: dict[str, Any] = {
            **PERSON,
            "unit_code": "051",
            "atena_number": atena_number(5100),
            "status": status,
            "reason": "登録",
            "purpose_code": "SHU-001",
        }
        created = hub.http.post("/addressees", json=body, headers=shugaku)
        assert created.status_code == 403 and error_code(created) == "E2002", created.text


def test_registry_calls_share_the_units_rate_limit(settings: Settings) -> None:
    limited = settings.model_copy(update={"unit_rate_limit": "3/minute"})
    with served_hub(limited) as (_, hub):
        jidou = hub.unit_headers(hub.register("011"))
        asked = {"name": PERSON["name"], "birth_date": PERSON["birth_date"], "purpose_code": "JDT-001"}
        answers = [hub.http.post("/addressees/search", json=asked, headers=jidou) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert error_code(answers[-1]) == "E2003" and "Retry-After" in answers[-1].headers
        assert hub.http.get("/healthz").status_code == 200


def test_units_see_their_own_people_through_their_own_numbers(hub: HubClient) -> None:
    """The demo's flows still work: a unit linked by 住民異動 or by its own registration reads the person."""
    jidou = hub.unit_headers(hub.register("011"))
    integrated = hub.enroll({"011": YAMADA["011"]}, my_number=MY_NUMBER)
    seen = hub.http.get(f"/addressees/{integrated}", params={"purpose": "JDT-001"}, headers=jidou)
    assert seen.status_code == 200 and seen.json()["current"]["name"] == PERSON["name"]
