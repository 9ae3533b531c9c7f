"""What the console's tests share: accounts made on the command line and signed in over HTTP as a
browser speaks it (changing the initial password first, as a person must), the operations record's
entries, and a record seeded with what the pages show (the ``seeded`` and ``browser_client``
fixtures in conftest.py are made of these)."""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pyotp
import pytest
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.settings import Settings
from tests.helpers import YAMADA, HubClient, rows, serve_in_thread, valid_my_number, wait_until, zei_query
from tests.test_ordinance import amendment, load
from tests.units import TestUnit, zei_answer

WRONG = "ログインID、パスワードまたは確認コードが違います"
PASSWORD_PAGE = "/console/password"
SCRIPT_NAME = "<script>alert(1)</script>"
MY_NUMBER = valid_my_number("20260101001")


@dataclass
class Account:
    login: str
    password: str
    totp: pyotp.TOTP
    uri: str


def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """``platform-hub …`` on the test's database and key file, as an operator types it; its output."""
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(settings.key_file))
    # In a thread of its own: the command runs its own event loop, and a test driving a browser with
    # Playwright's sync API already has one running in this thread.
    with ThreadPoolExecutor(1) as thread:
        result = thread.submit(CliRunner().invoke, app, list(args)).result()
    assert result.exit_code == 0, result.output
    return result.stdout


def create_account(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, login: str, role: str = "auditor"
) -> Account:
    said = cli(settings, monkeypatch, "accounts", "create", login, "--role", role, "--name", "監査 太郎")
    fields = dict(line.split("=", 1) for line in said.splitlines() if "=" in line)
    uri = fields["totp_uri"]
    assert uri.startswith("otpauth://totp/") and f"{login}" in uri, said
    return Account(login, fields["initial_password"], pyotp.parse_uri(uri), uri)  # type: ignore[arg-type]


def form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(
    http: httpx.Client, account: Account, code: str | None = None, **overrides: str
) -> httpx.Response:
    """Signed in as ``account``: an account that must change its password first (a new or reset one)
    changes it on the way, as a person must — ``account.password`` is then the new one, and the answer
    the change's, to the home page with the session's cookie. Else the sign-in's answer."""
    signed = post_sign_in(http, account, code, **overrides)
    if signed.status_code == 303 and signed.headers["location"] == PASSWORD_PAGE:
        return change_password(http, account)
    return signed


def post_sign_in(
    http: httpx.Client, account: Account, code: str | None = None, **overrides: str
) -> httpx.Response:
    """The sign-in form posted, and its answer (to the change page, for an account that must change)."""
    form = http.get("/console/signin")
    assert form.status_code == 200, form.text
    data = {
        "csrf": form_token(form.text),
        "login": account.login,
        "password": account.password,
        "code": code if code is not None else account.totp.now(),
        **overrides,
    }
    return http.post("/console/signin", data=data)


def new_password(account: Account) -> str:
    return f"{account.login}-changed-{secrets.token_hex(4)}"  # 12 characters at least, never the login


def change_password(http: httpx.Client, account: Account) -> httpx.Response:
    """The パスワード変更 page's form, from the account's password to a new one it then has."""
    form = http.get(PASSWORD_PAGE)
    assert form.status_code == 200, form.text
    new = new_password(account)
    data = {"csrf": form_token(form.text), "current": account.password, "new": new, "confirmation": new}
    changed = http.post(PASSWORD_PAGE, data=data)
    assert changed.status_code == 303 and changed.headers["location"] == "/console", changed.text
    account.password = new
    return changed


def signed_in(
    client: httpx.Client, settings: Settings, monkeypatch: pytest.MonkeyPatch, role: str, login: str = "kansa"
) -> httpx.Client:
    """``client`` signed in as a new account of ``role``."""
    account = create_account(settings, monkeypatch, login, role=role)
    assert sign_in(client, account).status_code == 303
    return client


def operations(database_url: str, action: str) -> list[tuple[str, str, str, str | None]]:
    found = rows(
        database_url,
        f"SELECT client_id, role, outcome, detail FROM operations WHERE action = '{action}' ORDER BY id",
    )
    return [(r.client_id, r.role, r.outcome, r.detail) for r in found]


@dataclass
class Seeded:
    integrated_number: str  # 山田太郎's, with a 個人番号
    script_person: str  # the person named <script>…, P<id>


def seed(hub: HubClient, database_url: str) -> Seeded:
    """山田太郎 with a 個人番号 and two entries about them — an answered query (提供) and a query the
    ordinance refused (拒否) — and a person named ``<script>…``."""
    zeimu = TestUnit(answer=zei_answer)
    with serve_in_thread(zeimu.app()) as zeimu_url:
        hub.register("002", zeimu_url, subscribes=[])
        jidou = hub.unit_headers(hub.register("011"))
        numbers = {"011": YAMADA["011"], "002": YAMADA["002"]}
        integrated = hub.enroll(numbers, my_number=MY_NUMBER)
        assert hub.send(zei_query(), jidou).status_code == 200
        wait_until(lambda: len(rows(database_url, "SELECT id FROM transfer_records")) >= 1)
        assert load(hub, amendment("2026-11", drop={"U-03"}))["status"] == 201
        assert hub.send(zei_query(msgid="refused"), jidou).status_code == 403
    script = hub.enroll(
        {"051": YAMADA["051"]}, name=SCRIPT_NAME, name_kana="スクリプト", birth_date="1990-01-01"
    )
    return Seeded(integrated, script)
