"""FastAPI dependencies: the bearer token's principal, and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, NoReturn

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


async def scraper(request: Request, _: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    """The caller, counted against its rate limit like its messages (one client cannot flood the JSON
    endpoints — the registry, the record — any more than the linkage endpoint); of any role, as
    /metrics takes it."""
    principal = authenticate(request)
    await get_state(request).rate_limit.take(principal.client_id)
    return principal


async def current_principal(request: Request, principal: Annotated[Principal, Depends(scraper)]) -> Principal:
    """The caller of any endpoint but /metrics: a monitor (Prometheus's client, whose secret sits in
    its configuration) is refused here, so that it opens neither the record nor the registry."""
    if principal.role == "monitor":
        await _refuse(request, principal, Forbidden("a monitor's token reads /metrics only"))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
Scraper = Annotated[Principal, Depends(scraper)]


def require_role(*roles: str) -> Callable[[Request, Principal], Awaitable[Principal]]:
    async def check(request: Request, principal: CurrentPrincipal) -> Principal:
        if not any(principal.acts_as(role) for role in roles):
            await _refuse(request, principal, Forbidden(f"this needs the role {' or '.join(roles)}"))
        return principal

    return check


async def _refuse(request: Request, principal: Principal, refusal: Forbidden) -> NoReturn:
    """E2002, recorded in the operations record as ``access.refuse``."""
    actor = Actor(principal.client_id, principal.role, principal.unit_code)
    where = f"{request.method} {request.url.path}: {refusal.message}"
    await record_refusal(get_state(request), actor, "access.refuse", refusal, detail=where)
    raise refusal


Admin = Annotated[Principal, Depends(require_role("admin"))]
Integrator = Annotated[Principal, Depends(require_role("integrator"))]
Auditor = Annotated[Principal, Depends(require_role("auditor"))]
