"""The console's accounts and sign-in, over HTTP as a browser speaks it (forms, cookies, redirects):
an account made on the command line signs in with its password and its current TOTP code; a wrong
anything is one answer; five wrong tries lock it; a session ends by sign-out, by idling, by
disabling; every POST needs its CSRF token; and what the pages show comes from the records."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote_plus

import httpx
import pyotp
import pytest

from platform_hub.accounts import service as accounts
from platform_hub.console.pages import CONTENT_SECURITY_POLICY
from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import load_vault
from tests.console import (
    MY_NUMBER,
    SCRIPT_NAME,
    WRONG,
    Account,
    Seeded,
    cli,
    create_account,
    form_token,
    operations,
    sign_in,
    signed_in,
)
from tests.helpers import (
    HubClient,
    hub_process,
    rows,
    served_hub,
)

# --- accounts ------------------------------------------------------------------------------------


def test_an_account_from_the_command_line_signs_in_and_out(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa.taro")
    (stored,) = rows(database_url, "SELECT * FROM accounts")
    recorded = " ".join(str(value) for value in stored)
    assert account.password not in recorded and account.totp.secret not in recorded
    assert stored.password_hash.startswith("$argon2id$")
    signed = sign_in(browser_client, account)
    assert signed.status_code == 303 and signed.headers["location"] == "/console", signed.text
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # the hub is reached over http here
    (session,) = rows(database_url, "SELECT id_hash FROM console_sessions")
    session_id = browser_client.cookies["platform_hub_console"]
    assert session_id not in session.id_hash and len(session.id_hash) == 64  # its hash only
    home = browser_client.get("/console")
    assert home.status_code == 200 and "監査 太郎" in home.text and "連携記録" in home.text
    assert "やりとり履歴" in home.text
    token = form_token(home.text)
    assert browser_client.post("/console/signout", data={}).status_code == 403  # without its token
    out = browser_client.post("/console/signout", data={"csrf": token})
    assert out.status_code == 303 and "signed_out" in out.headers["location"]
    assert rows(database_url, "SELECT id_hash FROM console_sessions") == []
    browser_client.cookies.set("platform_hub_console", session_id, path="/console")  # the old cookie
    again = browser_client.get("/console")
    assert again.status_code == 303 and again.headers["location"] == "/console/signin"
    assert operations(database_url, "console.signin") == [
        ("console:kansa.taro", "auditor", "ok", "signed in")
    ]
    assert [entry[2] for entry in operations(database_url, "console.signout")] == ["refused", "ok"]
    assert [entry[0] for entry in operations(database_url, "account.create")] != []


def test_a_wrong_login_password_or_code_is_one_answer(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    wrong_code = f"{(int(account.totp.now()) + 1) % 1_000_000:06d}"
    answers = [
        sign_in(browser_client, account, login="nobody"),
        sign_in(browser_client, account, password="not-the-password"),
        sign_in(browser_client, account, code=wrong_code),
        sign_in(browser_client, account, code="12ab56"),
    ]
    for answer in answers:
        assert answer.status_code == 401 and WRONG in answer.text, answer.text
    recorded = " ".join(str(row) for row in rows(database_url, "SELECT * FROM operations"))
    assert "nobody" not in recorded and "not-the-password" not in recorded and wrong_code not in recorded
    assert [entry[0] for entry in operations(database_url, "console.signin")] == [
        "console:-",
        "console:kansa",
        "console:kansa",
        "console:kansa",
    ]


def test_a_code_signs_in_once(
    hub: HubClient, browser_client: httpx.Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    code = account.totp.now()
    assert sign_in(browser_client, account, code=code).status_code == 303
    with httpx.Client(base_url=str(hub.http.base_url)) as other:
        replayed = sign_in(other, account, code=code)
    assert replayed.status_code == 401 and WRONG in replayed.text


def test_five_wrong_codes_lock_the_account(
    hub: HubClient,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    for _ in range(4):
        assert WRONG in sign_in(browser_client, account, code="000000").text
    locking = sign_in(browser_client, account, code="000000")
    assert locking.status_code == 423 and "ロックされています" in locking.text
    right = sign_in(browser_client, account)  # the right code, while locked
    assert right.status_code == 423 and "ロックされています" in right.text
    failures = operations(database_url, "console.signin")
    assert len(failures) == 6 and {entry[2] for entry in failures} == {"refused"}
    assert failures[0][3] == "wrong login, password or code (1 in a row)"
    assert failures[4][3] == "wrong login, password or code: locked" and failures[5][3] == "locked"
    (lock,) = operations(database_url, "console.lock")
    assert lock[0] == "console:kansa" and lock[3] is not None and lock[3].startswith("locked until ")
    listed = cli(settings, monkeypatch, "accounts", "list", "--json")
    assert '"locked_until": "20' in listed
    cli(settings, monkeypatch, "accounts", "unlock", "kansa")
    later = account.totp.at(time.time() + 30)  # a code not used before: the next time step's
    assert sign_in(browser_client, account, code=later).status_code == 303


def at_once(hub: HubClient, count: int, **form: str) -> list[int]:
    """``count`` sign-ins posted together, each from a browser of its own (its own form and cookie):
    their statuses."""
    browsers = [httpx.Client(base_url=str(hub.http.base_url), timeout=60) for _ in range(count)]
    tokens = [form_token(browser.get("/console/signin").text) for browser in browsers]
    ready = threading.Barrier(count)

    def post(n: int) -> int:
        ready.wait()
        return browsers[n].post("/console/signin", data={"csrf": tokens[n], **form}).status_code

    try:
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(post, range(count)))
    finally:
        for browser in browsers:
            browser.close()


def test_wrong_sign_ins_at_once_still_lock_the_account(
    hub: HubClient, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each wrong try counts, however many arrive together: a count read before the others wrote it
    would let a guesser past the five tries by sending them at once."""
    account = create_account(settings, monkeypatch, "kansa")
    statuses = at_once(hub, 12, login="kansa", password="not-the-password", code="000000")
    assert set(statuses) <= {401, 423} and 423 in statuses, statuses
    (stored,) = rows(database_url, "SELECT locked_until FROM accounts")
    assert stored.locked_until is not None
    assert operations(database_url, "console.lock") != []
    with httpx.Client(base_url=str(hub.http.base_url)) as browser:
        assert sign_in(browser, account).status_code == 423  # the right password and code, locked


