"""The hub's one settings object, read from the environment (prefix ``PLATFORM_HUB_``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import PositiveInt, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_TOKEN_SECRET = "dev-only-token-secret-change-me-0000000000"  # noqa: S105 - refused in production


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLATFORM_HUB_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///platform_hub.db"
    interface_specs_dir: Path = REPO_ROOT / "interface_specs"

    # The My Number key file (AES-GCM data keys and the HMAC key), kept outside the database. In
    # development a missing file is created; in production it must be provided.
    key_file: Path = Path("platform_hub.keys.json")

    # The Ed25519 key that signs the transfer record's checkpoints (created in development).
    signing_key_file: Path = Path("platform_hub.signing-key.pem")
    seal_interval_seconds: float = 1.0
    retention_years: int = 7  # 番号法 第23条: the record of transfers is kept seven years
    sealer_enabled: bool = True

    admin_client_id: str | None = None
    admin_client_secret: str | None = None
    token_secret: str = DEV_TOKEN_SECRET
    token_ttl_seconds: int = 300

    # Messages a client may send (limits notation), counted per hub process in memory, or across
    # replicas with a shared storage such as redis://host:6379.
    unit_rate_limit: str = "200/second"
    rate_limit_storage: str = "memory://"
    # Messages of one client the hub works on at once, per hub process, so that a client within its
    # rate limit cannot fill the hub with its own work: one more waits this long for a slot, then is
    # refused as rate limited.
    client_concurrency: PositiveInt = 8
    client_wait_seconds: float = 1.0

    max_body_bytes: int = 2 * 1024 * 1024
    # 一括: an uploaded batch file is spooled to disk, so only this caps it; its records are kept, and
    # delivered, in chunks of this many (each chunk one commit, and one message to a subscriber).
    batch_max_bytes: int = 4 * 1024 * 1024 * 1024
    batch_chunk_records: int = 1000
    max_xml_depth: int = 32
    query_timeout_seconds: float = 10.0
    delivery_timeout_seconds: float = 10.0
    delivery_poll_seconds: float = 0.5
    delivery_max_attempts: int = 10
    delivery_max_age_seconds: float = 3 * 24 * 3600  # then a failing delivery is a dead letter
    delivery_backoff_seconds: float = 1.0
    dispatcher_enabled: bool = True
    # Deliveries under way at once in a hub process: in all, and to one subscriber (a hung one holds
    # only that many of its own, however many are due).
    delivery_concurrency: PositiveInt = 50
    delivery_concurrency_per_unit: PositiveInt = 8
    # How stale a replica's copy of the units and the ordinance may be after another replica changed them.
    configuration_poll_seconds: float = 0.5
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Settings:
        if self.environment == "production":
            if self.token_secret == DEV_TOKEN_SECRET or len(self.token_secret) < 32:
                raise ValueError("PLATFORM_HUB_TOKEN_SECRET must be set to 32+ characters in production")
            if self.admin_client_secret is not None and len(self.admin_client_secret) < 16:
                raise ValueError("PLATFORM_HUB_ADMIN_CLIENT_SECRET must be 16+ characters in production")
        return self

    @cached_property
    def sync_database_url(self) -> str:
        """The URL for synchronous work (Alembic, CLI)."""
        return self.database_url.replace("sqlite+aiosqlite://", "sqlite://")

    @cached_property
    def async_database_url(self) -> str:
        """The URL for the service; psycopg 3 serves both modes under one dialect name."""
        url = self.sync_database_url
        if url.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
        if url.startswith("postgresql://"):
            return "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url
