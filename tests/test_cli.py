"""The command line answers in one line: what an operator can put right (a database not there or not
migrated, one that cannot be reached, a bad setting, an unknown id or status) is one line on stderr
and an exit status that is not 0 — never a traceback, and never a database file made on the way."""

from __future__ import annotations

import asyncio
import csv
import getpass
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from platform_hub.addressees.importer import COLUMNS
from platform_hub.auth.service import authenticate_client
from platform_hub.cli import app
from platform_hub.kit.clock import city_today, utcnow
from platform_hub.kit.database import run_once
from platform_hub.kit.migrations import head_revisions, upgrade
from platform_hub.kit.settings import DEMO_ORDINANCE, Settings
from platform_hub.kit.vault import generate_key_file
from platform_hub.models import Delivery, Message, Unit
from platform_hub.protocol.errors import NotAuthenticated
from platform_hub.protocol.numbers import atena_number
from platform_hub.units import service as units
from platform_hub.units.schemas import AdapterRegistration
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import CATALOG, count_rows, rows

# Commands that work on the hub's database, each as an operator would type it.
DATABASE_COMMANDS = [
    ["deliveries", "list"],
    ["deliveries", "retry", "1"],
    ["clients", "create", "監査責任者"],
    ["addressees", "search", "--name", "山田太郎", "--birth-date", "1985-04-01"],
    ["ordinance", "load", str(DEMO_ORDINANCE)],
    ["audit", "verify"],
]


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An operator's folder: the default SQLite URL points into it, its key file is there."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("PLATFORM_HUB_") and name != "PLATFORM_HUB_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    generate_key_file(tmp_path / "platform_hub.keys.json")
    return tmp_path


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database that exists but was never migrated (SQLite: the file an older CLI left behind)."""
    if TEST_DATABASE_URL is None:
        (tmp_path / "empty.db").touch()
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"ph_empty_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def one_line_error(result: Result, exit_code: int = 1) -> str:
    """The error the command gave: one line on stderr, nothing on stdout, and its exit status."""
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stdout == "", result.output
    return lines[0]


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_no_database_in_the_folder_is_one_line_and_no_file(operator: Path, command: list[str]) -> None:
    line = one_line_error(invoke(*command))
    assert line == (
        "error: the database at sqlite:///platform_hub.db is not migrated; run: platform-hub db upgrade"
    )
    assert not (operator / "platform_hub.db").exists()


def test_a_database_never_migrated_is_named(
    operator: Path, empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", empty_database)
    line = one_line_error(invoke("deliveries", "list"))
    assert "is not migrated; run: platform-hub db upgrade" in line
    shown = sa.make_url(empty_database).render_as_string(hide_password=True)
    assert shown in line


def test_a_database_behind_the_hub_names_both_revisions(
    operator: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{operator / 'old.db'}"
    upgrade(url, "0008")
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", url)
    line = one_line_error(invoke("deliveries", "list"))
    (head,) = head_revisions()
    assert f"is at revision 0008, this platform-hub's is {head}; run: platform-hub db upgrade" in line


def test_the_installed_command_prints_no_traceback(operator: Path) -> None:
    """As an operator runs it: a process of its own, no test runner catching what it raises."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_HUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "platform_hub.cli", "deliveries", "list"],
        cwd=operator,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert done.stderr.splitlines() == [
        "error: the database at sqlite:///platform_hub.db is not migrated; run: platform-hub db upgrade"
    ]
    assert not (operator / "platform_hub.db").exists()


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_an_unreachable_database_is_one_line_without_its_password(
    operator: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/x")
    line = one_line_error(invoke(*command))
    assert line.startswith(
        "error: cannot reach the database at postgresql+psycopg://nobody:***@127.0.0.1:1/x"
    )
    assert "hunter2" not in line


def test_db_upgrade_of_an_unreachable_database_is_one_line(
    operator: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/x")
    line = one_line_error(invoke("db", "upgrade"))
    assert "cannot reach the database at postgresql+psycopg://nobody:***@127.0.0.1:1/x" in line


def test_db_upgrade_to_an_unknown_revision_is_one_line(operator: Path) -> None:
    line = one_line_error(invoke("db", "upgrade", "9999"))
    assert "9999" in line


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PLATFORM_HUB_RETENTION_YEARS", "abc", "PLATFORM_HUB_RETENTION_YEARS: "),
        ("PLATFORM_HUB_ENVIRONMENT", "staging", "PLATFORM_HUB_ENVIRONMENT: "),
        (
            "PLATFORM_HUB_TIME_ZONE",
            "Mars/Olympus",
            "PLATFORM_HUB_TIME_ZONE='Mars/Olympus' is not a time zone",
        ),
        # a rule across settings names the variable to set
        ("PLATFORM_HUB_ENVIRONMENT", "production", "PLATFORM_HUB_TOKEN_SECRET must be set"),
    ],
)
@pytest.mark.parametrize("command", [["deliveries", "list"], ["interfaces", "validate"]], ids=" ".join)
def test_a_bad_setting_names_its_environment_variable(
    operator: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    says: str,
    command: list[str],
) -> None:
    monkeypatch.setenv(variable, value)
    line = one_line_error(invoke(*command), exit_code=2)
    assert line.startswith("error: settings: ") and says in line, line
    assert not (operator / "platform_hub.db").exists()


