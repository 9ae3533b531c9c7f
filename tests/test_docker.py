"""No Docker engine runs here, so these tests keep docker/ honest by reading it."""

from __future__ import annotations

import fnmatch
import os
import re
import secrets
import shlex
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]

DOCKER = REPO_ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
DOCKERFILE = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
DOCKERIGNORE = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8")
INIT_SCRIPT = DOCKER / "postgres-init.sh"
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]+\}")  # a variable compose refuses to start without
STRONG: defaultdict[str, str] = defaultdict(lambda: secrets.token_urlsafe(32))  # one per variable
TEST_DATABASE_URL = os.environ.get("PLATFORM_HUB_TEST_DATABASE_URL")


def _instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(f"{name} ")]


def assert_real_cli_command(argv: list[str]) -> None:
    """``argv`` names an existing platform-hub command and only options that command has."""
    assert argv[0] == "platform-hub", argv
    words = [w for w in argv[1:] if not w.startswith("-")]
    options = [w.split("=")[0] for w in argv[1:] if w.startswith("--")]
    path: list[str] = []
    for word in words:  # the leading words that are (sub)commands
        probe = CliRunner().invoke(app, [*path, word, "--help"])
        if probe.exit_code != 0:
            break
        path.append(word)
    result = CliRunner().invoke(app, [*path, "--help"])
    assert path and result.exit_code == 0, f"{argv}: not a command ({result.output})"
    for option in options:
        assert option in result.output, f"{argv}: {' '.join(path)} has no option {option}"


def test_dockerfile_runs_as_non_root_and_serves() -> None:
    users = _instructions("USER")
    assert users and users[-1] not in {"root", "0"}
    assert _instructions("FROM")[0].startswith("python:3.11")
    cmd = _instructions("CMD")[-1]
    assert_real_cli_command(yaml.safe_load(cmd))
    assert "/healthz" in _instructions("HEALTHCHECK")[0]


def test_what_the_dockerfile_copies_is_in_the_build_context() -> None:
    """Every source of every COPY from the build context (the repository root) exists, and
    .dockerignore does not leave it out (the build would fail)."""
    ignored = [line for line in DOCKERIGNORE.splitlines() if line and not line.startswith("#")]
    copied = []
    for copy in _instructions("COPY"):
        words = shlex.split(copy)
        if any(word.startswith("--from=") for word in words):
            continue  # from another stage of the build
        copied += [word for word in words if not word.startswith("--")][:-1]  # the last is where to
    assert "pyproject.toml" in copied and "platform_hub" in copied and "adapters" in copied
    for path in copied:
        assert (REPO_ROOT / path).exists(), f"COPY {path}: not in the repository"
        assert not [p for p in ignored if fnmatch.fnmatch(path, p)], f"COPY {path}: in .dockerignore"


