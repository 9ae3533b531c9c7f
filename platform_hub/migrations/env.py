"""Alembic environment: synchronous, URL from the hub's settings unless the caller passed a connection."""

from __future__ import annotations

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


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_item=_render_item,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
