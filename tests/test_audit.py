"""The transfer record: append-only on both databases, chained and signed, verified, and read by auditors."""

from __future__ import annotations

import asyncio
import codecs
import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from platform_hub.audit import chain, verification
from platform_hub.cli import app
from platform_hub.kit.database import run_once
from platform_hub.kit.settings import Settings
from platform_hub.models import TransferRecord
from tests.helpers import (
    YAMADA,
    HubClient,
    count_rows,
    drop_triggers,
    execute,
    hub_process,
    rows,
    serve_in_thread,
    wait_until,
    zei_query,
)
from tests.units import TestUnit, zei_answer


@pytest.fixture
def exchanged(hub: HubClient) -> Iterator[str]:
    """Three answered queries about 山田太郎 (011 → 002); yields his integrated number once all are sealed."""
    zeimu = TestUnit(answer=zei_answer)
    with serve_in_thread(zeimu.app()) as url:
        hub.register("002", url)
        jidou = hub.unit_headers(hub.register("011"))
        integrated = hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        for year in ("2024", "2025", "2026"):
            assert hub.send(zei_query(year=year), jidou).status_code == 200
    wait_until(lambda: verified(hub)["entries"] == 3)
    yield integrated


def verified(hub: HubClient) -> dict[str, object]:
    result: dict[str, object] = hub.http.get("/audit/verify", headers=hub.admin_auditor()).json()
    return result


def test_update_and_delete_are_refused_by_the_database(exchanged: str, database_url: str) -> None:
    for table in ("transfer_records", "transfer_chain", "audit_checkpoints"):
        for statement in (
            f"UPDATE {table} SET seq = seq"
            if table != "transfer_records"
            else "UPDATE transfer_records SET outcome = 'provided'",
            f"DELETE FROM {table}",
        ):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                execute(database_url, statement)
    assert count_rows(database_url, "transfer_records") == 3


