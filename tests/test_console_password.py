"""The password an administrator handed over is not the person's for long: an account made or reset on
the command line signs in to a session that may only change it (every other page sends the browser
to パスワード変更), and the change — the current password, a new one of 12 characters or more that is
neither the login nor the current one, typed twice — opens the console. The new password signs in,
the old one no more; the account's other sessions end; a signed-in person may change it again at will
from the page header. A person the city's identity provider signs in has no password to change.
Every change and every refusal is in the operations record, without a password."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest

from platform_hub.accounts import service
from platform_hub.kit.settings import Settings
from tests.console import (
    PASSWORD_PAGE,
    Account,
    cli,
    create_account,
    form_token,
    operations,
    post_sign_in,
    sign_in,
)
from tests.helpers import HubClient, rows
from tests.test_console_oidc import Provider, through_provider
from tests.test_console_oidc import console as console  # the provider's fixtures
from tests.test_console_oidc import oidc_settings as oidc_settings
from tests.test_console_oidc import provider as provider

ACTION = "console.password.change"
PAGES = ["/console", "/console/transfers", "/console/persons", "/console/operations", "/console/daily"]


def _change(http: httpx.Client, current: str, new: str, confirmation: str | None = None) -> httpx.Response:
    form = http.get(PASSWORD_PAGE)
    assert form.status_code == 200, form.text
    data = {"csrf": form_token(form.text), "current": current, "new": new}
    data["confirmation"] = new if confirmation is None else confirmation
    return http.post(PASSWORD_PAGE, data=data)


def _must_change(database_url: str, login: str) -> bool:
    (row,) = rows(database_url, f"SELECT password_change_required FROM accounts WHERE login = '{login}'")
    return bool(row.password_change_required)


# --- the policy ----------------------------------------------------------------------------------


def test_the_policy_names_what_is_wrong_with_a_new_password() -> None:
    current = "the-current-one"
    assert (
        service.password_problem("kansa.taro", current, "short-11chr")
        == "新しいパスワードは12文字以上にしてください"
    )
    assert service.password_problem("kansa.taro", current, "kansa.taro") is not None  # short, and the login
    same_as_login = "ログインIDと同じパスワードは使えません"
    assert service.password_problem("kansa.taro.long", current, "kansa.taro.long") == same_as_login
    assert service.password_problem("kansa.taro.long", current, "KANSA.TARO.LONG") == same_as_login
    same = "今のパスワードと同じパスワードは使えません"
    assert service.password_problem("kansa.taro", current, current) == same
    assert service.password_problem("kansa.taro", current, "十二文字の新しいパスワードです") is None


# --- the first sign-in ---------------------------------------------------------------------------


def test_a_new_account_is_sent_to_the_change_page_until_it_changes(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa.taro")
    assert _must_change(database_url, "kansa.taro")
    signed = post_sign_in(browser_client, account)
    assert signed.status_code == 303 and signed.headers["location"] == PASSWORD_PAGE, signed.text
    (due,) = rows(database_url, "SELECT password_change_due FROM console_sessions")
    assert due.password_change_due
    for url in PAGES:
        sent = browser_client.get(url)
        assert sent.status_code == 303 and sent.headers["location"] == PASSWORD_PAGE, url
    posted = browser_client.post("/console/verification", data={"csrf": "whatever"})
    assert posted.status_code == 303 and posted.headers["location"] == PASSWORD_PAGE
    form = browser_client.get(PASSWORD_PAGE)
    assert form.status_code == 200 and "<h1>パスワード変更</h1>" in form.text
    assert "連携記録" not in form.text  # no page to open yet
    assert "<script>" not in form.text and "style=" not in form.text and "<style" not in form.text
    assert 'name="csrf"' in form.text and 'autocomplete="new-password"' in form.text

    old = account.password
    new = "新しいパスワード-kansa-0001"
    changed = _change(browser_client, old, new)
    assert changed.status_code == 303 and changed.headers["location"] == "/console", changed.text
    assert "HttpOnly" in changed.headers["set-cookie"]  # a session of its own for the new password
    home = browser_client.get("/console")
    assert home.status_code == 200 and "監査 太郎" in home.text and "連携記録" in home.text
    assert not _must_change(database_url, "kansa.taro")
    assert [due.password_change_due for due in rows(database_url, "SELECT * FROM console_sessions")] == [
        False
    ]
    for url in PAGES[1:]:
        assert browser_client.get(url).status_code == 200, url

    with httpx.Client(base_url=str(hub.http.base_url)) as other:
        later = account.totp.at(time.time() + 30)
        assert post_sign_in(other, account, code=later).status_code == 401  # the initial password
        afterwards = post_sign_in(other, Account(account.login, new, account.totp, account.uri), code=later)
        assert afterwards.status_code == 303 and afterwards.headers["location"] == "/console"


def test_the_change_ends_the_accounts_other_sessions(
    hub: HubClient, browser_client: httpx.Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    with httpx.Client(base_url=str(hub.http.base_url)) as elsewhere:
        assert post_sign_in(elsewhere, account, code=account.totp.at(time.time() - 30)).status_code == 303
        assert sign_in(browser_client, account).headers["location"] == "/console"
        assert elsewhere.get(PASSWORD_PAGE).headers["location"] == "/console/signin"
    assert browser_client.get("/console").status_code == 200


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "confirmation", "said"),
    [
        ("short-pass", None, "12文字以上"),
        ("kansa.hanako", None, "ログインIDと同じ"),
        ("kansa.hanako.desu", "kansa.hanako.desu!", "確認"),
        (None, None, "今のパスワードと同じ"),
    ],
    ids=["short", "login", "not-the-same-twice", "the-current-one"],
)
def test_a_new_password_the_policy_refuses_stays_unchanged(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    new: str | None,
    confirmation: str | None,
    said: str,
) -> None:
    account = create_account(settings, monkeypatch, "kansa.hanako")
    assert post_sign_in(browser_client, account).status_code == 303
    refused = _change(browser_client, account.password, new or account.password, confirmation)
    assert refused.status_code == 400 and said in refused.text, refused.text
    assert 'class="error"' in refused.text and account.password not in refused.text
    assert browser_client.get("/console").headers["location"] == PASSWORD_PAGE  # still due
    assert _must_change(database_url, "kansa.hanako")
    (entry,) = operations(database_url, ACTION)
    assert entry[:3] == ("console:kansa.hanako", "auditor", "refused") and said in (entry[3] or "")


def test_a_wrong_current_password_changes_nothing(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    assert post_sign_in(browser_client, account).status_code == 303
    refused = _change(browser_client, "<b>not-the-password</b>", "a-good-new-password")
    assert refused.status_code == 400 and "今のパスワードが違います" in refused.text
    assert "<b>not-the-password</b>" not in refused.text and "a-good-new-password" not in refused.text
    assert _must_change(database_url, "kansa")
    assert [entry[2] for entry in operations(database_url, ACTION)] == ["refused"]


def test_wrong_current_passwords_lock_the_account_as_sign_ins_do(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Someone who has a signed-in browser but not the password must not guess it on this page
    without bound: each wrong current password counts as a wrong sign-in, and the lock ends the
    sessions."""
    account = create_account(settings, monkeypatch, "kansa")
    assert post_sign_in(browser_client, account).status_code == 303
    for _ in range(settings.console_lockout_attempts - 1):
        assert _change(browser_client, "not-the-password", "a-good-new-password").status_code == 400
    locked = _change(browser_client, "not-the-password", "a-good-new-password")
    assert locked.status_code == 423 and "ロックされています" in locked.text
    assert rows(database_url, "SELECT id_hash FROM console_sessions") == []
    assert browser_client.get("/console").headers["location"] == "/console/signin"
    (lock,) = operations(database_url, "console.lock")
    assert lock[0] == "console:kansa"
    assert post_sign_in(browser_client, account).status_code == 423  # the right password, locked


