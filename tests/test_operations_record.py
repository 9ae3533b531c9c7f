"""The operations record (操作ログ) and what keeps both records honest: entries authenticated when they
are written (a row inserted by SQL is named), checkpoints kept outside the hub (a cut-off tail is
named), a warning when signatures stop, and on PostgreSQL a serving role that cannot undo any of it."""

from __future__ import annotations

import asyncio
import codecs
import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from platform_hub.audit import chain, verification
from platform_hub.cli import app
from platform_hub.kit.database import run_once
from platform_hub.kit.migrations import grant_serving_role
from platform_hub.kit.settings import Settings
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import (
    ADMIN_ID,
    YAMADA,
    HubClient,
    drop_triggers,
    execute,
    rows,
    serve_in_thread,
    served_hub,
    wait_until,
    zei_query,
)
from tests.units import TestUnit, zei_answer


@pytest.fixture
def traffic(hub: HubClient) -> Iterator[dict[str, str]]:
    """Two answered queries of 011 to 002; yields 011's headers (with a clerk named)."""
    zeimu = TestUnit(answer=zei_answer)
    with serve_in_thread(zeimu.app()) as url:
        hub.register("002", url)
        jidou = {**hub.unit_headers(hub.register("011")), "X-Clerk": "u0123", "X-Department": "KODOMO-1"}
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        for year in ("2025", "2026"):
            assert hub.send(zei_query(year=year), jidou).status_code == 200
        yield jidou


def verified(hub: HubClient) -> dict[str, object]:
    result: dict[str, object] = hub.http.get("/audit/verify", headers=hub.admin_auditor()).json()
    return result


def test_who_did_what_is_recorded_and_auditors_read_it(
    hub: HubClient, traffic: dict[str, str], database_url: str
) -> None:
    refused = hub.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(ADMIN_ID, "wrong")
    )
    assert refused.status_code == 401
    integrated = hub.http.post(
        "/addressees/search",
        json={"name": "山田　太郎", "birth_date": "1985-04-01", "purpose_code": "JDT-001"},
        headers=traffic,
    ).json()[0]["person_id"]
    auditor = hub.staff("auditor")
    page = hub.http.get("/audit/operations", params={"action": "token"}, headers=auditor).json()
    actions = {(item["action"], item["outcome"]) for item in page["items"]}
    assert {("token.issue", "ok"), ("token.refuse", "refused")} <= actions
    (search,) = hub.http.get(
        "/audit/operations", params={"action": "registry.search"}, headers=auditor
    ).json()["items"]
    assert (search["unit_code"], search["clerk"], search["department"]) == ("011", "u0123", "KODOMO-1")
    assert "山田" not in json.dumps(search, ensure_ascii=False)  # what was asked, never the values
    # Every change of the configuration is there too, with who made it.
    changes = rows(database_url, "SELECT action, client_id FROM operations WHERE action LIKE 'unit.%'")
    assert [c.action for c in changes] == ["unit.register", "unit.register"] and {
        c.client_id for c in changes
    } == {ADMIN_ID}
    by_person = hub.http.get("/audit/operations", params={"integrated_number": integrated}, headers=auditor)
    assert by_person.status_code == 200
    for bad in ({"integrated_number": "123456789018"}, {"action": "DROP TABLE"}, {"outcome": "maybe"}):
        answer = hub.http.get("/audit/operations", params=bad, headers=auditor)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002"
    exported = hub.http.get("/audit/operations.csv", params={"action": "registry"}, headers=auditor)
    assert exported.content.startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["記録番号", "日時", "クライアント"] and len(table) >= 2
    # Reading the operations record is itself an operation.
    reads = rows(database_url, "SELECT action FROM operations WHERE action LIKE 'audit.operations%'")
    assert len(reads) >= 3
    # Only auditors read it.
    assert hub.http.get("/audit/operations", headers=traffic).status_code == 403


def test_the_operations_record_is_chained_and_verified(
    hub: HubClient, traffic: dict[str, str], database_url: str
) -> None:
    wait_until(lambda: int(str(verified(hub)["operations"])) > 3 and verified(hub)["operation_checkpoints"])
    result = verified(hub)
    assert result["ok"], result
    drop_triggers(database_url)
    execute(database_url, "UPDATE operations SET detail = 'nothing happened' WHERE action = 'token.issue'")
    problems = verified(hub)["problems"]
    assert any(
        "operations record" in p and "action token.issue" in p and "altered" in p
        for p in problems  # type: ignore[union-attr]
    ), problems


