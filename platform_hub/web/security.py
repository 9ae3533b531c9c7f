"""FastAPI dependencies: the bearer token's principal, and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from platform_hub.audit.operations import Actor, record_refusal
from platform_hub.auth.service import Principal, verify_token
from platform_hub.protocol.errors import Forbidden, NotAuthenticated
from platform_hub.web.state import get_state

# Declared for OpenAPI (the /docs "Authorize" button); the token is checked by ``authenticate``.
oauth2_scheme = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes={})),
    auto_error=False,
)


def authenticate(request: Request) -> Principal:
    """The principal of the request's bearer token, or E2001."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("a bearer token is required (POST /oauth/token)")
    return verify_token(get_state(request).settings, token.strip())


async def current_principal(request: Request, _: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    """The caller, counted against its rate limit like its messages (one client cannot flood the JSON
    endpoints — the registry, the record — any more than the linkage endpoint)."""
    principal = authenticate(request)
    await get_state(request).rate_limit.take(principal.client_id)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: str) -> Callable[[Request, Principal], Awaitable[Principal]]:
    async def check(request: Request, principal: CurrentPrincipal) -> Principal:
        if not any(principal.acts_as(role) for role in roles):
            refusal = Forbidden(f"this needs the role {' or '.join(roles)}")
            actor = Actor(principal.client_id, principal.role, principal.unit_code)
            where = f"{request.method} {request.url.path}: {refusal.message}"
            await record_refusal(get_state(request), actor, "access.refuse", refusal, detail=where)
            raise refusal
        return principal

    return check


Admin = Annotated[Principal, Depends(require_role("admin"))]
Integrator = Annotated[Principal, Depends(require_role("integrator"))]
Auditor = Annotated[Principal, Depends(require_role("auditor"))]