def test_an_entry_altered_behind_the_databases_back_is_named(
    hub: HubClient, exchanged: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (victim,) = rows(database_url, "SELECT id FROM transfer_records ORDER BY id LIMIT 1 OFFSET 1")
    drop_triggers(database_url)
    execute(database_url, f"UPDATE transfer_records SET requesting_unit = '051' WHERE id = {victim.id}")
    result = verified(hub)
    assert result["ok"] is False
    assert f"entry {victim.id} " in result["problems"][0] and "altered" in result["problems"][0]  # type: ignore[index]
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    cli = CliRunner().invoke(app, ["audit", "verify"])
    assert cli.exit_code == 1 and f"entry {victim.id} " in cli.output


def test_a_missing_entry_is_named(hub: HubClient, exchanged: str, database_url: str) -> None:
    (victim,) = rows(database_url, "SELECT id FROM transfer_records ORDER BY id DESC LIMIT 1")
    drop_triggers(database_url)
    execute(database_url, f"DELETE FROM transfer_records WHERE id = {victim.id}")
    assert f"entry {victim.id} (chain link 3) is missing" in verified(hub)["problems"][0]  # type: ignore[index]


def test_checkpoints_kept_outside_catch_a_rewritten_chain(
    hub: HubClient,
    exchanged: str,
    database_url: str,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = hub.http.get("/audit/checkpoints", headers=hub.admin_auditor()).json()
    assert kept["checkpoints"] and kept["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "kept.json").write_text(json.dumps(kept), encoding="utf-8")
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("PLATFORM_HUB_SIGNING_KEY_FILE", str(settings.signing_key_file))
    assert (
        CliRunner().invoke(app, ["audit", "verify", "--checkpoint", str(tmp_path / "kept.json")]).exit_code
        == 0
    )
    # A careful intruder alters the entries, recomputes their digests and the whole chain, and drops
    # the checkpoints the hub holds (the hub may even sign the forged head next)…
    drop_triggers(database_url)
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:  # one transaction: the hub's sealer sees all of it or none
        connection.execute(sa.text("UPDATE transfer_records SET purpose_code = 'KOH-001'"))
        connection.execute(sa.text("DELETE FROM audit_checkpoints"))
        entries = {e.id: e for e in connection.execute(sa.text("SELECT * FROM transfer_records"))}
        previous = chain.GENESIS
        for link in connection.execute(
            sa.text("SELECT seq, entry_id FROM transfer_chain ORDER BY seq")
        ).all():
            digest = chain.entry_digest(_Entry(entries[link.entry_id]))
            previous = chain.chain_hash(previous, link.entry_id, digest)
            connection.execute(
                sa.text("UPDATE transfer_records SET entry_digest = :d WHERE id = :i"),
                {"d": digest, "i": link.entry_id},
            )
            connection.execute(
                sa.text("UPDATE transfer_chain SET entry_digest = :d, chain_hash = :h WHERE seq = :s"),
                {"d": digest, "h": previous, "s": link.seq},
            )
    engine.dispose()
    # …but the checkpoints the auditor kept outside still name the forgery.
    outside = CliRunner().invoke(app, ["audit", "verify", "--checkpoint", str(tmp_path / "kept.json")])
    assert (
        outside.exit_code == 1
        and "(kept outside)" in outside.output
        and "no longer matches" in outside.output
    )


class _Entry:
    """A raw row seen through the ORM's types (what the intruder's script would do by hand)."""

    def __init__(self, row: sa.Row[object]) -> None:
        from platform_hub.models.base import UTCDateTime

        for name in chain.CONTENT_FIELDS:
            value = getattr(row, name)
            if name.endswith("_at") and value is not None:
                value = UTCDateTime().process_result_value(
                    value
                    if not isinstance(value, str)
                    else __import__("datetime").datetime.fromisoformat(value),
                    None,  # type: ignore[arg-type]
                )
            if name == "item_names" and isinstance(value, str):
                value = json.loads(value)
            setattr(self, name, value)


def test_auditors_read_the_record_and_their_reading_is_recorded(
    hub: HubClient, exchanged: str, database_url: str
) -> None:
    auditor = hub.staff("auditor")
    page = hub.http.get(
        "/audit/transfers", params={"limit": 2, "unit": "011", "atena_number": YAMADA["011"]}, headers=auditor
    ).json()
    assert [e["outcome"] for e in page["items"]] == ["provided", "provided"] and page["next_cursor"]
    rest = hub.http.get(
        "/audit/transfers",
        params={"limit": 2, "cursor": page["next_cursor"], "integrated_number": exchanged},
        headers=auditor,
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert rest["items"][0]["id"] < page["items"][-1]["id"]
    for forged in ({"cursor": "latest"}, {"cursor": "99999999999999999999999-1"}, {"from": "0001-01-01"}):
        answer = hub.http.get("/audit/transfers", params=forged, headers=auditor)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002"
    none = hub.http.get("/audit/transfers", params={"outcome": "refused"}, headers=auditor).json()
    assert none["items"] == []
    disclosure = hub.http.get(f"/audit/persons/{exchanged}", headers=auditor).json()
    item = disclosure["transfers"][0]
    assert (
        item["received_by_unit"],
        item["purpose_name"],
        item["article"],
        item["information_category"],
    ) == ("011", "児童手当の支給に関する事務", "別表第2 第6項", "地方税関係情報")
    logged = rows(database_url, "SELECT action, subject_integrated_number FROM operations ORDER BY id")
    assert ("audit.person", exchanged) in [tuple(r) for r in logged]
    assert {"audit.transfers", "audit.person"} <= {r.action for r in logged}


def test_csv_export_opens_in_excel(hub: HubClient, exchanged: str) -> None:
    response = hub.http.get("/audit/transfers.csv", headers=hub.staff("auditor"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["記録番号", "受付番号", "MSGID"] and len(table) == 4
    assert "総所得金額" in table[1][table[0].index("項目")]


def test_compliance_rechecks_against_the_rules_of_the_time(hub: HubClient, exchanged: str) -> None:
    auditor = hub.staff("auditor")
    report = hub.http.get(
        "/audit/compliance", params={"from": "2026-01-01", "to": "2030-12-31"}, headers=auditor
    ).json()
    assert report["checked"] == 3 and report["violations"] == []
    # 001 provides nothing 011 may not already get, but 011 asking 001 for 住民票関係情報 is allowed (U-02);
    # no registered unit may receive IF_JDT_0001's 児童手当関係情報: the demo's uncovered flow.
    assert any(u["interface_id"] == "IF_ZEI_0001" for u in report["uncovered"]) is False
    hub.register("001")  # now IF_JDT_0001 has a registered receiver, and no rule lets it receive
    later = hub.http.get(
        "/audit/compliance", params={"from": "2026-01-01", "to": "2030-12-31"}, headers=auditor
    ).json()
    assert [(u["interface_id"], u["unit_code"]) for u in later["uncovered"]] == [("IF_JDT_0001", "001")]
    bad = hub.http.get(
        "/audit/compliance", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=auditor
    )
    assert bad.json()["error"]["code"] == "E1002"


def test_units_cannot_read_the_record(hub: HubClient, exchanged: str) -> None:
    unit = hub.unit_headers(hub.register("051"))
    for path in ("/audit/transfers", "/audit/verify", f"/audit/persons/{exchanged}", "/audit/checkpoints"):
        response = hub.http.get(path, headers=unit)
        assert response.status_code == 403 and response.json()["error"]["code"] == "E2002"


def test_two_hubs_write_concurrently_and_the_chain_verifies(
    hub: HubClient, settings: Settings, database_url: str
) -> None:
    """A second hub process on the same database: both record and seal; one chain, no gaps, no doubles."""
    zeimu = TestUnit(answer=zei_answer)
    with serve_in_thread(zeimu.app()) as unit_url, hub_process(settings) as second:
        hub.register("002", unit_url)
        credentials = hub.register("011")
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        headers = {**hub.unit_headers(credentials), "Content-Type": "text/xml"}

        def send(n: int) -> int:
            url = str(hub.http.base_url) if n % 2 else second.url
            return httpx.post(
                f"{url}/linkage/messages", content=zei_query(msgid=f"m{n}"), headers=headers, timeout=30
            ).status_code

        # One message each first: FastAPI completes a route on its first request, and its warnings
        # (errors under pytest) must not race eight threads.
        assert [send(n) for n in (0, 1)] == [200, 200]
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(send, range(2, 40))) == {200}
        wait_until(lambda: verified(hub)["entries"] == 40, timeout=20)
    result = verified(hub)
    assert result["ok"] is True, result["problems"]
    assert count_rows(database_url, "transfer_chain") == count_rows(database_url, "transfer_records") == 40


def verify_in_stretches(database_url: str) -> verification.Verification:
    """Verification with the chain cut into one stretch per core, each read in its own process."""
    url = Settings(database_url=database_url).async_database_url
    return asyncio.run(run_once(url, lambda s: verification.verify(s, None, parallel_from=1)))


def test_an_empty_record_verifies(hub: HubClient) -> None:
    result = verified(hub)
    assert (result["ok"], result["entries"], result["checkpoints"], result["problems"]) == (True, 0, 0, [])


def test_verification_in_parallel_stretches_names_what_a_single_pass_would(
    exchanged: str, database_url: str
) -> None:
    assert verify_in_stretches(database_url).entries == 3
    drop_triggers(database_url)
    execute(
        database_url,
        "UPDATE transfer_records SET outcome = 'refused' WHERE id = (SELECT MAX(id) FROM transfer_records)",
    )
    (last,) = rows(database_url, "SELECT entry_id FROM transfer_chain WHERE seq = 3")
    assert f"entry {last.entry_id} " in verify_in_stretches(database_url).problems[0]
    execute(database_url, "DELETE FROM transfer_chain WHERE seq = 2")  # the link the last stretch starts from
    assert verify_in_stretches(database_url).problems[0] == "chain link 2 is missing"


@given(
    st.lists(
        st.one_of(st.none(), st.text(), st.lists(st.text(), max_size=3)),
        min_size=len(chain.CANONICAL_ORDER),
        max_size=len(chain.CANONICAL_ORDER),
    )
)
def test_the_fast_canonical_form_is_json_dumps_with_sorted_keys(values: list[object]) -> None:
    content = dict(zip(chain.CANONICAL_ORDER, values, strict=True))
    for later in chain.LATER_FIELDS:  # content added later is left out while null
        if content[later] is None:
            del content[later]
    expected = json.dumps(content, ensure_ascii=False, sort_keys=True).encode()
    assert chain.content_digest(values) == hashlib.sha256(expected).hexdigest()  # type: ignore[arg-type]


def test_compliance_names_each_transfer_no_rule_covered(
    hub: HubClient, exchanged: str, database_url: str
) -> None:
    """Entries written behind the hub's back (inserting is all the record allows) for a flow the
    ordinance never covered, and for a day before any version was in force."""
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        table = TransferRecord.__table__
        template = dict(connection.execute(sa.select(table).order_by(table.c.id).limit(1)).mappings().one())
        del template["id"]
        uncovered = template | {
            "interface_id": "IF_JDT_0001",
            "requesting_unit": "001",
            "providing_unit": "011",
            "information_category": "児童手当関係情報",
            "purpose_code": "JUK-001",
        }
        early = template | {"requested_at": dt.datetime(2026, 1, 5, tzinfo=dt.UTC), "msgid": "early"}
        connection.execute(sa.insert(TransferRecord), [uncovered, early])
    engine.dispose()
    report = hub.http.get(
        "/audit/compliance", params={"from": "2026-01-01", "to": "2030-12-31"}, headers=hub.staff("auditor")
    ).json()
    assert report["checked"] == 5
    reasons = [v["reason"] for v in report["violations"]]
    assert "no rule (use, 番号法 第9条第2項)" in reasons[0] and "児童手当関係情報" in reasons[0]
    assert reasons[1] == "no ordinance version is in force on 2026-01-05"


def test_item_names_turned_into_values_are_named(hub: HubClient, exchanged: str, database_url: str) -> None:
    """An intruder replaces an entry's item names by names with values: same names, so a careless
    check would pass; and JSON that is not JSON at all."""
    first, second = rows(database_url, "SELECT id, item_names FROM transfer_records ORDER BY id LIMIT 2")
    names = first.item_names if isinstance(first.item_names, list) else json.loads(first.item_names)
    with_values = json.dumps(dict.fromkeys(names, "4200000"), ensure_ascii=False)
    drop_triggers(database_url)
    execute(database_url, f"UPDATE transfer_records SET item_names = '{with_values}' WHERE id = {first.id}")
    assert f"entry {first.id} " in verified(hub)["problems"][0]  # type: ignore[index]
    if database_url.startswith("sqlite"):  # PostgreSQL's json type refuses what is not JSON
        execute(
            database_url,
            f"UPDATE transfer_records SET item_names = '{first.item_names}' WHERE id = {first.id}",
            f"UPDATE transfer_records SET item_names = '[broken' WHERE id = {second.id}",
        )
        assert f"entry {second.id} " in verified(hub)["problems"][0]  # type: ignore[index]


def test_an_entry_written_before_bindings_keeps_its_digest() -> None:
    """The digest of an entry without a binding is the one the hub computed before bindings existed:
    the canonical JSON of the fields of then, so a record kept for seven years still verifies."""
    before = tuple(name for name in chain.CANONICAL_ORDER if name not in chain.LATER_FIELDS)
    content: dict[str, object] = {name: f"value of {name}" for name in before}
    then = hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    values = [content.get(name) for name in chain.CANONICAL_ORDER]
    assert chain.content_digest(values) == then  # type: ignore[arg-type]
    with_binding = [
        ("rest" if name == "binding" else value)
        for name, value in zip(chain.CANONICAL_ORDER, values, strict=True)
    ]
    assert chain.content_digest(with_binding) != then  # type: ignore[arg-type]