def test_a_bug_keeps_its_traceback(operator: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what an operator can put right becomes one line; anything else is the hub's fault."""

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("platform_hub.protocol.catalog.load_catalog", broken)
    result = invoke("interfaces", "validate")
    assert isinstance(result.exception, RuntimeError)


@pytest.fixture
def hub_database(operator: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The operator's folder, working on a migrated database of this test's own."""
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    return database_url


def test_refusals_of_the_commands_themselves_are_one_line(hub_database: str, operator: Path) -> None:
    assert "unknown role 'unit'" in one_line_error(invoke("clients", "create", "x", "--role", "unit"), 2)
    assert "mock unit 'kokuho'" in one_line_error(invoke("mock-unit", "kokuho", "--port", "1"), 2)
    assert "exists; rotate it instead" in one_line_error(
        invoke("keys", "generate", str(operator / "platform_hub.keys.json"))
    )
    broken = operator / "broken.yaml"
    broken.write_text("version: 2027-04\ntitle: x\nenacted: 2027-01-01\n", encoding="utf-8")
    assert one_line_error(invoke("ordinance", "load", str(broken))).startswith("error: E1002: ")
    (operator / "platform_hub.keys.json").unlink()
    assert "PLATFORM_HUB_KEY_FILE" in one_line_error(invoke("clients", "create", "x"), 2)


# --- unknown ids and statuses ------------------------------------------------------------------


def seed_deliveries(database_url: str) -> dict[str, int]:
    """Units 001 and 002, and one 住民異動通知 from 001 to 002 per status a delivery can end in:
    the deliveries' ids by status."""
    engine = sa.create_engine(database_url)
    ids = {}
    with Session(engine) as session, session.begin():
        for code in ("001", "002"):
            session.add(
                Unit(code=code, name=f"unit {code}", organ="市長", base_url="http://127.0.0.1:9", purposes=[])
            )
        session.flush()
        for n, status in enumerate(("delivered", "refused", "dead", "pending"), start=1):
            message = Message(
                reception_number=f"20261201093000{n:06d}ABCDEF",
                source_unit="001",
                msgid=f"msg-{n}",
                interface_id="IF_JUK_0001",
                pattern="notification",
                mode="0",
                purpose_code="JUK-001",
                body_digest="0" * 64,
                request_xml=b"<lk:x/>",
                status="accepted",
            )
            session.add(message)
            session.flush()
            delivery = Delivery(
                message_id=message.id,
                subscriber_unit="002",
                status=status,
                attempts=1,
                next_attempt_at=utcnow(),
                delivered_at=utcnow() if status in {"delivered", "refused"} else None,
                last_error="HTTP 503 from unit 002" if status == "dead" else None,
            )
            session.add(delivery)
            session.flush()
            ids[status] = delivery.id
    engine.dispose()
    return ids


def test_an_unknown_status_is_one_line(hub_database: str) -> None:
    line = one_line_error(invoke("deliveries", "list", "--status", "bogus"), 2)
    assert "'--status'" in line and "'bogus'" in line and "'dead'" in line
    assert line.endswith("(see: platform-hub deliveries list --help)")


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["retry", "999"], "no delivery 999"),
        (["replay", "999"], "no delivery 999"),
        (["retry", "dead", "999"], "no delivery 999"),  # the dead one stays as it is
        (["retry", "--reception", "20261201093000999999ABCDEF"], "no message 20261201093000999999ABCDEF"),
        (["replay", "--unit", "999"], "no unit '999' is registered"),
        (["list", "--unit", "999"], "no unit '999' is registered"),
        (["retry", "delivered"], "is delivered, not dead"),
        (["replay", "pending"], "is pending, not delivered"),
        (["replay", "refused"], "is refused, not delivered"),  # the ordinance refused it: again it would
    ],
)
def test_an_unknown_delivery_message_or_unit_is_one_line_and_changes_nothing(
    hub_database: str, command: list[str], says: str
) -> None:
    ids = seed_deliveries(hub_database)
    named = [str(ids.get(word, word)) for word in command]
    line = one_line_error(invoke("deliveries", *named))
    assert line.startswith("error: E1003: ") and says in line, line
    assert count_rows(hub_database, "deliveries") == len(ids)
    assert count_rows(hub_database, "operations") == 0