def test_one_code_at_once_signs_in_once(
    hub: HubClient, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    statuses = at_once(hub, 8, login="kansa", password=account.password, code=account.totp.now())
    # The others tried a used code: each a wrong try, as a code used before is (seven lock the account).
    assert statuses.count(303) == 1 and set(statuses) - {303} <= {401, 423}, statuses
    assert len(rows(database_url, "SELECT id_hash FROM console_sessions")) == 1


@pytest.mark.parametrize("login", ["kansa", "nobody"], ids=["known", "unknown"])
def test_a_password_check_leaves_the_event_loop_free(
    hub: HubClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, login: str
) -> None:
    """argon2id takes a fifth of a second of CPU by design: on the event loop, every sign-in, even of
    a login nobody has, would stop every message and page of the hub for as long."""
    create_account(settings, monkeypatch, "kansa")
    vault = load_vault(settings.key_file)  # the served hub made it

    async def sign_in_beside_a_ticker() -> tuple[accounts.SignIn, float, float]:
        engine = create_engine(settings.async_database_url)
        gaps: list[float] = []

        async def tick() -> None:
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.005)
                gaps.append(time.perf_counter() - last)
                last = time.perf_counter()

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        async with unit_of_work(create_sessionmaker(engine)) as session:
            tried = await accounts.sign_in(session, vault, settings, login, "not-the-password", "000000")
        took = time.perf_counter() - started
        ticker.cancel()
        await engine.dispose()
        return tried, took, max(gaps)

    tried, took, longest_gap = asyncio.run(sign_in_beside_a_ticker())
    assert tried.outcome is accounts.SignInOutcome.WRONG
    assert longest_gap < took / 2, (longest_gap, took)


