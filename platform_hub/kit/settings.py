"""The hub's one settings object, read from the environment (prefix ``PLATFORM_HUB_``)."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import PositiveFloat, PositiveInt, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_hub.kit.clock import ZoneSetting
from platform_hub.protocol.numbers import RemainderOne
from platform_hub.protocol.xml import XmlLimits

# The catalog the hub ships with (INTERFACE_SPECS_DIR replaces it), found beside the code however the
# hub was installed.
BUNDLED_SPECS = Path(__file__).resolve().parents[1] / "interface_specs"
DEMO_ORDINANCE = BUNDLED_SPECS / "ordinance" / "2026-04.yaml"  # the demo city's, shipped with the catalog
# What a secret written by hand for a trial tends to hold (compared without case and separators):
# production refuses such a secret, and a secret shorter than its minimum.
PLACEHOLDERS = ("changeme", "example", "placeholder", "secret123", "password", "devonly", "default")
MIN_SECRET_LENGTHS = {"token_secret": 32, "admin_client_secret": 16}


class Settings(ZoneSetting, BaseSettings):
    """Every setting of the hub; ``time_zone`` (the city's, for what people read) comes from
    ``ZoneSetting`` in kit/clock.py, which the SDK and the demo read alone."""

    model_config = SettingsConfigDict(env_prefix="PLATFORM_HUB_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///platform_hub.db"
    # The schema owner's URL, for the migrations only (``db upgrade``, ``serve`` before it listens), when
    # the hub serves as a role that may not change the schema; by default the same as database_url.
    migration_database_url: str | None = None
    interface_specs_dir: Path = BUNDLED_SPECS

    # The My Number key file (AES-GCM data keys and the HMAC key), kept outside the database. In
    # development a missing file is created; in production it must be provided.
    key_file: Path = Path("platform_hub.keys.json")

    # The Ed25519 key that signs the transfer record's checkpoints (created in development).
    signing_key_file: Path = Path("platform_hub.signing-key.pem")
    seal_interval_seconds: float = 1.0
    # A checkpoint is signed at least this often while entries come in: the most of the newest record
    # a truncation could remove before a signature covers it (pull them out often: audit checkpoints).
    checkpoint_interval_seconds: float = 60.0
    retention_years: int = 7  # 番号法 第23条: the record of transfers is kept seven years
    sealer_enabled: bool = True

    # The organ (機関) that keeps the addressee registry: a unit of another organ reading 宛名情報 from
    # it is a provision under 番号法 第19条第11号, one of the same organ a use under 第9条第2項.
    registry_organ: str = "市長"
    # A new 宛名番号 (and a 団体内統合宛名番号 the hub issues) whose modulus-11 remainder is 1: check
    # digit 0 (zero), or no valid number (refuse). The standard leaves it open (docs/registry.md).
    atena_check_digit_remainder_one: RemainderOne = RemainderOne.ZERO

    # HTTPS: the hub's certificate (with its chain) and private key, PEM; TLS 1.2 at least. Unset, it
    # serves plain HTTP (behind a proxy that ends TLS, or on loopback).
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    admin_client_id: str | None = None
    admin_client_secret: str | None = None
    # Signs the bearer tokens. Required in production; unset in development or a test, the hub makes a
    # random one in token_secret_file (default: beside the key file) and keeps it for its next start.
    token_secret: str | None = None
    token_secret_file: Path | None = None
    token_ttl_seconds: int = 300
    # The hub's address as its clients reach it (https://hub.city.example, behind the TLS proxy): a
    # client_secret_jwt assertion's aud may name its token endpoint, beside the URL the request came to.
    public_url: str | None = None
    # client_secret_basic and client_secret_post (the secret itself sent with each token request) are
    # the Digital Agency's interim measure: false leaves only client_secret_jwt.
    client_secret_basic: bool = True
    # A client assertion may live this long at most (exp - iat); its jti is refused again until its exp.
    assertion_max_lifetime_seconds: PositiveInt = 300

    # Messages a client may send (limits notation), counted per hub process in memory, or across
    # replicas with a shared storage such as redis://host:6379.
    unit_rate_limit: str = "200/second"
    rate_limit_storage: str = "memory://"
    # Token requests per client id (a token lasts token_ttl_seconds; more is guessing secrets).
    token_rate_limit: str = "10/second"  # noqa: S105 - a rate, not a secret
    # Messages of one client the hub works on at once, per hub process, so that a client within its
    # rate limit cannot fill the hub with its own work: one more waits this long for a slot, then is
    # refused as rate limited.
    client_concurrency: PositiveInt = 8
    client_wait_seconds: float = 1.0

    # The console (/console): people sign in with a password and a one-time code. This many wrong tries
    # in a row lock the account for console_lockout_seconds; a session ends after console_idle_timeout_
    # seconds without a request, and console_session_lifetime_seconds after its sign-in in any case.
    console_lockout_attempts: PositiveInt = 5
    console_lockout_seconds: PositiveFloat = 15 * 60
    console_idle_timeout_seconds: PositiveFloat = 15 * 60
    console_session_lifetime_seconds: PositiveFloat = 8 * 3600
    # Sign-in attempts from one address (limits notation), whatever the logins: the lock-out guards
    # one account, this the guessing spread over many. Behind a proxy, the X-Forwarded-For of one that
    # FORWARDED_ALLOW_IPS (uvicorn's; loopback by default) trusts, else the proxy's own.
    console_signin_rate_limit: str = "30/minute"
    # Signing in with the city's own identity provider (OpenID Connect, authorization code with PKCE),
    # beside the password and code: its issuer URL (discovery at /.well-known/openid-configuration),
    # the hub's client there, and the claim that names the console account (which must exist here:
    # the hub, not the provider, decides who is an auditor). Unset issuer: no such button.
    console_oidc_issuer: str | None = None
    console_oidc_client_id: str | None = None
    console_oidc_client_secret: str | None = None
    console_oidc_login_claim: str = "preferred_username"
    console_oidc_label: str = "庁内の認証基盤"

    # The national systems (platform_hub/national/): the city's 中間サーバー and 住基ネット, each its URL and
    # the key the city presents to it. Unset, the hub is not connected to it.
    chukan_url: str | None = None
    chukan_key: str | None = None
    juki_net_url: str | None = None
    juki_net_key: str | None = None
    national_timeout_seconds: float = 30.0  # the Digital Agency's time-out for an API answer
    # How often the hub reads the 中間サーバー's 第23条 provider-side records, so that each 提供 it made
    # (answered from a 副本, or released) is in the transfer record (network/provision.py).
    network_sync_seconds: PositiveFloat = 30.0

    max_body_bytes: int = 2 * 1024 * 1024
    # 一括: an uploaded batch file is spooled to disk, so only this caps it; its records are kept, and
    # delivered, in chunks of this many (each chunk one commit, and one message to a subscriber).
    batch_max_bytes: int = 4 * 1024 * 1024 * 1024
    batch_chunk_records: int = 1000
    # 一括 as files: each unit's folder (inbox/, results/, outbox/), which the SFTP drop box serves to
    # the unit, and where the hub writes the files its subscribers take. Shared by the hub's processes.
    files_dir: Path = Path("platform_hub.files")
    # The SFTP drop box, served with the hub when a port is set; its host key is made in development
    # when the file is missing, and must be provided in production.
    sftp_port: int | None = None
    sftp_host: str = "127.0.0.1"
    sftp_host_key_file: Path = Path("platform_hub.sftp-host-key")
    # The parser's limits (E1001 past any; see protocol/xml.py for why each exists). The catalog's largest
    # message, 住民票関係情報照会's answer with a household of 30, has about 180 elements, two
    # namespaces and no attributes; a batch's records are counted one at a time.
    max_xml_depth: int = 32
    max_xml_namespaces: int = 64  # declarations in scope at any element
    max_xml_attributes: int = 32  # on one element
    max_xml_elements: int = 20_000  # in a message, or in one record of a batch
    # Answers from units may be larger than messages (up to 64 MiB): more elements, the same others.
    max_answer_xml_elements: int = 100_000
    # Bodies the hub reads whole before an endpoint sees them (JSON, the ordinance's YAML) and the token
    # endpoint's form: capped before they are buffered, JSON nesting limited (web/request_guard.py).
    max_json_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    max_form_bytes: int = 64 * 1024
    # Every request body must arrive at this average rate once the grace period is over: the server
    # has no body timeout of its own, and a client trickling a body would hold its request forever.
    body_grace_seconds: float = 30.0
    body_min_bytes_per_second: int = 64 * 1024
    query_timeout_seconds: float = 10.0
    # A query's full answer is kept this long for a resent MSGID's replay; then only its digest.
    answer_retention_seconds: float = 24 * 3600
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
        if self.environment != "production":
            return self
        if self.token_secret is None:
            raise ValueError("PLATFORM_HUB_TOKEN_SECRET must be set (32+ random characters) in production")
        for name, minimum in MIN_SECRET_LENGTHS.items():
            value: str | None = getattr(self, name)
            variable = f"PLATFORM_HUB_{name.upper()}"
            if value is not None and len(value) < minimum:
                raise ValueError(f"{variable} must be {minimum}+ characters in production")
            if value is not None and any(word in _folded(value) for word in PLACEHOLDERS):
                raise ValueError(f"{variable} looks like a placeholder; set a random secret in production")
        return self

    @property
    def xml_limits(self) -> XmlLimits:
        """What an inbound message (or a batch's record) may hold."""
        return XmlLimits(
            depth=self.max_xml_depth,
            namespaces=self.max_xml_namespaces,
            attributes=self.max_xml_attributes,
            elements=self.max_xml_elements,
        )

    @property
    def answer_xml_limits(self) -> XmlLimits:
        """What a unit's answer may hold: as a message, but more elements."""
        return replace(self.xml_limits, elements=self.max_answer_xml_elements)

    @property
    def token_secret_path(self) -> Path:
        """Where a development hub keeps the token secret it made for itself."""
        return self.token_secret_file or self.key_file.parent / "platform_hub.token-secret"

    @cached_property
    def sync_database_url(self) -> str:
        """The URL for synchronous work (Alembic, CLI)."""
        return _synchronous(self.database_url)

    @cached_property
    def sync_migration_database_url(self) -> str:
        """The URL the migrations run with: the schema owner's."""
        return _synchronous(self.migration_database_url or self.database_url)

    @cached_property
    def async_database_url(self) -> str:
        """The URL for the service; psycopg 3 serves both modes under one dialect name."""
        return _asynchronous(self.sync_database_url)

    @cached_property
    def async_migration_database_url(self) -> str:
        """The owner's URL for the service's drivers (``audit purge`` runs as the owner)."""
        return _asynchronous(self.sync_migration_database_url)


def _asynchronous(url: str) -> str:
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _synchronous(url: str) -> str:
    return url.replace("sqlite+aiosqlite://", "sqlite://")


def _folded(secret: str) -> str:
    return "".join(c for c in secret.lower() if c.isalnum())