def test_the_deliveries_named_are_queued_again(hub_database: str) -> None:
    ids = seed_deliveries(hub_database)
    retried = invoke("deliveries", "retry", str(ids["dead"]))
    assert retried.exit_code == 0, retried.output
    assert retried.stdout == "1 dead deliveries back in the queue\n"
    replayed = invoke("deliveries", "replay", str(ids["delivered"]))
    assert replayed.exit_code == 0 and replayed.stdout == "1 deliveries queued again\n", replayed.output
    assert count_rows(hub_database, "deliveries") == len(ids) + 2


# --- listings ----------------------------------------------------------------------------------

MY_NUMBER = "123456789018"
LISTINGS = [
    ["deliveries", "list"],
    ["addressees", "search", "--name", "山田　太郎", "--birth-date", "1985-04-01"],
    ["clients", "list"],
    ["units", "list"],
    ["ordinance", "list"],
    ["audit", "operations"],
]
TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T.*")
# As every API answer gives a time (docs/time.md): UTC, with its offset written Z.
WITH_OFFSET = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")


def seed_person(folder: Path) -> None:
    """山田 太郎, known to unit 001 with a My Number, imported as the My Number office does."""
    person = {
        "atena_number": atena_number(1),
        "my_number": MY_NUMBER,
        "name": "山田　太郎",
        "name_kana": "ヤマダ　タロウ",
        "birth_date": "1985-04-01",
        "sex": "1",
        "address": "東京都千代田区千代田一丁目１番１号",
        "municipality_code": "131016",
        "status": "resident",
        "valid_from": "2020-01-01",
    }
    with (folder / "juki.csv").open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([COLUMNS, [person.get(column, "") for column in COLUMNS]])
    imported = invoke("addressees", "import", str(folder / "juki.csv"), "--unit", "001")
    assert imported.exit_code == 0, imported.output


def values(record: object) -> list[object]:
    """Every value in a JSON record, nested ones too."""
    if isinstance(record, dict):
        return [v for value in record.values() for v in values(value)]
    if isinstance(record, list):
        return [v for value in record for v in values(value)]
    return [record]


