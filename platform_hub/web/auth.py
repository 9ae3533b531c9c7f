"""HTTP: the OAuth2 token and introspection endpoints, and the admin's client management."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote_plus

import structlog
from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.operations import Actor, masked, record_operation, record_refusal
from platform_hub.auth import service
from platform_hub.auth.assertions import ASSERTION_TYPE, ClientAssertion, claimed_client
from platform_hub.auth.schemas import ClientCreate, ClientCredentials, TokenResponse
from platform_hub.kit.settings import Settings
from platform_hub.kit.text import unstorable
from platform_hub.protocol.errors import (
    Forbidden,
    HubError,
    NotAuthenticated,
    RateLimited,
    SchemaViolation,
)
from platform_hub.web.operations import Ops
from platform_hub.web.security import Admin
from platform_hub.web.state import HubState, Session, State

router = APIRouter(tags=["auth"])
log = structlog.get_logger()
basic_auth = HTTPBasic(auto_error=False)


# What a client authenticates with at the OAuth endpoints: the form's fields beside HTTP Basic.
ClientIdField = Annotated[str | None, Form(max_length=200)]
SecretField = Annotated[str | None, Form(max_length=200)]
AssertionTypeField = Annotated[str | None, Form(max_length=200)]
AssertionField = Annotated[str | None, Form(max_length=4000)]
BASIC_INTERIM = (
    "client_secret_basic and client_secret_post are the Digital Agency's interim measure: move to "
    "client_secret_jwt (RFC 7523)"
)
# The hub's error classes as RFC 6749 §5.2 names them, beside the hub's code on the OAuth endpoints.
OAUTH_ERRORS: dict[type[HubError], str] = {
    NotAuthenticated: "invalid_client",
    Forbidden: "invalid_scope",
    SchemaViolation: "invalid_request",
}


@dataclass(frozen=True)
class ClientForm:
    """The client authentication a request to an OAuth endpoint carries (one method of three)."""

    basic: HTTPBasicCredentials | None
    client_id: str | None
    client_secret: str | None
    assertion_type: str | None
    assertion: str | None

    @property
    def method(self) -> str:
        if self.assertion is not None or self.assertion_type is not None:
            return "client_secret_jwt"
        return "client_secret_basic" if self.basic is not None else "client_secret_post"

    def claimed_id(self) -> str:
        """The client id the request names, for the rate limit and the record (not yet verified)."""
        if self.method == "client_secret_jwt":
            claimed = claimed_client(self.assertion or "")
            if self.client_id is not None and self.client_id != claimed:
                raise NotAuthenticated("the form's client_id is not the client assertion's iss")
            return claimed
        if self.basic is not None:
            # RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding.
            return unquote_plus(self.basic.username)
        if not self.client_id:
            raise NotAuthenticated("client credentials are required (client_secret_jwt, or HTTP Basic)")
        return self.client_id

    def secret(self) -> str:
        return unquote_plus(self.basic.password) if self.basic is not None else self.client_secret or ""


def client_form(
    basic: Annotated[HTTPBasicCredentials | None, Depends(basic_auth)],
    client_id: ClientIdField = None,
    client_secret: SecretField = None,
    client_assertion_type: AssertionTypeField = None,
    client_assertion: AssertionField = None,
) -> ClientForm:
    return ClientForm(basic, client_id, client_secret, client_assertion_type, client_assertion)


ClientAuth = Annotated[ClientForm, Depends(client_form)]


@dataclass(frozen=True)
class Caller:
    """A client authenticated at an OAuth endpoint, and how."""

    client_id: str
    role: str
    unit_code: str | None
    allowed: set[str]
    method: str
    assertion: ClientAssertion | None = None  # its jti is kept once the request is granted

    @property
    def actor(self) -> Actor:
        return Actor(self.client_id, self.role, self.unit_code)


async def authenticated(
    state: HubState, session: AsyncSession, request: Request, form: ClientForm, client_id: str
) -> Caller:
    """The client, authenticated by the method its request uses, or E2001."""
    settings = state.settings
    if form.method == "client_secret_jwt":
        if form.basic is not None or form.client_secret is not None:
            raise NotAuthenticated("one client authentication method per request, not two")
        if form.assertion_type != ASSERTION_TYPE or not form.assertion:
            raise NotAuthenticated(f"client_assertion_type must be {ASSERTION_TYPE}, with a client_assertion")
        verified, role, unit_code, allowed = await service.authenticate_assertion(
            session, settings, state.catalog, state.vault, form.assertion, audiences(settings, request)
        )
        return Caller(client_id, role, unit_code, allowed, form.method, verified)
    if not settings.client_secret_basic:
        raise NotAuthenticated(f"{form.method} is turned off on this hub: use client_secret_jwt")
    secret = form.secret()
    if not secret:
        raise NotAuthenticated("client credentials are required (client_secret_jwt, or HTTP Basic)")
    if unstorable([client_id, secret]):
        raise NotAuthenticated("invalid client credentials")
    role, unit_code, allowed = await service.authenticate_client(
        session, settings, state.catalog, client_id, secret
    )
    return Caller(client_id, role, unit_code, allowed, form.method)


def audiences(settings: Settings, request: Request) -> set[str]:
    """What a client assertion's aud may name: the endpoint it is sent to — by the URL the request
    came to, or by the hub's public URL (behind a TLS proxy the two differ) — and the token endpoint,
    which RFC 7523 names, at the introspection endpoint too."""
    paths = {request.url.path, TOKEN_PATH}
    named = {str(request.url.replace(query="", fragment="")), str(request.base_url).rstrip("/") + TOKEN_PATH}
    if settings.public_url:
        named |= {settings.public_url.rstrip("/") + path for path in paths}
    return named


def _in_oauth_form(error: HubError) -> HubError:
    if error.oauth_error is None:
        named = (name for kind, name in OAUTH_ERRORS.items() if isinstance(error, kind))
        error.oauth_error = next(named, None)
    return error


TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret


@router.post(TOKEN_PATH, response_model=TokenResponse, response_model_exclude_none=True)
async def issue_token(
    state: State,
    session: Session,
    request: Request,
    form: ClientAuth,
    grant_type: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str | None, Form(max_length=2000)] = None,
) -> TokenResponse:
    """OAuth2 client credentials grant. The client authenticates with client_secret_jwt
    (``client_assertion_type`` and ``client_assertion``, RFC 7523), or — the interim measure, unless
    ``PLATFORM_HUB_CLIENT_SECRET_BASIC`` is false — client_secret_basic or client_secret_post. No
    refresh tokens: a client asks for a new token when its token runs out."""
    try:
        if grant_type == "refresh_token":
            raise SchemaViolation("no refresh tokens: ask for a new token with client_credentials")
        if grant_type != "client_credentials":
            raise SchemaViolation("grant_type must be client_credentials")
        client_id = form.claimed_id()
        if unstorable([client_id, scope or ""]) or len(client_id) > 200:
            raise NotAuthenticated("invalid client credentials")
    except HubError as refused:
        error = _in_oauth_form(refused)
        if isinstance(error, SchemaViolation) and grant_type is not None:
            error.oauth_error = "unsupported_grant_type"
        raise error from None
    if state.token_rate_limit is not None:  # guessing a client's secret goes no faster than this
        await state.token_rate_limit.take(f"token:{client_id}")
    try:
        caller = await authenticated(state, session, request, form, client_id)
        granted = service.grant_scopes(caller.allowed, scope)
        if caller.assertion is not None:
            await service.use_assertion(session, caller.assertion)
    except HubError as refused:  # 認証ログ: the refusal too, in a transaction of its own
        await session.rollback()  # a used jti's insert holds SQLite's write turn the refusal needs
        await _refused(state, client_id, "token.refuse", {"scope": scope[:200] if scope else None}, refused)
        raise _in_oauth_form(refused) from None
    token, expires_in = service.issue_token(
        state.settings, client_id=client_id, role=caller.role, unit_code=caller.unit_code, scopes=granted
    )
    if state.vault is not None:
        await record_operation(
            session,
            state.vault.record_key,
            caller.actor,
            "token.issue",
            parameters={"scope": scope[:200] if scope else None, "method": caller.method},
        )
    return TokenResponse(
        access_token=token,
        expires_in=expires_in,
        scope=" ".join(sorted(granted)),
        notice=None if caller.method == "client_secret_jwt" else BASIC_INTERIM,
    )


@router.post("/oauth/introspect", response_model=dict[str, object])
async def introspect_token(
    state: State,
    session: Session,
    request: Request,
    form: ClientAuth,
    token: Annotated[str, Form(max_length=4000)],
    token_type_hint: Annotated[str | None, Form(max_length=64)] = None,
) -> dict[str, object]:
    """Token introspection (RFC 7662), for a provider that checks the tokens it is shown itself. The
    caller authenticates as a client (client_secret_jwt, or the interim basic); a token is
    ``active`` only for the unit its Digital Agency scopes name as their provider."""
    try:
        client_id = form.claimed_id()
        if unstorable([client_id]) or len(client_id) > 200:
            raise NotAuthenticated("invalid client credentials")
    except HubError as refused:
        raise _in_oauth_form(refused) from None
    await state.rate_limit.take(f"introspect:{client_id}")
    try:
        caller = await authenticated(state, session, request, form, client_id)
        if caller.assertion is not None:
            await service.use_assertion(session, caller.assertion)
    except HubError as refused:
        await session.rollback()  # as at the token endpoint
        await _refused(state, client_id, "token.introspect", {}, refused)
        raise _in_oauth_form(refused) from None
    answer = service.introspection(state.settings, token, caller.unit_code if caller.role == "unit" else None)
    if state.vault is not None:  # who asked about whose token — never the token
        await record_operation(
            session,
            state.vault.record_key,
            caller.actor,
            "token.introspect",
            parameters={
                "active": answer["active"],
                "token_client": answer.get("client_id"),
                "method": caller.method,
            },
        )
    return answer


async def _refused(
    state: HubState, client_id: str, action: str, parameters: dict[str, object], error: HubError
) -> None:
    """A refusal in the operations record — within a budget shared by every caller: anyone can send
    refused requests, each under a client id of its own, and the record is no place to flood."""
    if state.token_rate_limit is None:
        return
    try:
        await state.token_rate_limit.take("token-refusals")
    except RateLimited:
        log.warning("token refusals beyond the record's budget are not recorded one by one")
        return
    actor = Actor(masked(client_id) or "-", "unknown")  # as the caller typed it: never kept as it came
    await record_refusal(state, actor, action, error, parameters=parameters)


@router.post("/clients", response_model=ClientCredentials, status_code=status.HTTP_201_CREATED)
async def create_client(
    body: ClientCreate, ops: Ops, state: State, session: Session, _: Admin
) -> ClientCredentials:
    """Create an auditor, integrator, admin or monitor client; the secret is shown only in this answer."""
    ops.expect("client.create", role=body.role)
    client, secret = await service.create_client(session, body.name, body.role, vault=state.require_vault())
    await ops.record(session, detail=f"client {client.client_id}")
    return ClientCredentials(client_id=client.client_id, client_secret=secret, role=client.role)
