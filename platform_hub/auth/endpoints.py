"""HTTP: the OAuth2 token endpoint and the admin's client management."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from platform_hub.adapters import service as adapters
from platform_hub.auth import repository, service
from platform_hub.auth.dependencies import Admin
from platform_hub.auth.schemas import ClientCreate, ClientCredentials, TokenResponse
from platform_hub.kit.errors import NotAuthenticated, SchemaViolation
from platform_hub.kit.state import Session, State
from platform_hub.models import Client

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
        client_id, client_secret = unquote(basic.username), unquote(basic.password)
    if not client_id or not client_secret:
        raise NotAuthenticated("client credentials are required (HTTP Basic)")
    role, unit_code, allowed = await _authenticate_client(state, session, client_id, client_secret)
    granted = service.grant_scopes(allowed, scope)
    token, expires_in = service.issue_token(
        state.settings, client_id=client_id, role=role, unit_code=unit_code, scopes=granted
    )
    return TokenResponse(access_token=token, expires_in=expires_in, scope=" ".join(sorted(granted)))


async def _authenticate_client(
    state: State, session: Session, client_id: str, secret: str
) -> tuple[str, str | None, set[str]]:
    """``(role, unit code, allowed scopes)`` of a client whose secret matches, or E2001."""
    settings = state.settings
    if settings.admin_client_id and settings.admin_client_secret and client_id == settings.admin_client_id:
        if service.secret_matches(secret, service.hash_secret(settings.admin_client_secret)):
            return "admin", None, {"admin"}
        raise NotAuthenticated("invalid client credentials")
    client = await repository.get_client(session, client_id)
    if client is None or not service.secret_matches(secret, client.secret_hash) or not client.enabled:
        raise NotAuthenticated("invalid client credentials")
    if client.role != "unit":
        return client.role, None, {client.role}
    unit = await adapters.get_unit(session, client.unit_code or "")
    if not unit.enabled:
        raise NotAuthenticated(f"unit {unit.code} is disabled")
    return "unit", unit.code, adapters.unit_scopes(unit, state.catalog)


@router.post("/clients", response_model=ClientCredentials, status_code=status.HTTP_201_CREATED)
async def create_client(body: ClientCreate, session: Session, _: Admin) -> ClientCredentials:
    """Create an auditor, integrator or admin client; the secret is shown only in this answer."""
    secret = service.new_secret()
    client = repository.add_client(
        session,
        Client(
            client_id=service.new_client_id(body.role),
            secret_hash=service.hash_secret(secret),
            name=body.name,
            role=body.role,
        ),
    )
    await session.flush()
    return ClientCredentials(client_id=client.client_id, client_secret=secret, role=client.role)