def test_a_piped_table_cuts_no_value_short(hub_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_deliveries(hub_database)
    monkeypatch.setenv("COLUMNS", "40")  # a narrow terminal's width: rich gave it to pipes too
    listed = invoke("deliveries", "list")
    assert listed.exit_code == 0, listed.output
    for n in range(1, 5):
        assert f"20261201093000{n:06d}ABCDEF" in listed.stdout, listed.stdout
    assert "HTTP 503 from unit 002" in listed.stdout
    assert " JST" in listed.stdout  # the city's clock, its zone named


@pytest.mark.parametrize("command", LISTINGS, ids=" ".join)
def test_every_listing_gives_one_json_array(hub_database: str, operator: Path, command: list[str]) -> None:
    seed_deliveries(hub_database)
    seed_person(operator)
    assert invoke("clients", "create", "監査責任者").exit_code == 0
    listed = invoke(*command, "--json")
    assert listed.exit_code == 0, listed.output
    records = json.loads(listed.stdout)
    assert isinstance(records, list) and records and all(isinstance(r, dict) for r in records)
    times = [v for v in values(records) if isinstance(v, str) and TIME.fullmatch(v)]
    assert all(WITH_OFFSET.fullmatch(t) for t in times), times
    assert MY_NUMBER not in listed.stdout


# --- what the CLI adds --------------------------------------------------------------------------


def test_version_is_the_installed_packages() -> None:
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"platform-hub {importlib.metadata.version('platform-hub')}\n"


CLI_ACTOR = f"cli:{getpass.getuser()}"


def credentials(result: Result) -> dict[str, str]:
    """``client_id=…`` / ``client_secret=…`` lines, as clients create prints them."""
    assert result.exit_code == 0, result.output
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def authenticates(client_id: str, secret: str) -> bool:
    """Whether the hub's token endpoint would take these credentials."""

    async def check(session: AsyncSession) -> bool:
        try:
            await authenticate_client(session, Settings(), CATALOG, client_id, secret)
        except NotAuthenticated:
            return False
        return True

    return asyncio.run(run_once(Settings().async_database_url, check))


def actions(database_url: str) -> list[str]:
    return [row.action for row in rows(database_url, "SELECT action FROM operations ORDER BY id")]


def test_clients_list_disable_enable_and_rotate(hub_database: str) -> None:
    created = credentials(invoke("clients", "create", "監査責任者", "--role", "auditor"))
    client_id, first_secret = created["client_id"], created["client_secret"]
    listed = invoke("clients", "list")
    assert listed.exit_code == 0 and client_id in listed.stdout and "監査責任者" in listed.stdout
    (record,) = json.loads(invoke("clients", "list", "--json").stdout)
    assert record["client_id"] == client_id and record["role"] == "auditor" and record["enabled"] is True
    assert WITH_OFFSET.fullmatch(record["created_at"]) and not any("secret" in key for key in record)
    rotated = credentials(invoke("clients", "rotate", client_id))
    assert rotated["client_id"] == client_id and rotated["client_secret"] != first_secret
    assert authenticates(client_id, rotated["client_secret"])
    assert not authenticates(client_id, first_secret)  # the old secret works no more
    disabled = invoke("clients", "disable", client_id)
    assert disabled.exit_code == 0 and "disabled" in disabled.stdout, disabled.output
    assert not authenticates(client_id, rotated["client_secret"])
    (record,) = json.loads(invoke("clients", "list", "--json", "--role", "auditor").stdout)
    assert record["enabled"] is False
    assert invoke("clients", "enable", client_id).exit_code == 0
    assert authenticates(client_id, rotated["client_secret"])
    assert actions(hub_database) == ["client.create", "client.rotate", "client.disable", "client.enable"]
    recorded = " ".join(str(row) for row in rows(hub_database, "SELECT * FROM operations"))
    assert rotated["client_secret"] not in recorded and first_secret not in recorded


@pytest.mark.parametrize("command", ["disable", "enable", "rotate"])
def test_an_unknown_client_is_one_line(hub_database: str, command: str) -> None:
    line = one_line_error(invoke("clients", command, "nobody-0123"))
    assert line == "error: E1003: no client 'nobody-0123'"
    assert actions(hub_database) == []


def register_unit(code: str = "011") -> dict[str, str]:
    """Unit ``code`` registered as its adapter would be (POST /adapters): its client credentials."""
    body = AdapterRegistration.model_validate(
        {
            "unit_code": code,
            "name": "児童手当",
            "organ": "市長",
            "base_url": "http://127.0.0.1:9",
            "provides": ["IF_JDT_0001"],
            "subscribes": ["IF_JUK_0001"],
            "purposes": ["JDT-001"],
        }
    )

    async def register(session: AsyncSession) -> dict[str, str]:
        registered = await units.register(session, body, CATALOG)
        return {"client_id": registered.client_id, "client_secret": registered.client_secret}

    return asyncio.run(run_once(Settings().async_database_url, register))


def generation(database_url: str) -> int:
    (row,) = rows(database_url, "SELECT value FROM registry_counters WHERE name = 'configuration'")
    return int(row.value)


def test_units_list_and_update(hub_database: str) -> None:
    register_unit("011")
    (listed,) = json.loads(invoke("units", "list", "--json").stdout)
    assert listed["unit_code"] == "011" and listed["base_url"] == "http://127.0.0.1:9"
    assert WITH_OFFSET.fullmatch(listed["registered_at"]) and "client_secret" not in listed
    before = generation(hub_database)
    changes = ["--base-url", "http://10.0.0.5:8011/", "--name", "児童手当システム", "--mode", "test"]
    updated = invoke("units", "update", "011", *changes, "--soap-faults", "wsi")
    assert updated.exit_code == 0, updated.output
    (listed,) = json.loads(invoke("units", "list", "--json").stdout)
    assert (listed["base_url"], listed["name"], listed["mode"], listed["soap_faults"]) == (
        "http://10.0.0.5:8011",
        "児童手当システム",
        "test",
        "wsi",
    )
    assert listed["provides"] == ["IF_JDT_0001"] and listed["purposes"] == ["JDT-001"]  # as registered
    assert generation(hub_database) > before  # every hub process routes to the new address
    (recorded,) = rows(hub_database, "SELECT action, parameters FROM operations")
    assert recorded.action == "unit.update" and "http://10.0.0.5:8011" in recorded.parameters


@pytest.mark.parametrize(
    ("change", "exit_code", "says"),
    [
        (["--base-url", "ftp://10.0.0.5/"], 2, "--base-url: "),
        (["--mode", "staging"], 2, "--mode: "),
        (["--name", ""], 2, "--name: "),
        ([], 2, "nothing to change"),
    ],
)
def test_units_update_refuses_what_a_registration_would(
    hub_database: str, change: list[str], exit_code: int, says: str
) -> None:
    register_unit("011")
    line = one_line_error(invoke("units", "update", "011", *change), exit_code)
    assert says in line, line
    assert actions(hub_database) == []


@pytest.mark.parametrize("command", [["update", "999", "--name", "x"], ["rotate-secret", "999"]])
def test_an_unknown_unit_is_one_line(hub_database: str, command: list[str]) -> None:
    line = one_line_error(invoke("units", *command))
    assert line == "error: E1003: no unit '999' is registered"


def test_a_unit_that_lost_its_credentials_gets_new_ones(hub_database: str) -> None:
    first = register_unit("011")
    rotated = credentials(invoke("units", "rotate-secret", "011"))
    assert rotated["client_id"] == first["client_id"] and rotated["client_secret"] != first["client_secret"]
    assert rotated["unit_code"] == "011"
    assert authenticates(first["client_id"], rotated["client_secret"])
    assert not authenticates(first["client_id"], first["client_secret"])
    (recorded,) = rows(hub_database, "SELECT action, detail FROM operations")
    assert recorded.action == "unit.rotate_secret" and first["client_id"] in recorded.detail
    assert rotated["client_secret"] not in recorded.detail


def test_ordinance_list_names_each_version_and_the_one_in_force(hub_database: str, operator: Path) -> None:
    amendment = yaml.safe_load(DEMO_ORDINANCE.read_text(encoding="utf-8"))
    amendment.update(version="2099-04", enacted="2099-03-20", effective="2099-04-01")
    amendment["rules"] = amendment["rules"][:3]
    (operator / "2099-04.yaml").write_text(yaml.safe_dump(amendment, allow_unicode=True), encoding="utf-8")
    assert invoke("ordinance", "load", str(operator / "2099-04.yaml")).exit_code == 0
    versions = json.loads(invoke("ordinance", "list", "--json").stdout)
    summary = [(v["version"], v["effective"], v["rules"], v["in_force"], v["loaded_by"]) for v in versions]
    demo_rules = len(yaml.safe_load(DEMO_ORDINANCE.read_text(encoding="utf-8"))["rules"])
    assert summary == [
        ("2026-04", "2026-04-01", demo_rules, True, "tests"),
        ("2099-04", "2099-04-01", 3, False, CLI_ACTOR),
    ]
    assert all(WITH_OFFSET.fullmatch(v["loaded_at"]) for v in versions)
    table = invoke("ordinance", "list")
    assert table.exit_code == 0 and "2099-04" in table.stdout and "JST" in table.stdout, table.output


def test_audit_operations_reads_the_record_with_the_filters_of_the_http_api(hub_database: str) -> None:
    client_id = credentials(invoke("clients", "create", "監査責任者"))["client_id"]
    assert invoke("clients", "disable", client_id).exit_code == 0
    everything = json.loads(invoke("audit", "operations", "--json").stdout)
    assert [e["action"] for e in everything] == ["client.disable", "client.create"]  # newest first
    assert everything[0]["client_id"] == CLI_ACTOR and WITH_OFFSET.fullmatch(everything[0]["at"])
    today = city_today().isoformat()

    def found(*filters: str) -> list[str]:
        listed = invoke("audit", "operations", "--json", *filters)
        assert listed.exit_code == 0, listed.output
        return [e["action"] for e in json.loads(listed.stdout) if e["action"].startswith("client.")]

    assert found("--action", "client.create") == ["client.create"]
    assert found("--action", "client", "--client-id", CLI_ACTOR) == ["client.disable", "client.create"]
    assert found("--outcome", "refused") == []
    assert found("--from", today, "--to", today, "--limit", "1") == []  # the newest is the last reading
    assert found("--to", "2020-01-01") == []
    table = invoke("audit", "operations")
    assert table.exit_code == 0 and "client.create" in table.stdout and " JST" in table.stdout
    # each reading is in the record itself, as an auditor's over HTTP is
    readings = rows(
        hub_database, "SELECT parameters FROM operations WHERE action = 'audit.operations' ORDER BY id"
    )
    assert len(readings) == 7 and '"action": "client.create"' in readings[1].parameters


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--integrated-number", MY_NUMBER),  # a 個人番号 typed as the person: refused, not kept
        ("--unit", "11"),
        ("--action", "DROP TABLE"),
        ("--outcome", "maybe"),
        ("--from", "yesterday"),
        ("--to", "0001-01-01"),
        ("--limit", "0"),
    ],
)
def test_audit_operations_refuses_a_filter_the_http_api_would(
    hub_database: str, option: str, value: str
) -> None:
    line = one_line_error(invoke("audit", "operations", option, value), 2)
    assert option in line and MY_NUMBER not in line, line
    assert actions(hub_database) == []


def test_what_a_command_says_is_one_line_however_long(
    operator: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    rotated = invoke("keys", "rotate", str(operator / "platform_hub.keys.json"))
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout.splitlines()[-1] == (
        "not in the operations record: the database at sqlite:///platform_hub.db is not migrated; "
        "run: platform-hub db upgrade"
    )