def test_an_entry_inserted_by_sql_with_a_correct_digest_is_named(
    hub: HubClient, traffic: dict[str, str], database_url: str
) -> None:
    """Found: a fabricated entry with a correct digest verified, and the hub's own sealer chained and
    signed it."""
    wait_until(lambda: verified(hub)["entries"] == 2)
    (real,) = rows(database_url, "SELECT * FROM transfer_records ORDER BY id LIMIT 1")
    forged = {name: getattr(real, name) for name in chain.CONTENT_FIELDS}
    forged |= {"reception_number": "20261201000000FORGED", "outcome": "provided", "purpose_code": "KOH-001"}

    class Entry:
        pass

    entry = Entry()
    for name, value in forged.items():
        if name.endswith("_at") and isinstance(value, str):
            value = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        elif name.endswith("_at") and value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if name == "item_names" and isinstance(value, str):
            value = json.loads(value)
        setattr(entry, name, value)
    digest = chain.entry_digest(entry)
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        columns = ", ".join([*forged, "entry_digest", "entry_mac"])
        values = ", ".join(f":{name}" for name in [*forged, "entry_digest", "entry_mac"])
        parameters = {
            **forged,
            "item_names": json.dumps(entry.item_names, ensure_ascii=False),  # type: ignore[attr-defined]
            "entry_digest": digest,
            "entry_mac": "0" * 64,
        }
        connection.execute(sa.text(f"INSERT INTO transfer_records ({columns}) VALUES ({values})"), parameters)
    engine.dispose()
    wait_until(lambda: verified(hub)["problems"] != [])
    problems = verified(hub)["problems"]
    assert any("20261201000000FORGED" in p and "no valid MAC" in p for p in problems), problems  # type: ignore[union-attr]


