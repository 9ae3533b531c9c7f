"""Run the Alembic migrations from code (CLI, ``serve``, tests), and give the serving role its rights.

On PostgreSQL the hub serves under a role of its own that owns nothing: migrations run as the
owner, then grant the serving role what the hub needs and nothing more — rows of the record it may
read and append, never change or remove; the triggers that keep the record append-only it cannot
disable (only a table's owner can), and it cannot write the purge permits that let a retention
removal through (``audit purge`` runs as the owner).

Replicas started together (``serve`` migrates before it listens) take turns on PostgreSQL: each
migrates under an advisory lock, and the later ones find the schema at head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, create_engine, func, make_url, select, text
from sqlalchemy.pool import NullPool

from platform_hub.kit.database import create_database_file_of

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # alembic.ini and migrations/ ship inside it

# Written once, never changed or removed by the serving role (the records, their chains and
# checkpoints): it may read and append them.
APPEND_ONLY = (
    "transfer_records",
    "transfer_chain",
    "audit_checkpoints",
    "operations",
    "operation_chain",
    "operation_checkpoints",
)
# What only the owner writes — a purge and its permit (``audit purge`` runs as the owner), the schema's
# revision: the serving role reads them only.
OWNER_ONLY = ("audit_purges", "audit_purge_permits", "alembic_version")
# The advisory lock the migrations are run under, in the database they change (advisory locks are
# per database): a number of the hub's own, "platform" in ASCII.
MIGRATION_LOCK = 0x706C6174666F726D


def alembic_config(sync_url: str) -> Config:
    config = Config(str(PACKAGE_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PACKAGE_ROOT / "migrations"))
    config.attributes["url"] = sync_url
    return config


def upgrade(sync_url: str, revision: str = "head", *, serving_url: str | None = None) -> None:
    """Migrate (as the owner, ``sync_url``), then grant the serving role its rights when it is
    another role (PostgreSQL)."""
    create_database_file_of(sync_url)  # a new SQLite file is the owner's only
    with migration_lock(sync_url):
        command.upgrade(alembic_config(sync_url), revision)
        if serving_url is not None:  # two GRANTs on one table at once fail: "tuple concurrently updated"
            grant_serving_role(sync_url, serving_url)


@contextmanager
def migration_lock(sync_url: str) -> Iterator[None]:
    """Held while this process migrates, on PostgreSQL; another process waits its turn. Without it,
    replicas starting on a new database each create its tables and all but one fail. A session lock,
    on a connection outside any transaction: it is let go if the process dies."""
    if make_url(sync_url).get_backend_name() != "postgresql":
        yield
        return
    engine = create_engine(sync_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK)))
            try:
                yield
            finally:
                connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK)))
    finally:
        engine.dispose()


def head_revisions() -> frozenset[str]:
    """The revisions this hub's code expects a database to be at."""
    return frozenset(_scripts().get_heads())


def known_revision(revision: str) -> bool:
    """Whether this hub's migrations know ``revision`` (a newer hub's would not)."""
    return revision in {script.revision for script in _scripts().walk_revisions()}


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def revisions_of(sync_url: str, *, connect_timeout: int = 10) -> frozenset[str] | None:
    """The revisions a database is at: empty when it was never migrated; None when it is a SQLite
    file that does not exist — left so: only the migrations create the hub's file. A database that
    cannot be reached raises SQLAlchemy's OperationalError, within ``connect_timeout`` seconds."""
    url = make_url(sync_url)
    if _missing_sqlite_file(url):
        return None
    engine = create_engine(url, connect_args=_connect_timeout(url, connect_timeout))
    try:
        with engine.connect() as connection:
            return frozenset(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def _missing_sqlite_file(url: URL) -> bool:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    return "uri" not in url.query and not Path(url.database).exists()


def _connect_timeout(url: URL, seconds: int) -> dict[str, int]:
    # Without one, psycopg waits as long as the system's TCP connect does (minutes, for a host that
    # drops packets); a timeout in the URL itself wins.
    if url.get_backend_name() != "postgresql" or "connect_timeout" in url.query:
        return {}
    return {"connect_timeout": seconds}


def serving_role(owner_url: str, serving_url: str) -> str | None:
    """The serving role's name, when it is not the owner (and the database has roles)."""
    owner, serving = make_url(owner_url), make_url(serving_url)
    if serving.get_backend_name() != "postgresql" or not serving.username:
        return None
    return serving.username if serving.username != owner.username else None


def grant_serving_role(owner_url: str, serving_url: str) -> None:
    role = serving_role(owner_url, serving_url)
    if role is None:
        return
    engine = create_engine(owner_url)
    try:
        with engine.begin() as connection:
            quoted = connection.dialect.identifier_preparer.quote(role)
            statements = [
                f"GRANT USAGE ON SCHEMA public TO {quoted}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
                f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(APPEND_ONLY)} FROM {quoted}",
                f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {', '.join(OWNER_ONLY)} FROM {quoted}",
            ]
            # The record's monthly partitions (PostgreSQL, 0010) are read and written through their
            # parents: the serving role gets nothing on them itself, and may ask for next month's.
            partitions = connection.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent IN (to_regclass('transfer_records'), to_regclass('transfer_chain'))"
                )
            ).scalars()
            statements += [f'REVOKE ALL ON "{name}" FROM {quoted}' for name in partitions]
            if connection.scalar(text("SELECT to_regprocedure('platform_hub_record_month(date, text)')")):
                statements.append(
                    f"GRANT EXECUTE ON FUNCTION platform_hub_record_month(date, text) TO {quoted}"
                )
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()
