"""The 団体内統合宛名番号 as the Digital Agency specifies it: issued only on a 付番依頼 that carries the
個人番号 (a person known by 基本4情報 is known by their person id until then), imported numbers kept
as they are, and a 住登外者 who arrives with a 個人番号 matched by a 名寄せ proposal an operator
accepts or rejects — never a silent duplicate."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from platform_hub.addressees.importer import COLUMNS
from platform_hub.cli import app
from platform_hub.kit.migrations import upgrade
from platform_hub.kit.vault import generate_key_file
from platform_hub.protocol.numbers import atena_number
from tests.helpers import PERSON, HubClient, ido_notification, rows, valid_my_number

NUMBER = valid_my_number("31415926535")
OTHER_NUMBER = valid_my_number("27182818284")
OUTSIDER = {  # a 住登外者 011 knows by 基本4情報 only
    **PERSON,
    "name": "鈴木　一郎",
    "name_kana": "スズキ　イチロウ",
    "birth_date": "1980-02-03",
    "address": "大阪府大阪市北区梅田一丁目１番１号",
}


def register(hub: HubClient, headers: dict[str, str], atena: str, **extra: Any) -> dict[str, Any]:
    body = {
        **OUTSIDER,
        "unit_code": "011",
        "atena_number": atena,
        "reason": "認定請求（住登外者）",
        "purpose_code": "JDT-001",
        **extra,
    }
    created = hub.http.post("/addressees", json=body, headers=headers)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def proposals(hub: HubClient, status: str = "proposed") -> list[dict[str, Any]]:
    found = hub.http.get("/addressees/merge-proposals", params={"status": status}, headers=hub.admin())
    assert found.status_code == 200, found.text
    result: list[dict[str, Any]] = found.json()
    return result


def test_a_number_is_issued_only_with_the_my_number(hub: HubClient, database_url: str) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    known_by_basic_info = register(hub, jidou, atena_number(3001))
    assert known_by_basic_info["integrated_number"] is None
    assert known_by_basic_info["person_id"].startswith("P")
    with_number = register(hub, jidou, atena_number(3002), name="鈴木　二郎", my_number=NUMBER)
    assert with_number["integrated_number"] == with_number["person_id"]
    assert with_number["integrated_number_basis"] == "issued" and with_number["has_my_number"]
    stored = rows(database_url, "SELECT integrated_number, my_number_hash FROM persons ORDER BY id")
    assert [(r.integrated_number is None, r.my_number_hash is None) for r in stored] == [
        (True, True),
        (False, False),
    ]
    # The person id names the person in every path and record, as a number would.
    read = hub.http.get(
        f"/addressees/{known_by_basic_info['person_id']}", params={"purpose": "JDT-001"}, headers=jidou
    )
    assert read.status_code == 200 and read.json()["current"]["name"] == OUTSIDER["name"]
    (entry,) = rows(
        database_url,
        "SELECT subject_integrated_number FROM transfer_records WHERE interface_id = 'ATENA_READ'",
    )
    assert entry.subject_integrated_number == known_by_basic_info["person_id"]


def test_a_resident_change_without_the_my_number_numbers_nobody_until_it_comes(hub: HubClient) -> None:
    juki = hub.unit_headers(hub.register("001"))
    assert hub.send(ido_notification(jiyu="01", changes={"TennyumaeJusho": "国外"}), juki).status_code == 200
    (found,) = hub.http.post(
        "/addressees/search", json={"name": "山田太郎", "birth_date": "1985-04-01"}, headers=hub.admin()
    ).json()
    assert found["integrated_number"] is None and not found["has_my_number"]
    assert hub.send(ido_notification(jiyu="03", my_number=NUMBER), juki).status_code == 200
    person = hub.http.get(f"/addressees/{found['person_id']}", headers=hub.admin()).json()
    assert person["integrated_number"] is not None and person["integrated_number_basis"] == "issued"
    assert person["person_id"] == person["integrated_number"]


def test_a_numbering_request_issues_the_number_and_the_history_keeps_both_names(
    hub: HubClient, database_url: str
) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    person_id = register(hub, jidou, atena_number(3003))["person_id"]
    numbered = hub.http.post(
        f"/addressees/{person_id}/my-number",
        json={"my_number": NUMBER, "reason": "申請書に個人番号の記載", "purpose_code": "JDT-001"},
        headers=jidou,
    )
    assert numbered.status_code == 200, numbered.text
    assert NUMBER not in numbered.text
    view = numbered.json()
    integrated = view["person"]["integrated_number"]
    assert not view["merge_proposed"] and integrated is not None and view["person"]["has_my_number"]
    # Asking again with the same 個人番号 changes nothing; the person id still names the person.
    again = hub.http.post(
        f"/addressees/{person_id}/my-number",
        json={"my_number": NUMBER, "reason": "再度", "purpose_code": "JDT-001"},
        headers=jidou,
    )
    assert again.status_code == 200 and again.json()["person"]["integrated_number"] == integrated
    # The やりとり履歴 by the number shows what was provided while the person had none.
    history = hub.http.get(f"/audit/persons/{integrated}", headers=hub.admin_auditor())
    assert history.status_code == 200, history.text
    assert len(history.json()["transfers"]) == 3  # registered (by the person id), numbered twice
    (entry,) = rows(database_url, "SELECT detail FROM operations WHERE action = 'registry.number' LIMIT 1")
    assert entry.detail == "numbered"


def test_a_numbering_request_needs_the_my_number_scope(hub: HubClient, database_url: str) -> None:
    without_numbers = hub.unit_headers(hub.register("011"), scope="011:addressees")
    person_id = register(hub, without_numbers, atena_number(3013))["person_id"]
    refused = hub.http.post(
        f"/addressees/{person_id}/my-number",
        json={"my_number": NUMBER, "reason": "申請", "purpose_code": "JDT-001"},
        headers=without_numbers,
    )
    assert refused.status_code == 403, refused.text
    assert rows(database_url, "SELECT integrated_number FROM persons")[0].integrated_number is None


def test_a_non_resident_who_arrives_with_a_my_number_is_proposed_for_a_merge(
    hub: HubClient, database_url: str
) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    juki = hub.unit_headers(hub.register("001"))
    outsider = register(hub, jidou, atena_number(3004))["person_id"]
    arrival = {
        "Shimei": OUTSIDER["name"],
        "ShimeiKana": OUTSIDER["name_kana"],
        "SeinengappiDate": OUTSIDER["birth_date"],
        "TennyumaeJusho": OUTSIDER["address"],
    }
    moved_in = ido_notification(jiyu="01", my_number=NUMBER, changes=arrival)
    assert hub.send(moved_in, juki).status_code == 200
    (resident,) = hub.http.post("/addressees/search", json={"my_number": NUMBER}, headers=hub.admin()).json()
    assert resident["person_id"] != outsider  # two records, not silently one …
    (proposal,) = proposals(hub)  # … and not a silent duplicate either
    assert (proposal["person_id"], proposal["into_person_id"]) == (outsider, resident["person_id"])
    assert proposal["basis"] == ["name", "birth_date", "sex", "name_kana"]
    assert rows(database_url, "SELECT id FROM person_merges") == []
    # Nothing is proposed twice: the next 住民異動 of the resident leaves the one proposal.
    assert hub.send(ido_notification(jiyu="03", my_number=NUMBER, changes=arrival), juki).status_code == 200
    assert len(proposals(hub, "all")) == 1

    missing = hub.http.post(
        f"/addressees/merge-proposals/{proposal['id']}/accept", json={}, headers=hub.admin()
    )
    assert missing.status_code == 400
    by_unit = hub.http.post(
        f"/addressees/merge-proposals/{proposal['id']}/accept", json={"reason": "x"}, headers=jidou
    )
    assert by_unit.status_code == 403
    accepted = hub.http.post(
        f"/addressees/merge-proposals/{proposal['id']}/accept",
        json={"reason": "住登外者の転入と確認"},
        headers=hub.admin(),
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["merge_id"] is not None
    assert proposals(hub) == []
    # 011's own number now reaches the resident: the merge joined the records, renumbering neither.
    person = hub.http.get(f"/addressees/{outsider}", params={"purpose": "JDT-001"}, headers=jidou).json()
    assert person["merges"][0]["into_integrated_number"] == resident["person_id"]
    decided = hub.http.post(
        f"/addressees/merge-proposals/{proposal['id']}/reject", json={"reason": "x"}, headers=hub.admin()
    )
    assert decided.status_code == 404  # decided already
    actions = [r.action for r in rows(database_url, "SELECT action FROM operations ORDER BY id")]
    assert "registry.propose_merge" in actions and "registry.accept_merge" in actions
    assert actions.index("registry.propose_merge") < actions.index("registry.accept_merge")


def test_a_rejected_proposal_is_not_made_again(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    outsider = register(hub, jidou, atena_number(3005))["person_id"]
    numbered = register(hub, jidou, atena_number(3006), my_number=NUMBER)  # the same 基本4情報
    (proposal,) = proposals(hub)
    assert proposal["into_person_id"] == numbered["person_id"] and proposal["person_id"] == outsider
    rejected = hub.http.post(
        f"/addressees/merge-proposals/{proposal['id']}/reject",
        json={"reason": "同姓同名・同生年月日の別人"},
        headers=hub.admin(),
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    numbering = hub.http.post(
        f"/addressees/{numbered['person_id']}/my-number",
        json={"my_number": NUMBER, "reason": "再確認", "purpose_code": "JDT-001"},
        headers=jidou,
    )
    assert numbering.status_code == 200
    assert proposals(hub) == [] and len(proposals(hub, "rejected")) == 1


def test_a_numbering_request_with_another_records_my_number_proposes_a_merge(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    holder = register(hub, jidou, atena_number(3007), name="田中　三郎", my_number=NUMBER)
    outsider = register(hub, jidou, atena_number(3008))["person_id"]
    asked = hub.http.post(
        f"/addressees/{outsider}/my-number",
        json={"my_number": NUMBER, "reason": "申請書に個人番号の記載", "purpose_code": "JDT-001"},
        headers=jidou,
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["merge_proposed"] and asked.json()["person"]["integrated_number"] is None
    assert holder["person_id"] not in asked.text  # the unit is not told whose number it is
    (proposal,) = proposals(hub)
    assert proposal["basis"] == ["my_number"] and proposal["into_person_id"] == holder["person_id"]
    wrong = hub.http.post(
        f"/addressees/{holder['person_id']}/my-number",
        json={"my_number": OTHER_NUMBER, "reason": "誤記", "purpose_code": "JDT-001"},
        headers=jidou,
    )
    assert wrong.status_code == 400  # a person's 個人番号 is not replaced by a 付番依頼


# --- import ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key_file = tmp_path / "keys.json"  # the hub's, when a test has a hub too
    if not key_file.exists():
        generate_key_file(key_file)
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(key_file))
    return tmp_path


def _row(n: int, my_number: str = "", integrated: str = "") -> list[str]:
    row = {
        "atena_number": atena_number(n),
        "my_number": my_number,
        "name": f"山田　太郎{n}",
        "name_kana": "ヤマダ　タロウ",
        "birth_date": "1985-04-01",
        "sex": "1",
        "address": "東京都千代田区千代田一丁目１番１号",
        "municipality_code": "131016",
        "status": "resident",
        "valid_from": "2020-01-01",
        "integrated_number": integrated,
    }
    return [row[column] for column in COLUMNS]


def test_import_keeps_migrated_numbers_and_refuses_bad_ones_per_row(cli_env: Path, database_url: str) -> None:
    # The former system's numbers: one the hub's own counter would issue first, one with no check digit.
    first_issued, unchecked = atena_number(1), "123456789012340"
    path = cli_env / "migrated.csv"
    lines = [
        _row(1, valid_my_number("10000000001"), first_issued),
        _row(2, valid_my_number("10000000002"), unchecked),
        _row(3, valid_my_number("10000000003"), "12345"),  # malformed
        _row(4, valid_my_number("10000000004"), unchecked),  # repeats row 2's number
        _row(5, "", "999999999999999"),  # a number without a 個人番号
        _row(6, valid_my_number("10000000006")),  # none given: one is issued
        _row(7),  # neither: known by the person id
    ]
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([list(COLUMNS), *lines])
    report = cli_env / "report.csv"
    result = CliRunner().invoke(
        app, ["addressees", "import", str(path), "--unit", "001", "--errors", str(report)]
    )
    assert result.exit_code == 1, result.output
    with report.open(encoding="utf-8-sig") as errors:
        problems = {int(e["row"]): e["error"] for e in csv.DictReader(errors)}
    assert set(problems) == {4, 5, 6}
    assert "15 digits" in problems[4] and "repeats" in problems[5] and "個人番号" in problems[6]
    stored = rows(
        database_url,
        "SELECT p.integrated_number, p.integrated_number_basis FROM persons p "
        "JOIN atena_links l ON l.person_id = p.id ORDER BY l.atena_number",
    )
    numbers = [(r.integrated_number, r.integrated_number_basis) for r in stored]
    assert numbers[:2] == [(first_issued, "imported"), (unchecked, "imported")]
    issued, none = numbers[2], numbers[3]
    assert issued[1] == "issued" and issued[0] not in (first_issued, unchecked)  # the counter steps over
    assert none == (None, None)
    # Imported again into another unit: a number held by another person is that row's error.
    again = cli_env / "again.csv"
    with again.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(
            [
                list(COLUMNS),
                _row(11, valid_my_number("10000000011"), first_issued),  # another person's number
                _row(12, valid_my_number("10000000001"), "555555555555555"),  # row 1 holds another
                _row(13, valid_my_number("10000000002"), unchecked),  # row 2's person: linked
            ]
        )
    second = CliRunner().invoke(
        app, ["addressees", "import", str(again), "--unit", "002", "--errors", str(report)]
    )
    assert second.exit_code == 1, (second.output, second.exception)
    with report.open(encoding="utf-8-sig") as errors:
        problems = {int(e["row"]): e["error"] for e in csv.DictReader(errors)}
    assert set(problems) == {2, 3}, second.output
    assert "held by another person" in problems[2] and "holds another" in problems[3]
    assert "1 linked" in second.output


def test_the_cli_lists_accepts_and_rejects_proposals(hub: HubClient, cli_env: Path) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    register(hub, jidou, atena_number(3009))
    register(hub, jidou, atena_number(3010), my_number=NUMBER)
    register(hub, jidou, atena_number(3011), name="佐藤　花子", sex="2")
    register(hub, jidou, atena_number(3012), name="佐藤　花子", sex="2", my_number=OTHER_NUMBER)
    first, second = proposals(hub)
    runner = CliRunner()
    listed = runner.invoke(app, ["addressees", "proposals", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [p["id"] for p in json.loads(listed.output)] == [first["id"], second["id"]]
    accepted = runner.invoke(app, ["addressees", "accept-merge", str(first["id"]), "--reason", "同一人"])
    assert accepted.exit_code == 0 and "accepted" in accepted.output, accepted.output
    rejected = runner.invoke(app, ["addressees", "reject-merge", str(second["id"]), "--reason", "別人"])
    assert rejected.exit_code == 0 and "rejected" in rejected.output, rejected.output
    again = runner.invoke(app, ["addressees", "reject-merge", str(second["id"]), "--reason", "別人"])
    assert again.exit_code != 0
    assert proposals(hub) == [] and {p["status"] for p in proposals(hub, "all")} == {"accepted", "rejected"}


def test_numbers_issued_before_0018_are_kept_and_marked(tmp_path: Path) -> None:
    """Migration 0018: a number once issued is never taken back — with a 個人番号 it was issued as the
    DA says, without one it is kept as ``migrated`` (records name the person by it)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0015")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for person_id, digest in ((1, "a" * 64), (2, None)):
            connection.execute(
                sa.text(
                    "INSERT INTO persons (id, integrated_number, my_number_hash, restricted_attributes,"
                    " created_at) VALUES (:id, :number, :digest, '[]', '2026-01-01 00:00:00')"
                ),
                {"id": person_id, "number": atena_number(person_id), "digest": digest},
            )
    upgrade(url)
    with engine.connect() as connection:
        found = connection.execute(
            sa.text("SELECT integrated_number, integrated_number_basis FROM persons ORDER BY id")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in found] == [(atena_number(1), "issued"), (atena_number(2), "migrated")]
