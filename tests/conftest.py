"""Test fixtures: a freshly migrated database per test (SQLite or PostgreSQL), the hub, real units.

The real migrations run once per session into a template; each test gets its own copy (a file copy
on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so the hub, its dispatcher and any
subprocess can commit freely without tests seeing each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from platform_hub.kit.migrations import upgrade
from platform_hub.kit.settings import DEMO_ORDINANCE, Settings
from platform_hub.ordinance.service import load_file
from tests.console import Seeded, seed
from tests.helpers import ADMIN_ID, ADMIN_SECRET, CATALOG, YAMADA, HubClient, serve_in_thread, served_hub
from tests.units import TestUnit

TEST_DATABASE_URL = os.environ.get("PLATFORM_HUB_TEST_DATABASE_URL")
DEMO_ORDINANCE = DEMO_ORDINANCE


def pytest_report_header() -> str:
    return f"database: {'PostgreSQL ' + TEST_DATABASE_URL if TEST_DATABASE_URL else 'SQLite'}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked postgres_only are skipped on SQLite (they run in CI's PostgreSQL pass)."""
    if TEST_DATABASE_URL is not None:
        return
    skip = pytest.mark.skip(reason="postgres_only: set PLATFORM_HUB_TEST_DATABASE_URL to a PostgreSQL server")
    for item in items:
        if item.get_closest_marker("postgres_only"):
            item.add_marker(skip)


def _pg_admin_engine() -> sa.Engine:
    assert TEST_DATABASE_URL is not None
    return sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    assert TEST_DATABASE_URL is not None
    return sa.make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)


def _prepare(url: str) -> None:
    """Migrate, and load the demo city's ordinance (every test routes under it unless it loads its own)."""
    upgrade(url)
    settings = Settings(database_url=url)
    asyncio.run(load_file(settings.async_database_url, CATALOG, DEMO_ORDINANCE.read_bytes(), actor="tests"))


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to copy: a file path (SQLite) or a database name (PostgreSQL)."""
    if TEST_DATABASE_URL is None:
        path = tmp_path_factory.mktemp("template") / "template.db"
        _prepare(f"sqlite:///{path}")
        yield str(path)
        return
    name = f"ph_template_{os.getpid()}"
    admin = _pg_admin_engine()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    _prepare(_pg_url(name))
    yield name
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of this test's own."""
    if TEST_DATABASE_URL is None:
        path = tmp_path / "hub.db"
        shutil.copy(database_template, path)
        yield f"sqlite:///{path}"
        return
    name = f"ph_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{database_template}"'))
    yield _pg_url(name)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        key_file=tmp_path / "keys.json",
        signing_key_file=tmp_path / "signing-key.pem",
        seal_interval_seconds=0.05,
        admin_client_id=ADMIN_ID,
        admin_client_secret=ADMIN_SECRET,
        token_secret="test-token-secret-" + "x" * 32,
        query_timeout_seconds=2.0,
        delivery_timeout_seconds=5.0,  # a loaded CI machine must not turn one delivery into two
        delivery_poll_seconds=0.05,
        delivery_backoff_seconds=0.05,
        delivery_max_attempts=5,
    )


@pytest.fixture
def hub(settings: Settings) -> Iterator[HubClient]:
    """The hub served by uvicorn on a loopback port, with its dispatcher running."""
    with served_hub(settings) as (_, client):
        yield client


@pytest.fixture
def subscribers(hub: HubClient) -> Iterator[dict[str, TestUnit]]:
    """002, 011 and 051 subscribed to IF_JUK_0001, each a real unit on loopback."""
    units = {code: TestUnit() for code in ("002", "011", "051")}
    with ExitStack() as stack:
        for code, unit in units.items():
            hub.register(code, stack.enter_context(serve_in_thread(unit.app())))
        hub.enroll(YAMADA)
        yield units


@pytest.fixture
def seeded(hub: HubClient, database_url: str) -> Seeded:
    """The console's record to show: 山田太郎 with a 個人番号, a transfer provided and one refused, and
    a person named ``<script>…``."""
    return seed(hub, database_url)


@pytest.fixture
def browser_client(hub: HubClient) -> Iterator[httpx.Client]:
    """A client of the same hub with a cookie jar of its own, as one browser is."""
    with httpx.Client(base_url=str(hub.http.base_url), timeout=30) as http:
        yield http


ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artefacts"  # kept after the run, not in git


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Path:
    """A folder of the test's own for what a person looks at afterwards — the browser tests'
    screenshots and downloads — under ``test-artefacts/<database>/<test>/``, emptied as it starts."""
    database = "postgresql" if TEST_DATABASE_URL else "sqlite"
    folder = ARTEFACTS / database / re.sub(r"[^\w.-]", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder
