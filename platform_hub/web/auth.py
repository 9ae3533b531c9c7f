"""HTTP: the OAuth2 token endpoint and the admin's client management."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote_plus

import structlog
from fastapi import APIRouter, Depends, Form, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from platform_hub.audit.operations import Actor, masked, record_operation, record_refusal
from platform_hub.auth import service
from platform_hub.auth.schemas import ClientCreate, ClientCredentials, TokenResponse
from platform_hub.kit.text import unstorable
from platform_hub.protocol.errors import HubError, NotAuthenticated, RateLimited, SchemaViolation
from platform_hub.web.operations import Ops
from platform_hub.web.security import Admin
from platform_hub.web.state import HubState, Session, State

router = APIRouter(tags=["auth"])
log = structlog.get_logger()
basic_auth = HTTPBasic(auto_error=False)


@router.post("/oauth/token", response_model=TokenResponse)
async def issue_token(
    state: State,
    session: Session,
    basic: Annotated[HTTPBasicCredentials | None, Depends(basic_auth)],
    grant_type: Annotated[str, Form()],
    scope: Annotated[str | None, Form(max_length=2000)] = None,
    client_id: Annotated[str | None, Form(max_length=200)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
) -> TokenResponse:
    """OAuth2 client credentials grant (client_secret_basic, or client_secret_post)."""
    if grant_type != "client_credentials":
        raise SchemaViolation("grant_type must be client_credentials")
    if basic is not None:
        # RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding.
        client_id, client_secret = unquote_plus(basic.username), unquote_plus(basic.password)
    if not client_id or not client_secret:
        raise NotAuthenticated("client credentials are required (HTTP Basic)")
    if unstorable([client_id, client_secret, scope or ""]) or len(client_id) > 200:
        raise NotAuthenticated("invalid client credentials")
    if state.token_rate_limit is not None:  # guessing a client's secret goes no faster than this
        await state.token_rate_limit.take(f"token:{client_id}")
    try:
        role, unit_code, allowed = await service.authenticate_client(
            session, state.settings, state.catalog, client_id, client_secret
        )
        granted = service.grant_scopes(allowed, scope)
    except HubError as refused:  # 認証ログ: the refusal too, in a transaction of its own
        await _refused(state, client_id, scope, refused)
        raise
    token, expires_in = service.issue_token(
        state.settings, client_id=client_id, role=role, unit_code=unit_code, scopes=granted
    )
    if state.vault is not None:
        await record_operation(
            session,
            state.vault.record_key,
            Actor(client_id, role, unit_code),
            "token.issue",
            parameters={"scope": scope[:200] if scope else None},
        )
    return TokenResponse(access_token=token, expires_in=expires_in, scope=" ".join(sorted(granted)))


async def _refused(state: HubState, client_id: str, scope: str | None, error: HubError) -> None:
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
    await record_refusal(
        state, actor, "token.refuse", error, parameters={"scope": scope[:200] if scope else None}
    )


@router.post("/clients", response_model=ClientCredentials, status_code=status.HTTP_201_CREATED)
async def create_client(body: ClientCreate, ops: Ops, session: Session, _: Admin) -> ClientCredentials:
    """Create an auditor, integrator or admin client; the secret is shown only in this answer."""
    ops.expect("client.create", role=body.role)
    client, secret = await service.create_client(session, body.name, body.role)
    await ops.record(session, detail=f"client {client.client_id}")
    return ClientCredentials(client_id=client.client_id, client_secret=secret, role=client.role)
