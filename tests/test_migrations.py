"""Migrations run once however many replicas start at once: on PostgreSQL each ``upgrade`` takes
its turn under an advisory lock, and the later ones find the schema at head."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from platform_hub.kit.migrations import MIGRATION_LOCK

pytestmark = pytest.mark.postgres_only
TEST_DATABASE_URL = os.environ.get("PLATFORM_HUB_TEST_DATABASE_URL", "")
# A replica's start, as `serve` migrates: everything imported first, then the upgrade as soon as the
# file named by argv[3] exists, so that the replicas' upgrades start together.
REPLICA = """
import sys, time
from pathlib import Path
from platform_hub.kit.migrations import upgrade
while not Path(sys.argv[3]).exists():
    time.sleep(0.005)
upgrade(sys.argv[1], serving_url=sys.argv[2])
"""


@pytest.fixture
def server() -> Iterator[sa.Engine]:
    engine = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def fresh(server: sa.Engine) -> Iterator[tuple[str, str]]:
    """A new, empty database, and a role to serve it as: the owner's URL and the serving role's."""
    name, role = f"ph_fresh_{uuid.uuid4().hex[:10]}", f"ph_serving_{uuid.uuid4().hex[:10]}"
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
    url = sa.make_url(TEST_DATABASE_URL).set(database=name)
    yield (
        url.render_as_string(hide_password=False),
        url.set(username=role).render_as_string(hide_password=False),
    )
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))


def _replicas(count: int, owner: str, serving: str, go: Path) -> list[subprocess.Popen[str]]:
    command = [sys.executable, "-c", REPLICA, owner, serving, str(go)]
    return [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(count)
    ]


def _finished(replicas: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    """Each replica's exit code and output, once it has ended."""
    outputs = [replica.communicate(timeout=120)[0] for replica in replicas]
    return [(replica.returncode, output) for replica, output in zip(replicas, outputs, strict=True)]


def _revision(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return []
            return list(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def test_replicas_migrating_a_new_database_at_once_all_succeed(
    fresh: tuple[str, str], tmp_path: Path
) -> None:
    owner, serving = fresh
    replicas = _replicas(3, owner, serving, tmp_path / "go")
    time.sleep(3)  # every replica imported and waiting
    (tmp_path / "go").touch()
    outcomes = _finished(replicas)
    assert [code for code, _ in outcomes] == [0, 0, 0], "\n".join(out[-2000:] for _, out in outcomes)
    assert len(_revision(owner)) == 1


def test_an_upgrade_waits_while_another_holds_the_lock(
    server: sa.Engine, fresh: tuple[str, str], tmp_path: Path
) -> None:
    owner, serving = fresh
    holder = sa.create_engine(owner, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    database = sa.make_url(owner).database
    with holder.connect() as connection:
        connection.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK)))
        (tmp_path / "go").touch()
        (replica,) = _replicas(1, owner, serving, tmp_path / "go")
        waiting = sa.text(
            "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database "
            "WHERE locktype = 'advisory' AND NOT granted AND d.datname = :database"
        )
        deadline = time.monotonic() + 60
        with server.connect() as observer:
            while not observer.execute(waiting, {"database": database}).scalar_one():
                assert replica.poll() is None, replica.communicate()[0]
                assert time.monotonic() < deadline, "the upgrade never asked for the lock"
                time.sleep(0.05)
        assert _revision(owner) == [] and replica.poll() is None  # it waits, having done nothing
        connection.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK)))
    holder.dispose()
    ((code, out),) = _finished([replica])
    assert code == 0, out
    assert len(_revision(owner)) == 1
