"""Signing in with the city's own identity provider: OpenID Connect's authorization code flow with
PKCE (RFC 7636), as an option beside the password and code. authlib makes the PKCE challenge and
the provider's URL, joserfc (authlib's JOSE) verifies the ID token, httpx talks to the provider
(authlib's httpx client warns that it is deprecated).

The provider says who the person is; the hub says what they may do. The claim
``console_oidc_login_claim`` must name a console account that exists here, is enabled and is not
locked, and the person signs in with that account's role — an account nobody made on the hub's
machine cannot sign in, whatever the provider says. The provider checks the person's factors.

Nothing of a half-done sign-in is kept on the server: the state is a random value in a cookie of its
own (SameSite=Lax, since the provider sends the browser back from another site), and the nonce and
the PKCE verifier are derived from it with a key of the hub's key file. Each sign-in and each
failure is in the operations record, as ``console.signin`` with the method named.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from platform_hub.accounts import service as accounts
from platform_hub.accounts.service import SignInOutcome
from platform_hub.console.pages import PREFIX, page
from platform_hub.console.signing import (
    FAILURES,
    SESSION_COOKIE,
    Refused,
    may_try,
    record_failure,
    record_signin,
    runtime,
    set_cookie,
    signin_page,
)
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.runtime import Runtime
from platform_hub.models import OperationOutcome

STATE_COOKIE = "platform_hub_console_oidc"
STATE_SECONDS = 600  # a person who takes longer at the provider starts again
CALLBACK = f"{PREFIX}/signin/oidc/callback"
TIMEOUT = httpx.Timeout(10.0)
NOT_SIGNED_IN = "認証基盤でサインインできませんでした。もう一度やり直してください"
NO_ACCOUNT = "認証基盤のアカウントに対応するコンソールのアカウントがありません。管理者に問い合わせてください"

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class ProviderUnusable(Exception):
    """The provider's answer cannot sign anybody in (unreachable, an error, a token that does not
    verify); the detail goes to the operations record, never to the page."""


@dataclass(frozen=True)
class Provider:
    """The endpoints the provider's discovery document names."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


@router.get("/signin/oidc")
async def start(request: Request) -> Response:
    """To the provider, with a new state; back at ``callback``."""
    hub = _configured(request)
    try:
        provider = await _provider(request)
    except ProviderUnusable as problem:
        return await _failed(request, hub, str(problem))
    state = secrets.token_urlsafe(32)
    url = add_params_to_uri(
        provider.authorization_endpoint,
        {
            "response_type": "code",
            "client_id": hub.settings.console_oidc_client_id or "",
            "redirect_uri": _redirect_uri(request, hub),
            "scope": "openid profile email",
            "state": state,
            "nonce": _derived(hub, "nonce", state),
            "code_challenge": create_s256_code_challenge(_derived(hub, "verifier", state)),
            "code_challenge_method": "S256",
        },
    )
    answer = RedirectResponse(url, status_code=303)
    public_url = hub.settings.public_url or ""
    answer.set_cookie(
        STATE_COOKIE,
        state,
        max_age=STATE_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=public_url.startswith("https://") or request.url.scheme == "https",
    )
    return answer


@router.get("/signin/oidc/callback")
async def callback(request: Request, state: str = "", code: str = "", error: str | None = None) -> Response:
    """The provider's answer: the code exchanged, the ID token verified, the account signed in."""
    hub = _configured(request)
    if error or not code:  # nothing to exchange, whatever the state: refused either way
        return await _failed(request, hub, f"the provider answered {error or 'without a code'}")
    expected = request.cookies.get(STATE_COOKIE)
    if not state or not expected or not hmac.compare_digest(state.encode(), expected.encode()):
        return await _failed(request, hub, "the state is not the one this browser was sent with")
    if not await may_try(request):
        return await _failed(request, hub, "too many attempts from one address")
    try:
        login = await _login_of(request, hub, state, code)
    except ProviderUnusable as problem:
        return await _failed(request, hub, str(problem))
    return await _sign_in(request, hub, login)


