"""Run the Alembic migrations from code (CLI, ``serve``, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from platform_hub.kit.database import create_database_file_of
from platform_hub.kit.settings import REPO_ROOT


def alembic_config(sync_url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["url"] = sync_url
    return config


def upgrade(sync_url: str, revision: str = "head") -> None:
    create_database_file_of(sync_url)  # a new SQLite file is the owner's only
    command.upgrade(alembic_config(sync_url), revision)