def test_the_image_writes_only_to_its_volume_which_its_user_owns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain ``docker run`` in development mode creates its database, key file, signing key and
    token secret: every one of them is under the declared volume /data, which the image's user owns
    (made so before VOLUME: a build step's changes to a volume after it are lost); the working
    directory is there too, so nothing lands in a folder the user cannot write."""
    user = _instructions("USER")[-1]
    assert user == "hub" and re.search(r"useradd [^&]*\bhub\b", DOCKERFILE)
    assert "/data" in _instructions("VOLUME")
    lines = DOCKERFILE.replace("\\\n", " ").splitlines()
    volume_at = next(n for n, line in enumerate(lines) if line.startswith("VOLUME "))
    owned = [
        n for n, line in enumerate(lines) if re.match(rf"RUN .*chown (-R )?{user}:{user} [^&]*/data\b", line)
    ]
    assert owned and owned[-1] < volume_at, "/data made the user's before it is declared a volume"
    assert Path(_instructions("WORKDIR")[-1]).is_relative_to("/data")
    for name in [name for name in os.environ if name.startswith("PLATFORM_HUB_")]:
        monkeypatch.delenv(name)
    for assignment in _instructions("ENV"):
        for name, value in (pair.split("=", 1) for pair in shlex.split(assignment)):
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    database = sa.make_url(settings.sync_database_url)
    assert database.get_backend_name() == "sqlite" and database.database
    written = [
        settings.key_file,
        settings.signing_key_file,
        settings.token_secret_path,
        Path(database.database),
    ]
    for path in written:
        assert path.is_absolute() and path.is_relative_to("/data"), path


def test_compose_services() -> None:
    services = COMPOSE["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    hub = services["hub"]
    assert hub["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / hub["build"]["context"] / hub["build"]["dockerfile"]).exists()
    assert hub["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert hub["environment"]["PLATFORM_HUB_DATABASE_URL"].startswith("postgresql+psycopg://")
    # The My Number keys: made once by the keys service, read-only to the hub, never in the database.
    assert hub["depends_on"]["keys"]["condition"] == "service_completed_successfully"
    key_file = hub["environment"]["PLATFORM_HUB_KEY_FILE"]
    assert key_file in services["keys"]["command"] and "keys:/keys:ro" in hub["volumes"]
    assert hub["environment"]["PLATFORM_HUB_SIGNING_KEY_FILE"] in services["signing-key"]["command"]
    assert hub["depends_on"]["signing-key"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", sorted(s for s, spec in COMPOSE["services"].items() if "command" in spec))
def test_compose_commands_are_real_cli_commands(service: str) -> None:
    command = COMPOSE["services"][service]["command"]
    assert_real_cli_command(command if isinstance(command, list) else shlex.split(command))


def test_compose_environment_is_accepted_by_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's environment in compose, its required secrets set as an operator would, builds a
    production Settings."""
    for key, value in COMPOSE["services"]["hub"]["environment"].items():
        monkeypatch.setenv(key, _interpolated(str(value)))
    settings = Settings()
    assert settings.environment == "production"
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_every_secret_is_a_required_variable() -> None:
    """No secret falls back to a value written in the file: compose refuses to start without each."""
    text = (DOCKER / "compose.yaml").read_text(encoding="utf-8")
    assert not re.search(r"\$\{\w*(SECRET|PASSWORD)\w*:?-", text), "a secret with a default"
    assert "change-me" not in text.lower()
    secrets = [
        (service, key, str(value))
        for service, spec in COMPOSE["services"].items()
        for key, value in (spec.get("environment") or {}).items()
        if re.search("SECRET|PASSWORD", key)
    ]
    assert {key for _, key, _ in secrets} >= {
        "PLATFORM_HUB_ADMIN_CLIENT_SECRET",
        "PLATFORM_HUB_TOKEN_SECRET",
        "POSTGRES_PASSWORD",
    }
    for service, key, value in secrets:
        if key.endswith("__FILE"):  # read from a compose secret's file, not from the environment
            assert value.startswith("/run/secrets/"), f"{service}: {key}={value}"
            continue
        assert REQUIRED.fullmatch(value), f"{service}: {key}={value}"
    for name, secret in (COMPOSE.get("secrets") or {}).items():  # files kept out of git and the image
        assert secret["file"].startswith("./secrets/"), name
    for service, url in _database_urls():
        assert REQUIRED.fullmatch(url.password or ""), f"{service}: the password in {url}"


def test_the_hub_is_published_on_loopback_by_default() -> None:
    published = {name: spec["ports"] for name, spec in COMPOSE["services"].items() if "ports" in spec}
    assert list(published) == ["hub", "grafana"]  # Grafana: the monitoring profile's
    for name, container in (("hub", 8000), ("grafana", 3000)):
        for port in published[name]:
            assert _interpolated(str(port)).startswith("127.0.0.1:"), port
            pattern = rf"\$\{{\w+:-127\.0\.0\.1:{container}\}}:{container}"
            assert re.fullmatch(pattern, str(port)), "overridable by a variable"


def test_postgres_serves_the_hub_through_roles_that_are_not_superusers() -> None:
    """The postgres image's POSTGRES_USER is a superuser: an init script makes the database's owner
    (who migrates) and the role the hub serves with, neither a superuser; the hub's environment has
    the serving role's URL and not the owner's password."""
    services = COMPOSE["services"]
    postgres, migrate, hub = services["postgres"], services["migrate"], services["hub"]
    mounted = [v for v in postgres["volumes"] if v.split(":")[1].startswith("/docker-entrypoint-initdb.d/")]
    assert mounted == [f"./{INIT_SCRIPT.name}:/docker-entrypoint-initdb.d/{INIT_SCRIPT.name}:ro"]
    owner_url = sa.make_url(_interpolated(migrate["environment"]["PLATFORM_HUB_MIGRATION_DATABASE_URL"]))
    serving_url = sa.make_url(_interpolated(hub["environment"]["PLATFORM_HUB_DATABASE_URL"]))
    defaults = dict(re.findall(r': "\$\{(PLATFORM_HUB_DB_\w+):=(\w+)\}"', INIT_SCRIPT.read_text()))
    assert owner_url.username == defaults["PLATFORM_HUB_DB_OWNER"]
    assert serving_url.username == defaults["PLATFORM_HUB_DB_USER"]
    assert owner_url.database == serving_url.database == defaults["PLATFORM_HUB_DB_NAME"]
    assert len({owner_url.username, serving_url.username, postgres["environment"]["POSTGRES_USER"]}) == 3
    passwords = {}  # the variable that holds each role's password
    for role in (owner_url.username, serving_url.username):
        (variable,) = {REQUIRED.fullmatch(url.password or "").group(1) for url in _urls(role)}  # type: ignore[union-attr]
        assert variable in postgres["environment"], f"the init script sets {role}'s"
        passwords[role] = variable
    assert passwords[owner_url.username] not in str(hub["environment"]), "the hub has the owner's password"
    # The owner migrates once and grants the serving role its rights, then the hub serves without
    # migrating (it has not the rights to).
    assert migrate["command"] == ["platform-hub", "db", "upgrade"]
    granted = sa.make_url(_interpolated(migrate["environment"]["PLATFORM_HUB_DATABASE_URL"]))
    assert granted.username == serving_url.username
    assert hub["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "--no-migrate" in hub["command"]


@pytest.mark.skipif(TEST_DATABASE_URL is None, reason="runs the init script on PostgreSQL")
def test_the_init_script_makes_roles_that_migrate_and_serve_without_being_superusers() -> None:
    """The init script run for real (as the image runs it, with names of this test's own): the roles
    it makes are no superusers, the owner's migrations apply, the serving role connects."""
    assert TEST_DATABASE_URL is not None
    server = sa.make_url(TEST_DATABASE_URL)
    tag = uuid.uuid4().hex[:8]
    names = {
        "PLATFORM_HUB_DB_NAME": f"ph_init_{tag}",
        "PLATFORM_HUB_DB_OWNER": f"ph_owner_{tag}",
        "PLATFORM_HUB_DB_USER": f"ph_serving_{tag}",
    }
    env = {
        **os.environ,
        **names,
        "PLATFORM_HUB_DB_OWNER_PASSWORD": "o'wner " + uuid.uuid4().hex,  # quoting is psql's
        "PLATFORM_HUB_DB_PASSWORD": uuid.uuid4().hex,
        "POSTGRES_USER": server.username or "postgres",
        "POSTGRES_DB": server.database or "postgres",
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
    }
    admin = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        subprocess.run(["bash", str(INIT_SCRIPT)], env=env, check=True, capture_output=True, timeout=60)
        with admin.connect() as connection:
            roles = connection.execute(
                sa.text(
                    "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls "
                    "FROM pg_roles WHERE rolname = ANY(:n)"
                ),
                {"n": [names["PLATFORM_HUB_DB_OWNER"], names["PLATFORM_HUB_DB_USER"]]},
            ).all()
        assert len(roles) == 2 and not any(any(flags) for _, *flags in roles), roles
        database = server.set(database=names["PLATFORM_HUB_DB_NAME"])
        owner = database.set(username=names["PLATFORM_HUB_DB_OWNER"]).render_as_string(hide_password=False)
        serving_url = database.set(username=names["PLATFORM_HUB_DB_USER"])
        upgraded = subprocess.run(  # as compose's migrate service: the owner migrates, then grants
            [sys.executable, "-m", "platform_hub.cli", "db", "upgrade"],
            env={
                **os.environ,
                "PLATFORM_HUB_MIGRATION_DATABASE_URL": owner,
                "PLATFORM_HUB_DATABASE_URL": serving_url.render_as_string(hide_password=False),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        serving = sa.create_engine(serving_url)
        with serving.connect() as connection:
            assert (
                connection.execute(sa.text("SELECT current_user")).scalar_one()
                == names["PLATFORM_HUB_DB_USER"]
            )
            assert connection.execute(sa.text("SELECT count(*) FROM transfer_records")).scalar_one() == 0
        with pytest.raises(sa.exc.ProgrammingError), serving.begin() as connection:  # read, never undo
            connection.execute(sa.text("INSERT INTO audit_purge_permits (id) VALUES (1)"))
        serving.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text(f'DROP DATABASE IF EXISTS "{names["PLATFORM_HUB_DB_NAME"]}" WITH (FORCE)')
            )
            for role in (names["PLATFORM_HUB_DB_OWNER"], names["PLATFORM_HUB_DB_USER"]):
                connection.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def _interpolated(value: str) -> str:
    """``value`` as compose makes it: defaults taken, required variables set to a strong secret."""
    value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
    return REQUIRED.sub(lambda required: STRONG[required.group(1)], value)


def _urls(username: str | None) -> list[sa.URL]:
    """The database URLs in compose (not interpolated) that log in as ``username``."""
    return [url for _, url in _database_urls() if url.username == username]


def _database_urls() -> Iterator[tuple[str, sa.URL]]:
    for service, spec in COMPOSE["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            if key.endswith("DATABASE_URL"):
                yield service, sa.make_url(str(value))
