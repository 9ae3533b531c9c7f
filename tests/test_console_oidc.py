"""Signing in to the console with the city's identity provider (OpenID Connect, code flow with PKCE
and a nonce): a real provider, oidc-provider-mock, runs as a process of its own on loopback. The
provider names the person; the console account must exist on the hub, and its role is the hub's.
A state the browser was not sent with, a denial at the provider, a person without an account and a
disabled account are each refused, and every outcome is in the operations record."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from platform_hub.console.oidc import NO_ACCOUNT, NOT_SIGNED_IN
from platform_hub.console.signing import DISABLED
from platform_hub.kit.settings import Settings
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.console import cli, create_account, operations
from tests.helpers import free_port, served_hub, wait_until

CLIENT_ID = "platform-hub-console"


@dataclass
class Provider:
    issuer: str

    def person(self, sub: str, login: str) -> None:
        """The provider's person ``sub``, whose preferred_username is ``login``."""
        claims = {"preferred_username": login, "name": "監査 太郎"}
        answer = httpx.put(f"{self.issuer}/users/{quote(sub)}", json=claims)
        assert answer.status_code == 204, answer.text


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    port = free_port()
    command = [sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "--port", str(port)]
    process = subprocess.Popen([*command, "--require-nonce", "true"], stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{issuer}/.well-known/openid-configuration"), timeout=30)
        yield Provider(issuer)
    finally:
        process.terminate()
        process.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def oidc_settings(settings: Settings, provider: Provider) -> Settings:
    return settings.model_copy(
        update={
            "console_oidc_issuer": provider.issuer,
            "console_oidc_client_id": CLIENT_ID,
            "console_oidc_client_secret": "a-secret-the-provider-accepts",
        }
    )


@pytest.fixture
def console(oidc_settings: Settings) -> Iterator[httpx.Client]:
    with served_hub(oidc_settings) as (url, _), httpx.Client(base_url=url, timeout=30) as http:
        yield http


def through_provider(console: httpx.Client, sub: str, action: str = "authorize") -> httpx.Response:
    """The sign-in button, the provider's form answered as ``sub``, and the way back to the hub."""
    to_provider = console.get("/console/signin/oidc")
    assert to_provider.status_code == 303, to_provider.text
    authorize = to_provider.headers["location"]
    assert "code_challenge_method=S256" in authorize and "nonce=" in authorize
    form = {"sub": sub} if action == "authorize" else {"action": "deny"}
    back = httpx.post(authorize, data=form)
    assert back.status_code == 302, back.text
    return console.get(back.headers["location"])


def test_a_person_with_an_account_signs_in_with_the_provider(
    console: httpx.Client, oidc_settings: Settings, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "庁内の認証基盤でサインイン" in console.get("/console/signin").text
    create_account(oidc_settings, monkeypatch, "kansa.hanako")
    provider.person("hanako@city.test", "kansa.hanako")
    arrived = through_provider(console, "hanako@city.test")
    assert arrived.status_code == 200 and "サインインしました" in arrived.text
    home = console.get("/console")
    assert home.status_code == 200 and "kansa.hanako" in home.text and "連携記録" in home.text
    assert ("console:kansa.hanako", "auditor", "ok", "signed in by OIDC") in operations(
        oidc_settings.database_url, "console.signin"
    )


def test_the_provider_does_not_make_accounts(
    console: httpx.Client, oidc_settings: Settings, provider: Provider
) -> None:
    provider.person("stranger@city.test", "nobody.here")
    refused = through_provider(console, "stranger@city.test")
    assert refused.status_code == 403 and NO_ACCOUNT in refused.text
    assert console.get("/console", follow_redirects=False).status_code == 303
    assert ("console:-", "anonymous", "refused", "wrong login, password or code") in operations(
        oidc_settings.database_url, "console.signin"
    )


def test_a_disabled_account_stays_out(
    console: httpx.Client, oidc_settings: Settings, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_account(oidc_settings, monkeypatch, "left.city")
    cli(oidc_settings, monkeypatch, "accounts", "disable", "left.city")
    provider.person("left@city.test", "left.city")
    refused = through_provider(console, "left@city.test")
    assert refused.status_code == 403 and DISABLED in refused.text


def test_a_denial_and_a_foreign_state_sign_nobody_in(
    console: httpx.Client, oidc_settings: Settings, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_account(oidc_settings, monkeypatch, "kansa.jiro")
    provider.person("jiro@city.test", "kansa.jiro")
    denied = through_provider(console, "jiro@city.test", action="deny")
    assert denied.status_code == 403 and NOT_SIGNED_IN in denied.text
    # A code and state an attacker obtained for their own browser, replayed into this one.
    with httpx.Client(base_url=str(console.base_url)) as attacker:
        authorize = attacker.get("/console/signin/oidc").headers["location"]
        back = httpx.post(authorize, data={"sub": "jiro@city.test"}).headers["location"]
    console.get("/console/signin/oidc")  # this browser's own state, which the attacker's is not
    forged = console.get(back)
    assert forged.status_code == 403 and NOT_SIGNED_IN in forged.text
    assert console.get("/console", follow_redirects=False).status_code == 303
    details = [detail for *_, detail in operations(oidc_settings.database_url, "console.signin")]
    assert "OIDC: the provider answered access_denied" in details
    assert "OIDC: the state is not the one this browser was sent with" in details


def test_without_a_provider_there_is_no_button(settings: Settings) -> None:
    with served_hub(settings) as (url, _), httpx.Client(base_url=url) as plain:
        assert "認証基盤" not in plain.get("/console/signin").text
        assert plain.get("/console/signin/oidc").status_code == 404


@needs_chromium
def test_a_browser_signs_in_through_the_provider(
    oidc_settings: Settings, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session cookie is SameSite=Strict and the browser comes back from another site: the hub's
    own page takes it on, so the cookie travels."""
    provider.person("saburo@city.test", "kansa.saburo")
    with served_hub(oidc_settings) as (url, _), chromium() as browser:
        create_account(oidc_settings, monkeypatch, "kansa.saburo")
        page = browser.new_page(locale="ja-JP")
        page.goto(url.replace("127.0.0.1", HUB_HOST) + "/console/signin")
        page.get_by_role("link", name="庁内の認証基盤でサインイン").click()
        page.locator("input[name=sub]").fill("saburo@city.test")
        page.get_by_role("button", name="Authorize").click()
        expect(page.locator(".account")).to_contain_text("kansa.saburo")
        assert page.url.endswith("/console")
        page.close()
    assert ("console:kansa.saburo", "auditor", "ok", "signed in by OIDC") in operations(
        oidc_settings.database_url, "console.signin"
    )
