"""No Docker engine runs here, so these tests keep docker/ honest by reading it."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.settings import REPO_ROOT, Settings

DOCKER = REPO_ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
DOCKERFILE = (DOCKER / "Dockerfile").read_text(encoding="utf-8")


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
    for source in re.findall(r"^COPY (\S+)", DOCKERFILE, flags=re.MULTILINE):
        for path in source.split():
            assert (REPO_ROOT / path).exists(), f"COPY {path}: not in the repository"


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
    """The hub's environment in compose builds a production Settings (no development secrets)."""
    for key, value in COMPOSE["services"]["hub"]["environment"].items():
        monkeypatch.setenv(key, re.sub(r"\$\{\w+:-(.*)\}", r"\1", str(value)))
    settings = Settings()
    assert settings.environment == "production"
    assert settings.database_url.startswith("postgresql+psycopg://")