@pytest.mark.parametrize(
    ("limit", "said"),
    [
        ("console_idle_timeout_seconds", "一定時間操作がなかった"),
        ("console_session_lifetime_seconds", "時間がたった"),
    ],
    ids=["idle", "lifetime"],
)
def test_a_session_ends_when_idle_or_old(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch, limit: str, said: str
) -> None:
    short = settings.model_copy(update={limit: 1.0})
    reason = "idle" if limit == "console_idle_timeout_seconds" else "lifetime"
    with served_hub(short) as (url, _), httpx.Client(base_url=url) as http:
        signed_in(http, settings, monkeypatch, "auditor", "kansa")
        assert http.get("/console").status_code == 200
        if reason == "lifetime":  # busy all along: its age ends it
            time.sleep(0.5)
            assert http.get("/console").status_code == 200
        time.sleep(1.2)
        ended = http.get("/console")
        assert ended.status_code == 303 and ended.headers["location"] == f"/console/signin?expired={reason}"
        assert said in http.get(ended.headers["location"]).text
    assert rows(database_url, "SELECT id_hash FROM console_sessions") == []


def test_disable_and_reset_end_the_sessions(
    hub: HubClient, browser_client: httpx.Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    assert sign_in(browser_client, account).status_code == 303
    said = cli(settings, monkeypatch, "accounts", "reset", "kansa")
    fields = dict(line.split("=", 1) for line in said.splitlines() if "=" in line)
    assert fields["initial_password"] != account.password and fields["totp_uri"] != account.uri
    assert browser_client.get("/console").status_code == 303  # signed out by the reset
    renewed = Account(
        "kansa", fields["initial_password"], pyotp.parse_uri(fields["totp_uri"]), fields["totp_uri"]
    )  # type: ignore[arg-type]
    assert sign_in(browser_client, account, code=renewed.totp.now()).status_code == 401  # the old password
    assert sign_in(browser_client, renewed).status_code == 303
    cli(settings, monkeypatch, "accounts", "disable", "kansa")
    assert browser_client.get("/console").status_code == 303
    refused = sign_in(browser_client, renewed, code=renewed.totp.at(time.time() + 30))
    assert refused.status_code == 401 and "使用できません" in refused.text


def test_the_sign_in_form_needs_its_token(
    hub: HubClient, browser_client: httpx.Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = create_account(settings, monkeypatch, "kansa")
    browser_client.get("/console/signin")
    data = {"login": account.login, "password": account.password, "code": account.totp.now()}
    assert browser_client.post("/console/signin", data=data).status_code == 403
    assert browser_client.post("/console/signin", data={**data, "csrf": "forged"}).status_code == 403


def test_the_console_needs_no_bearer_token_and_names_no_other_origin(hub: HubClient) -> None:
    root = hub.http.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/console"
    signin = hub.http.get("/console/signin")
    assert signin.status_code == 200 and "サインイン" in signin.text
    assert hub.http.get("/console").status_code == 303
    for answer in (root, signin, hub.http.get("/console/static/console.css")):
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
    assert (
        "unsafe-inline" not in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    )
    assert "<style" not in signin.text and re.search(r"<script(?![^>]*\bsrc=)", signin.text) is None
    assert " style=" not in signin.text
    named = re.findall(r"""(?:src|href)=["']([^"']+)["']""", signin.text)
    assert named and not [url for url in named if "//" in url], named
    assert "/console/signin" not in hub.http.get("/openapi.json").json()["paths"]


# --- the pages -----------------------------------------------------------------------------------


def test_the_record_pages_for_an_auditor(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    everything = browser_client.get("/console/transfers")
    assert everything.status_code == 200 and "IF_ZEI_0001" in everything.text
    assert "拒否" in everything.text and seeded.integrated_number in everything.text
    refused = browser_client.get("/console/transfers", params={"outcome": "refused"})
    assert refused.status_code == 200
    assert (
        refused.text.count('class="outcome-refused"') == 1 and 'class="outcome-provided"' not in refused.text
    )
    bad = browser_client.get("/console/transfers", params={"unit": "<b>"})
    assert bad.status_code == 400 and "&lt;b&gt;" in bad.text and "<b>" not in bad.text
    csv = browser_client.get("/console/transfers.csv", params={"outcome": "refused"})
    assert (
        csv.status_code == 200 and csv.text.startswith("\ufeff記録番号") and len(csv.text.splitlines()) == 2
    )
    found = browser_client.post(
        "/console/persons",
        data={"csrf": form_token(everything.text), "name": "山田太郎", "birth_date": "1985-04-01"},
    )
    assert found.status_code == 200 and f"/console/persons/{seeded.integrated_number}" in found.text
    assert (
        browser_client.post(
            "/console/persons", data={"name": "山田太郎", "birth_date": "1985-04-01"}
        ).status_code
        == 403
    )
    history = browser_client.get(f"/console/persons/{seeded.integrated_number}")
    assert history.status_code == 200 and "山田" in history.text and "1985-04-01" in history.text
    assert seeded.integrated_number in history.text and "地方税関係情報" in history.text
    assert 'media="print"' in history.text
    script = browser_client.get(f"/console/persons/{seeded.script_person}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in script.text and SCRIPT_NAME not in script.text
    for shown in (everything, refused, found, history, script, csv):
        assert MY_NUMBER not in shown.text
    readings = operations(database_url, "audit.person")
    assert [entry[:3] for entry in readings] == [("console:kansa", "auditor", "ok")] * 2
    subjects = rows(
        database_url, "SELECT subject_integrated_number FROM operations WHERE action = 'audit.person'"
    )
    assert [row[0] for row in subjects] == [seeded.integrated_number, seeded.script_person]
    listed = [(entry[0], entry[2]) for entry in operations(database_url, "audit.transfers")]
    assert listed == [("console:kansa", "ok"), ("console:kansa", "ok"), ("console:kansa", "refused")]
    assert [entry[0] for entry in operations(database_url, "audit.transfers_csv")] == ["console:kansa"]
    searched = operations(database_url, "registry.search")
    assert searched[-2][0] == "console:kansa" and searched[-1][2] == "refused"  # the one without a token
    recorded = " ".join(str(row) for row in rows(database_url, "SELECT * FROM operations"))
    assert "山田太郎" not in recorded and "1985-04-01" not in recorded and MY_NUMBER not in recorded


def test_a_my_number_typed_into_a_filter_is_not_shown_back(
    hub: HubClient, browser_client: httpx.Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clerk who types a 個人番号 where the 団体内統合宛名番号 goes (or as a client id) is told it is
    no filter; the page does not show the number back, in the message or in the field."""
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    for path, field in (("/console/transfers", "integrated_number"), ("/console/operations", "client")):
        for typed in (MY_NUMBER, f"{MY_NUMBER[:4]}-{MY_NUMBER[4:8]}-{MY_NUMBER[8:]}"):
            answer = browser_client.get(path, params={field: typed})
            assert answer.status_code == 400 and "************" in answer.text, path
            assert MY_NUMBER[:4] not in re.sub(r"\s", "", answer.text).replace("************", ""), path


def test_a_my_number_in_a_url_is_masked_in_the_access_log(settings: Settings, tmp_path: Path) -> None:
    """uvicorn logs each request's path with its query: a 個人番号 sent there (a REST query's item, a
    console filter) is masked before the line is written."""
    log = tmp_path / "hub.log"
    with hub_process(settings.model_copy(update={"log_level": "INFO"}), log=log) as running:
        full_width = MY_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        spaced = f"{MY_NUMBER[:4]} {MY_NUMBER[4:8]} {MY_NUMBER[8:]}"  # as a GET form sends it: with +
        for path, params in (
            ("/console/transfers", {"integrated_number": MY_NUMBER}),
            ("/da/002/v1/IF_ZEI_0001", {"AtenaNo": MY_NUMBER}),
            ("/console/operations", {"client": full_width}),
            ("/console/operations", {"client": spaced}),
        ):
            httpx.get(f"{running.url}{path}", params=params)
    written = log.read_text()
    assert "GET /console/transfers?integrated_number=************" in written, written
    assert "GET /da/002/v1/IF_ZEI_0001?AtenaNo=************" in written, written
    assert written.count("GET /console/operations?client=************") == 2, written
    decoded = unicodedata.normalize("NFKC", unquote_plus(written)).replace(" ", "")
    assert MY_NUMBER not in written and MY_NUMBER not in decoded


def test_an_operator_opens_no_record_page(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in(browser_client, settings, monkeypatch, "operator", "unyou")
    home = browser_client.get("/console")
    assert home.status_code == 200 and "/console/transfers" not in home.text
    for path in (
        "/console/transfers",
        "/console/transfers.csv",
        f"/console/persons/{seeded.integrated_number}",
    ):
        refused = browser_client.get(path)
        assert refused.status_code == 403 and "権限がありません" in refused.text, path
        assert seeded.integrated_number not in refused.text
    assert [entry[:3] for entry in operations(database_url, "access.refuse")] == [
        ("console:unyou", "operator", "refused")
    ] * 3


def test_the_cookies_are_secure_behind_https(settings: Settings) -> None:
    https = settings.model_copy(update={"public_url": "https://hub.city.example"})
    with served_hub(https) as (url, _), httpx.Client(base_url=url) as http:
        form = http.get("/console/signin")
    assert form.status_code == 200 and "Secure" in form.headers["set-cookie"]
    assert "HttpOnly" in form.headers["set-cookie"]


def test_each_account_role_acts_as_the_client_role_it_matches() -> None:
    """Where the hub checks a client's role, an account's role counts as the matching one."""
    from platform_hub.accounts.service import ACCOUNT_GRANTS, acts_as
    from platform_hub.models import Account, AccountRole

    assert set(ACCOUNT_GRANTS) == set(AccountRole)
    auditor, office, operator = (Account(role=role) for role in list(AccountRole)[:3])
    assert acts_as(auditor, "auditor") and not acts_as(auditor, "admin")
    assert acts_as(office, "admin") and not acts_as(office, "auditor")
    assert acts_as(operator, "integrator") and not acts_as(operator, "admin")


def test_sign_ins_from_one_address_are_limited(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = settings.model_copy(update={"console_signin_rate_limit": "3/minute"})
    with served_hub(limited) as (url, _), httpx.Client(base_url=url) as http:
        account = create_account(settings, monkeypatch, "kansa")
        for login in ("a", "b", "c"):
            assert sign_in(http, account, login=login).status_code == 401
        refused = sign_in(http, account)  # the right password and code, past the limit
        assert refused.status_code == 429 and "試行が多すぎます" in refused.text
    details = [entry[3] for entry in operations(database_url, "console.signin")]
    assert details[-1] == "too many attempts from one address" and len(details) == 4


def test_behind_a_proxy_each_address_has_its_own_limit(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``platform-hub serve`` takes a sign-in's address from the X-Forwarded-For of a proxy it trusts
    (uvicorn's FORWARDED_ALLOW_IPS, loopback by default), so one address guessing behind the city's
    proxy does not lock out the people behind the same proxy."""
    limited = settings.model_copy(update={"console_signin_rate_limit": "3/minute"})
    with hub_process(limited) as running, httpx.Client(base_url=running.url) as http:
        account = create_account(settings, monkeypatch, "kansa")
        http.headers["X-Forwarded-For"] = "192.0.2.10"
        for login in ("a", "b", "c"):
            assert sign_in(http, account, login=login).status_code == 401
        assert sign_in(http, account).status_code == 429
        http.headers["X-Forwarded-For"] = "192.0.2.20"
        assert sign_in(http, account).status_code == 303


def test_the_record_pages_on_by_the_apis_keyset(
    seeded: Seeded,
    browser_client: httpx.Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from platform_hub.console import records

    monkeypatch.setattr(records, "PAGE_SIZE", 1)
    signed_in(browser_client, settings, monkeypatch, "auditor", "kansa")
    first = browser_client.get("/console/transfers", params={"unit": "011"})
    assert first.text.count("<tr class=") == 1 and "拒否" in first.text  # newest first
    found = re.search(r'href="(/console/transfers\?[^"]*cursor=[^"]+)" rel="next"', first.text)
    assert found, first.text
    second = browser_client.get(found.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and second.text.count("<tr class=") == 1
    assert 'class="outcome-provided"' in second.text and "unit=011" in second.text
    assert 'rel="next"' not in second.text and "最新のページへ" in second.text