async def _sign_in(request: Request, hub: Runtime, login: str) -> Response:
    async with unit_of_work(hub.sessions) as session:
        tried = await accounts.signed_in_by_provider(session, login)
        if tried.outcome is not SignInOutcome.SIGNED_IN:
            await record_failure(hub, session, tried)
        else:
            assert tried.account is not None
            session_id, _ = await accounts.open_session(session, tried.account, hub.settings)
            await record_signin(hub, session, tried.account, OperationOutcome.OK, "signed in by OIDC")
    if tried.outcome is not SignInOutcome.SIGNED_IN:
        message = NO_ACCOUNT if tried.account is None else FAILURES[tried.outcome]
        answer = signin_page(request, error=message, status=403)
    else:
        # A page that moves on by itself, not a redirect: the browser arrived from the provider's site,
        # and a SameSite=Strict session cookie travels only on a navigation the hub's page starts.
        answer = page("signed_in.html", {"to": PREFIX})
        set_cookie(request, answer, SESSION_COOKIE, session_id)
    answer.delete_cookie(STATE_COOKIE, path=PREFIX)
    return answer


async def _failed(request: Request, hub: Runtime, detail: str) -> Response:
    async with unit_of_work(hub.sessions) as session:
        await record_signin(hub, session, None, OperationOutcome.REFUSED, f"OIDC: {detail}")
    answer = signin_page(request, error=NOT_SIGNED_IN, status=403)
    answer.delete_cookie(STATE_COOKIE, path=PREFIX)
    return answer


async def _login_of(request: Request, hub: Runtime, state: str, code: str) -> str:
    """The console login the provider vouches for, from an ID token that verified."""
    provider = await _provider(request)
    settings = hub.settings
    client_id = settings.console_oidc_client_id or ""
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answer = await client.post(
                provider.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": _redirect_uri(request, hub),
                    "code_verifier": _derived(hub, "verifier", state),
                },
                auth=(client_id, settings.console_oidc_client_secret or ""),
            )
            token = answer.raise_for_status().json()
            keys = KeySet.import_key_set((await client.get(provider.jwks_uri)).raise_for_status().json())
            claims = _verified(provider, client_id, token["id_token"], keys, _derived(hub, "nonce", state))
            login = claims.get(settings.console_oidc_login_claim)
            if login is None and provider.userinfo_endpoint:
                bearer = {"authorization": f"Bearer {token['access_token']}"}
                info = await client.get(provider.userinfo_endpoint, headers=bearer)
                info = info.raise_for_status().json()
                if info.get("sub") == claims["sub"]:
                    login = info.get(settings.console_oidc_login_claim)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as problem:
        raise ProviderUnusable(f"the provider's answer is unusable: {type(problem).__name__}") from problem
    if not isinstance(login, str):
        raise ProviderUnusable(f"no {settings.console_oidc_login_claim} claim")
    return login.strip().lower()


def _verified(provider: Provider, client_id: str, id_token: str, keys: KeySet, nonce: str) -> dict[str, Any]:
    """The ID token's claims: signed by the provider's key, issued by it, to this client, for this
    sign-in (the nonce), not expired."""
    try:
        token = jwt.decode(id_token, keys)
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except JoseError as problem:
        raise ProviderUnusable(f"the ID token does not verify: {problem.error}") from problem
    return dict(token.claims)


async def _provider(request: Request) -> Provider:
    """The provider's discovery document, read once per hub process."""
    known: Provider | None = getattr(request.app.state, "console_oidc_provider", None)
    if known is not None:
        return known
    issuer = (runtime(request).settings.console_oidc_issuer or "").rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answer = await client.get(f"{issuer}/.well-known/openid-configuration")
            document = answer.raise_for_status().json()
        provider = Provider(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=document.get("userinfo_endpoint"),
        )
    except (httpx.HTTPError, ValueError, KeyError) as problem:
        raise ProviderUnusable(f"no discovery document at {issuer}: {type(problem).__name__}") from problem
    if provider.issuer.rstrip("/") != issuer:
        raise ProviderUnusable(f"the discovery document names another issuer, {provider.issuer}")
    request.app.state.console_oidc_provider = provider
    return provider


def _configured(request: Request) -> Runtime:
    hub = runtime(request)
    if not hub.settings.console_oidc_issuer:
        raise Refused("このハブでは認証基盤でのサインインを使いません", 404)
    return hub


def _redirect_uri(request: Request, hub: Runtime) -> str:
    base = (hub.settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}{CALLBACK}"


def _derived(hub: Runtime, purpose: str, state: str) -> str:
    """A sign-in's nonce or PKCE verifier: only the hub can compute it from the state."""
    key = hub.require_vault().console_key
    return hmac.new(key, f"{purpose}:{state}".encode(), hashlib.sha256).hexdigest()
