"""HTTP: the OAuth2 token endpoint and the admin's client management."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Form, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from platform_hub.auth import repository, service
from platform_hub.auth.dependencies import Admin
from platform_hub.auth.schemas import ClientCreate, ClientCredentials, TokenResponse
from platform_hub.kit.errors import NotAuthenticated, SchemaViolation
from platform_hub.kit.state import Session, State

router = APIRouter(tags=["auth"])
basic_auth = HTTPBasic(auto_error=False)


@router.post("/oauth/token", response_model=TokenResponse)
async def issue_token(
    state: State,
    session: Session,
    basic: Annotated[HTTPBasicCredentials | None, Depends(basic_auth)],
    grant_type: Annotated[str, Form()],
    scope: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
) -> TokenResponse:
    """OAuth2 client credentials grant (client_secret_basic, or client_secret_post)."""
    if grant_type != "client_credentials":
        raise SchemaViolation("grant_type must be client_credentials")
    if basic is not None:
        # RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding.
        client_id, client_secret = unquote_plus(basic.username), unquote_plus(basic.password)
    if not client_id or not client_secret:
        raise NotAuthenticated("client credentials are required (HTTP Basic)")
    role, unit_code, allowed = await service.authenticate_client(
        session, state.settings, state.catalog, client_id, client_secret
    )
    granted = service.grant_scopes(allowed, scope)
    token, expires_in = service.issue_token(
        state.settings, client_id=client_id, role=role, unit_code=unit_code, scopes=granted
    )
    return TokenResponse(access_token=token, expires_in=expires_in, scope=" ".join(sorted(granted)))


@router.post("/clients", response_model=ClientCredentials, status_code=status.HTTP_201_CREATED)
async def create_client(body: ClientCreate, session: Session, _: Admin) -> ClientCredentials:
    """Create an auditor, integrator or admin client; the secret is shown only in this answer."""
    client, secret = service.new_client(body.name, body.role)
    repository.add_client(session, client)
    await session.flush()
    return ClientCredentials(client_id=client.client_id, client_secret=secret, role=client.role)
