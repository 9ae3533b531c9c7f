"""Alembic environment: synchronous, URL from the hub's settings unless the caller passed a connection."""

from __future__ import annotations

import re
from typing import Any

from alembic import context
from sqlalchemy import create_engine

import platform_hub.models  # noqa: F401 - registers every table
from platform_hub.kit.settings import Settings
from platform_hub.models.base import Base, StrEnumType, UTCDateTime

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or Settings().sync_database_url
    engine = create_engine(url)
    with engine.connect() as connection:
        _run(connection)
        connection.commit()
    engine.dispose()


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Migrations name plain SQLAlchemy types, so they never depend on the app's code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, StrEnumType):  # a status: its column is a plain string
        return f"sa.String(length={obj.impl.length})"
    return False


# On PostgreSQL the transfer record and its chain are partitioned by month (0010): the partitions are
# the database's, made by the hub ahead of time, never the models'.
PARTITION = re.compile(r"^(transfer_records|transfer_chain)_(\d{4}_\d{2}|default)$")
# A unique key of a partitioned table holds its partition key: there the chain's entry key is
# (entry_id, requested_at) — still one link per entry, an entry's requested_at never changing.
PARTITIONED_KEYS = frozenset({"uq_transfer_chain_entry_id"})


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (type_ == "table" and name is not None and PARTITION.match(name))


def _including(dialect: str) -> Any:
    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        return not (dialect == "postgresql" and type_ == "unique_constraint" and name in PARTITIONED_KEYS)

    return include_object


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=_include_name,
        include_object=_including(connection.dialect.name),
        render_item=_render_item,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
