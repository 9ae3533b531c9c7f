"""Secrets and data at rest: production refuses placeholder secrets; a development hub signs its tokens
with a random secret of its own, kept in a file; databases and key files are for their owner's eyes."""

from __future__ import annotations

import secrets
import stat
import time
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import ValidationError

from platform_hub.kit.settings import Settings
from platform_hub.web.app import create_app
from tests.helpers import ADMIN_ID, ADMIN_SECRET, HubClient, serve_in_thread

# What kit/settings.py published as the development signing secret: anyone could sign an admin token.
FORMER_PUBLIC_SECRET = "dev-only-token-secret-change-me-0000000000"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLATFORM_HUB_TOKEN_SECRET", "change-me-local-trial-only-0123456789abcdef"),  # the compose file's
        ("PLATFORM_HUB_TOKEN_SECRET", "CHANGEME" + "0" * 40),
        ("PLATFORM_HUB_TOKEN_SECRET", "an-example-token-secret-for-the-docs-0123456789"),
        ("PLATFORM_HUB_TOKEN_SECRET", "Placeholder_Placeholder_Placeholder"),
        ("PLATFORM_HUB_TOKEN_SECRET", FORMER_PUBLIC_SECRET),
        ("PLATFORM_HUB_TOKEN_SECRET", secrets.token_hex(15)),  # 30 characters: too short
        ("PLATFORM_HUB_ADMIN_CLIENT_SECRET", "change-me-local-trial-only"),
        ("PLATFORM_HUB_ADMIN_CLIENT_SECRET", "Secret123Secret123"),
        ("PLATFORM_HUB_ADMIN_CLIENT_SECRET", "change_me_" + secrets.token_hex(8)),
        ("PLATFORM_HUB_ADMIN_CLIENT_SECRET", secrets.token_hex(7)),  # 14 characters: too short
    ],
)
def test_production_refuses_placeholder_and_short_secrets(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("PLATFORM_HUB_ENVIRONMENT", "production")
    monkeypatch.setenv("PLATFORM_HUB_TOKEN_SECRET", secrets.token_urlsafe(48))
    monkeypatch.setenv("PLATFORM_HUB_ADMIN_CLIENT_SECRET", secrets.token_urlsafe(24))
    Settings()  # real secrets are accepted
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable):
        Settings()


def test_production_refuses_to_start_without_a_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_HUB_ENVIRONMENT", "production")
    monkeypatch.delenv("PLATFORM_HUB_TOKEN_SECRET", raising=False)
    with pytest.raises(ValidationError, match="PLATFORM_HUB_TOKEN_SECRET"):
        Settings()


def test_a_development_hub_signs_with_a_secret_of_its_own_kept_across_restarts(
    settings: Settings, tmp_path: Path
) -> None:
    """Started without a token secret, a development hub refuses a token signed with the formerly
    public constant (an intruder's admin token that created a client), makes a random secret in a
    file of its own beside the key file (0600), and accepts its tokens again after a restart."""
    chosen = settings.model_dump(exclude={"token_secret", "environment"})
    development = Settings(**chosen, environment="development")
    now = int(time.time())
    claims = {"iss": "platform-hub", "sub": "intruder", "role": "admin", "scope": "admin"}
    forged = jwt.encode({**claims, "iat": now, "exp": now + 300}, FORMER_PUBLIC_SECRET, "HS256")
    with serve_in_thread(create_app(development)) as url, httpx.Client(base_url=url) as client:
        intruder = client.post(
            "/clients",
            json={"name": "backdoor", "role": "admin"},
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert intruder.status_code == 401 and intruder.json()["error"]["code"] == "E2001", intruder.text
        token = HubClient(client).token(ADMIN_ID, ADMIN_SECRET)
    kept = development.key_file.parent / "platform_hub.token-secret"
    assert mode(kept) == 0o600 and len(kept.read_text().strip()) >= 32
    with serve_in_thread(create_app(development)) as url:
        assert httpx.get(f"{url}/adapters", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    elsewhere = development.model_copy(update={"key_file": tmp_path / "elsewhere" / "keys.json"})
    with serve_in_thread(create_app(elsewhere)) as url:
        assert httpx.get(f"{url}/adapters", headers={"Authorization": f"Bearer {token}"}).status_code == 401