def test_the_change_needs_its_form_token(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    assert post_sign_in(browser_client, account).status_code == 303
    data = {"current": account.password, "new": "a-good-new-password", "confirmation": "a-good-new-password"}
    assert browser_client.post(PASSWORD_PAGE, data=data).status_code == 403
    assert browser_client.post(PASSWORD_PAGE, data={**data, "csrf": "forged"}).status_code == 403
    assert _must_change(database_url, "kansa")
    assert [entry[2] for entry in operations(database_url, ACTION)] == ["refused", "refused"]


def test_a_session_without_one_is_sent_to_sign_in(hub: HubClient, browser_client: httpx.Client) -> None:
    assert browser_client.get(PASSWORD_PAGE).headers["location"] == "/console/signin"
    posted = browser_client.post(PASSWORD_PAGE, data={"current": "x", "new": "y", "confirmation": "y"})
    assert posted.status_code == 303 and posted.headers["location"] == "/console/signin"


# --- at will, after a reset, and with the identity provider --------------------------------------


def test_a_signed_in_person_changes_the_password_from_the_header(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    assert sign_in(browser_client, account).status_code == 303  # the first change
    home = browser_client.get("/console")
    assert f'href="{PASSWORD_PAGE}"' in home.text and "パスワード変更" in home.text
    form = browser_client.get(PASSWORD_PAGE)
    assert form.status_code == 200 and "連携記録" in form.text  # a full session's page, with the menu
    again = _change(browser_client, account.password, "the-second-password")
    assert again.status_code == 303 and again.headers["location"] == "/console"
    assert browser_client.get("/console").status_code == 200
    assert [entry[2:] for entry in operations(database_url, ACTION)] == [
        ("ok", "password changed: the initial one"),
        ("ok", "password changed"),
    ]


def test_a_reset_asks_for_a_change_again(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    assert '"password_change_required": true' in cli(settings, monkeypatch, "accounts", "list", "--json")
    assert sign_in(browser_client, account).status_code == 303
    assert not _must_change(database_url, "kansa")
    assert '"password_change_required": false' in cli(settings, monkeypatch, "accounts", "list", "--json")
    said = cli(settings, monkeypatch, "accounts", "reset", "kansa")
    fields = dict(line.split("=", 1) for line in said.splitlines() if "=" in line)
    assert _must_change(database_url, "kansa")
    renewed = Account("kansa", fields["initial_password"], pyotp.parse_uri(fields["totp_uri"]), "")  # type: ignore[arg-type]
    signed = post_sign_in(browser_client, renewed)
    assert signed.status_code == 303 and signed.headers["location"] == PASSWORD_PAGE
    assert browser_client.get("/console/transfers").headers["location"] == PASSWORD_PAGE


def test_the_identity_provider_signs_in_without_a_change(
    console: httpx.Client, oidc_settings: Settings, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_account(oidc_settings, monkeypatch, "kansa.hanako")
    assert _must_change(oidc_settings.database_url, "kansa.hanako")  # for the password, if ever used
    provider.person("hanako@city.test", "kansa.hanako")
    assert through_provider(console, "hanako@city.test").status_code == 200
    home = console.get("/console")
    assert home.status_code == 200 and "連携記録" in home.text
    assert console.get("/console/transfers").status_code == 200


# --- the record ----------------------------------------------------------------------------------


def test_the_record_has_each_change_and_refusal_and_no_password(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    initial = account.password
    assert post_sign_in(browser_client, account).status_code == 303
    assert _change(browser_client, "wrong-current-password", "another-new-password").status_code == 400
    assert _change(browser_client, initial, "sh0rt-pw").status_code == 400
    assert _change(browser_client, initial, "the-new-password-1").status_code == 303
    assert [entry[:3] for entry in operations(database_url, ACTION)] == [
        ("console:kansa", "auditor", "refused"),
        ("console:kansa", "auditor", "refused"),
        ("console:kansa", "auditor", "ok"),
    ]
    recorded = " ".join(str(row) for row in rows(database_url, "SELECT * FROM operations"))
    typed = (initial, "wrong-current-password", "another-new-password", "sh0rt-pw", "the-new-password-1")
    for password in typed:
        assert password not in recorded