def test_a_cut_off_tail_is_named_by_the_checkpoints_kept_outside(
    settings: Settings, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found: deleting the newest entries after the last checkpoint the hub still holds verified."""
    often = settings.model_copy(update={"checkpoint_interval_seconds": 0.2})
    zeimu = TestUnit(answer=zei_answer)
    with (
        serve_in_thread(zeimu.app()) as zeimu_url,
        served_hub(often) as (url, hub),
    ):
        hub.register("002", zeimu_url)
        jidou = hub.unit_headers(hub.register("011"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        assert hub.send(zei_query(year="2025"), jidou).status_code == 200
        wait_until(lambda: verified(hub)["checkpoints"] == 1)
        assert hub.send(zei_query(year="2026"), jidou).status_code == 200
        wait_until(lambda: verified(hub)["checkpoints"] == 2)
        auditor = hub.http.post(
            "/clients", json={"name": "監査", "role": "auditor"}, headers=hub.admin()
        ).json()
        kept = tmp_path / "kept"
        pull = ["audit", "checkpoints", "pull", str(kept), "--hub", url]
        monkeypatch.setenv("PLATFORM_HUB_AUDITOR_CLIENT_ID", auditor["client_id"])
        monkeypatch.setenv("PLATFORM_HUB_AUDITOR_CLIENT_SECRET", auditor["client_secret"])
        pulled = CliRunner().invoke(app, pull)
        assert pulled.exit_code == 0, pulled.output
        assert len(list((kept / "transfers").glob("*.json"))) == 2 and (kept / "public-key.pem").exists()
        again = CliRunner().invoke(app, pull)  # kept once, never rewritten: no conflict
        assert again.exit_code == 0 and len(list((kept / "transfers").glob("*.json"))) == 2
        # An intruder removes the newest transfer with its link and the checkpoint that covered it.
        drop_triggers(database_url)
        execute(
            database_url,
            "DELETE FROM audit_checkpoints WHERE seq = (SELECT MAX(seq) FROM audit_checkpoints)",
            "DELETE FROM transfer_records WHERE id = (SELECT MAX(entry_id) FROM transfer_chain)",
            "DELETE FROM transfer_chain WHERE seq = (SELECT MAX(seq) FROM transfer_chain)",
        )
        # What the hub holds agrees with itself… (asked again while the sealer, every 0.2 s here, is
        # still signing the operations these calls record: a verification racing it can disagree once.)
        inside: dict[str, object] = {}
        wait_until(lambda: inside.update(verified(hub)) or bool(inside["ok"]), timeout=10)
        assert inside["ok"] and inside["entries"] == 1, inside
        monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
        monkeypatch.setenv("PLATFORM_HUB_SIGNING_KEY_FILE", str(settings.signing_key_file))
        monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(settings.key_file))
        outside = CliRunner().invoke(app, ["audit", "verify", "--checkpoint", str(kept)])
        assert outside.exit_code == 1 and "(kept outside)" in outside.output, outside.output  # …not with this


def test_verification_warns_when_signatures_stop(
    hub: HubClient, traffic: dict[str, str], database_url: str
) -> None:
    wait_until(lambda: verified(hub)["checkpoints"] == 1)
    drop_triggers(database_url)
    url = Settings(database_url=database_url).async_database_url
    for _ in range(20):  # the hub's sealer may sign a new checkpoint between the two: remove it again
        execute(database_url, "DELETE FROM audit_checkpoints")  # links remain, no signature covers them
        result = asyncio.run(
            run_once(url, lambda s: verification.verify(s, None, checkpoints_overdue=dt.timedelta(0)))
        )
        if result.checkpoints == 0:
            break
    assert result.ok and any("covered by no signature" in w for w in result.warnings), result.warnings


@pytest.mark.skipif(TEST_DATABASE_URL is None, reason="roles: PostgreSQL")
def test_the_serving_role_cannot_undo_the_record(settings: Settings, database_url: str) -> None:
    """Found: on PostgreSQL the hub's role owned the tables, so it could disable the triggers, and any
    session could write the purge permit that lets a deletion through."""
    role = f"ph_serving_{uuid.uuid4().hex[:8]}"
    execute(database_url, f"CREATE ROLE {role} LOGIN")
    serving_url = sa.make_url(database_url).set(username=role).render_as_string(hide_password=False)
    try:
        grant_serving_role(database_url, serving_url)
        serving = settings.model_copy(update={"database_url": serving_url})
        zeimu = TestUnit(answer=zei_answer)
        with (
            serve_in_thread(zeimu.app()) as zeimu_url,
            served_hub(serving) as (_, hub),  # the hub works as the serving role…
        ):
            hub.register("002", zeimu_url)
            jidou = hub.unit_headers(hub.register("011"))
            hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
            assert hub.send(zei_query(), jidou).status_code == 200
            wait_until(lambda: verified(hub)["entries"] == 1 and verified(hub)["ok"])
        engine = sa.create_engine(serving_url)  # …and cannot undo the record
        for statement in (
            "ALTER TABLE transfer_records DISABLE TRIGGER ALL",
            "INSERT INTO audit_purge_permits (id) VALUES (1)",
            "UPDATE transfer_records SET outcome = 'refused'",
            "DELETE FROM operations",
            "TRUNCATE transfer_chain",
            "DROP TABLE audit_checkpoints",
        ):
            with pytest.raises(sa.exc.ProgrammingError), engine.begin() as connection:
                connection.execute(sa.text(statement))
        engine.dispose()
    finally:
        execute(database_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_refusals_at_the_door_are_recorded_within_bounds(hub: HubClient, database_url: str) -> None:
    """Found in review: a refused token request wrote an entry each time, under any client id, with a
    scope of any length; a NUL in the form reached PostgreSQL (500); a call refused for its role left
    no trace."""
    form = {"grant_type": "client_credentials", "scope": "x" * 5000}
    long_scope = hub.http.post("/oauth/token", data=form, auth=("nobody", "x"))
    assert long_scope.status_code == 400 and long_scope.json()["error"]["code"] == "E1002"
    nul = hub.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("no\x00body", "x"))
    assert nul.status_code == 401 and nul.json()["error"]["code"] == "E2001"
    for n in range(30):  # more refusals than the record takes one by one in a second
        hub.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(f"guess-{n}", "x"))
    recorded = rows(database_url, "SELECT client_id FROM operations WHERE action = 'token.refuse'")
    assert 1 <= len(recorded) <= 20, len(recorded)
    auditor = hub.staff("auditor")
    assert hub.http.post("/clients", json={"name": "x", "role": "admin"}, headers=auditor).status_code == 403
    (refusal,) = rows(database_url, "SELECT role, detail FROM operations WHERE action = 'access.refuse'")
    assert refusal.role == "auditor" and "POST /clients" in refusal.detail
