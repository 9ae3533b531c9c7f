"""HTTP: health and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from platform_hub.linkage import deliveries
from platform_hub.web.security import CurrentPrincipal
from platform_hub.web.state import State

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={503: {"description": "not serving, with reasons"}})
async def healthz(state: State) -> JSONResponse:
    """200 when serving; 503 with the reasons when not. The only endpoint without authentication."""
    reasons = []
    try:
        async with asyncio.timeout(3), state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        reasons.append(f"database unavailable: {type(exc).__name__}")
    if state.vault is None:
        reasons.append(f"My Number key file missing or unusable: {state.settings.key_file}")
    if state.signing_key is None:
        reasons.append(f"checkpoint signing key missing or unusable: {state.settings.signing_key_file}")
    if state.settings.sealer_enabled and (state.sealer is None or state.sealer.done()):
        reasons.append("the record's sealer is not running")
    dispatcher = state.dispatcher
    if state.settings.dispatcher_enabled and (dispatcher is None or dispatcher.done()):
        reasons.append("notification dispatcher is not running")
    if reasons:
        return JSONResponse({"status": "unavailable", "reasons": reasons}, status_code=503)
    return JSONResponse({"status": "ok", "interfaces": len(state.catalog.interfaces)})


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(state: State, _: CurrentPrincipal) -> Response:
    """Prometheus metrics (scrape with an OAuth2 client-credentials token)."""
    async with state.sessions() as session:
        state.metrics.pending.set(await deliveries.count_pending(session))
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
