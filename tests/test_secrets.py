"""Secrets and data at rest: production refuses placeholder secrets; a development hub signs its tokens
with a random secret of its own, kept in a file; databases and key files are for their owner's eyes."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from platform_hub_sdk import Credentials
from platform_hub_sdk.store import UnitStore
from pydantic import ValidationError
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.database import create_database_file
from platform_hub.kit.settings import Settings
from platform_hub.web.app import create_app
from tests.helpers import ADMIN_ID, ADMIN_SECRET, HubClient, serve_in_thread

# What kit/settings.py published as the development signing secret: anyone could sign an admin token.
FORMER_PUBLIC_SECRET = "dev-only-token-secret-change-me-0000000000"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which SQLite would make its files 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLATFORM_HUB_TOKEN_SECRET", "change-me-local-trial-only-0123456789abcdef"),  # the compose file's
        ("PLATFORM_HUB_TOKEN_SECRET", "CHANGEME" + "0" * 40),
        ("PLATFORM_HUB_TOKEN_SECRET", "an-example-token-secret-for-the-docs-0123456789"),
        ("PLATFORM_HUB_TOKEN_SECRET", "Placeholder_Placeholder_Placeholder"),
        ("PLATFORM_HUB_TOKEN_SECRET", FORMER_PUBLIC_SECRET),
        ("PLATFORM_HUB_TOKEN_SECRET", secrets.token_hex(15)),  # 30 characters: too short
        ("PLATFORM_HUB_ADMIN_CLIENT_SECRET", "change-me-local-trial-only"),
        ("PLATFORM_HUB_ADMIN_CLIENT_SECRET", "Secret123Secret123"),
        ("PLATFORM_HUB_ADMIN_CLIENT_SECRET", "change_me_" + secrets.token_hex(8)),
        ("PLATFORM_HUB_ADMIN_CLIENT_SECRET", secrets.token_hex(7)),  # 14 characters: too short
    ],
)
def test_production_refuses_placeholder_and_short_secrets(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("PLATFORM_HUB_ENVIRONMENT", "production")
    monkeypatch.setenv("PLATFORM_HUB_TOKEN_SECRET", secrets.token_urlsafe(48))
    monkeypatch.setenv("PLATFORM_HUB_ADMIN_CLIENT_SECRET", secrets.token_urlsafe(24))
    Settings()  # real secrets are accepted
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable):
        Settings()


def test_production_refuses_to_start_without_a_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_HUB_ENVIRONMENT", "production")
    monkeypatch.delenv("PLATFORM_HUB_TOKEN_SECRET", raising=False)
    with pytest.raises(ValidationError, match="PLATFORM_HUB_TOKEN_SECRET"):
        Settings()


def test_a_development_hub_signs_with_a_secret_of_its_own_kept_across_restarts(
    settings: Settings, tmp_path: Path
) -> None:
    """Started without a token secret, a development hub refuses a token signed with the formerly
    public constant (an intruder's admin token that created a client), makes a random secret in a
    file of its own beside the key file (0600), and accepts its tokens again after a restart."""
    chosen = settings.model_dump(exclude={"token_secret", "environment"})
    development = Settings(**chosen, environment="development")
    now = int(time.time())
    claims = {"iss": "platform-hub", "sub": "intruder", "role": "admin", "scope": "admin"}
    forged = jwt.encode({**claims, "iat": now, "exp": now + 300}, FORMER_PUBLIC_SECRET, "HS256")
    with serve_in_thread(create_app(development)) as url, httpx.Client(base_url=url) as client:
        intruder = client.post(
            "/clients",
            json={"name": "backdoor", "role": "admin"},
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert intruder.status_code == 401 and intruder.json()["error"]["code"] == "E2001", intruder.text
        token = HubClient(client).token(ADMIN_ID, ADMIN_SECRET)
    kept = development.key_file.parent / "platform_hub.token-secret"
    assert mode(kept) == 0o600 and len(kept.read_text().strip()) >= 32
    with serve_in_thread(create_app(development)) as url:
        assert httpx.get(f"{url}/adapters", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    elsewhere = development.model_copy(update={"key_file": tmp_path / "elsewhere" / "keys.json"})
    with serve_in_thread(create_app(elsewhere)) as url:
        assert httpx.get(f"{url}/adapters", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_databases_and_key_files_are_readable_by_their_owner_only(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    """The hub's SQLite file (made by ``db upgrade``), its -wal and -shm files, a unit's SQLite file,
    and the key files after ``keys rotate``: 0600, though the umask would make them 0644."""
    database = tmp_path / "fresh" / "hub.db"
    database.parent.mkdir()
    url = f"sqlite:///{database}"
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", url)
    upgraded = CliRunner().invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    served = create_app(settings.model_copy(update={"database_url": url}))
    with serve_in_thread(served) as hub_url, httpx.Client(base_url=hub_url) as client:
        HubClient(client).register("011")  # a write: the -wal and -shm files are there while it serves
        for name in ("hub.db", "hub.db-wal", "hub.db-shm"):
            assert mode(database.parent / name) == 0o600, name
    store = UnitStore(tmp_path / "juki.db")  # a mock unit's file, with its hub credentials in it
    store.save_credentials("001", Credentials("unit001-0123", "its-own-secret"))
    for name in ("juki.db", "juki.db-wal", "juki.db-shm"):
        assert mode(tmp_path / name) == 0o600, name
    store.close()
    keys = tmp_path / "my-number-keys.json"
    for command in (["keys", "generate", str(keys)], ["keys", "rotate", str(keys)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
        assert mode(keys) == 0o600, command
    signing = CliRunner().invoke(app, ["keys", "signing", str(tmp_path / "signing.pem")])
    assert signing.exit_code == 0 and mode(tmp_path / "signing.pem") == 0o600


def test_making_sure_of_the_mode_never_drops_sqlites_locks(tmp_path: Path) -> None:
    """Closing any descriptor of a database file drops every POSIX lock the process holds on it: an
    existing file is never opened, or a writer in another process would barge in (a corrupt file)."""
    database = tmp_path / "locked.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("CREATE TABLE t (n INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    create_database_file(database)  # what every new connection of the hub does first
    intruder = subprocess.run(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0);"
         " c.execute('BEGIN EXCLUSIVE')", str(database)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    holder.execute("COMMIT")
    holder.close()
    assert intruder.returncode != 0 and "database is locked" in intruder.stderr, intruder.stderr
