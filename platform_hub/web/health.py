"""HTTP: health and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from platform_hub.audit import anomalies, runs
from platform_hub.kit.clock import utcnow
from platform_hub.linkage import deliveries, delivery_queue
from platform_hub.models import VerificationState
from platform_hub.units import heartbeats
from platform_hub.web.security import Scraper
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
async def metrics(state: State, _: Scraper) -> Response:
    """Prometheus metrics (scrape with an OAuth2 client-credentials token, best a monitor's)."""
    metrics, now = state.metrics, utcnow()
    async with state.sessions() as session:
        metrics.pending.set(await deliveries.count_pending(session))
        metrics.dead_letters.set(await delivery_queue.count_dead_letters(session))
        queues = await delivery_queue.subscriber_queues(session)
        ages = await heartbeats.heartbeat_ages(session)
        refused = await anomalies.recently_refused(session)
        verified = await runs.latest(session)
    # Label sets of units gone (or emptied queues, quiet actions) are dropped, not left at their last value.
    metrics.oldest_pending.clear()
    for queue in queues:
        metrics.oldest_pending.labels(queue.unit).set(queue.oldest_age(now).total_seconds())
    metrics.heartbeat_age.clear()
    metrics.heartbeat_never.clear()
    for unit, age in ages.items():
        if age is None:
            metrics.heartbeat_never.labels(unit).set(1)
        else:
            metrics.heartbeat_age.labels(unit).set(age.total_seconds())
    metrics.operations_refused.clear()
    for action, count in refused.items():
        metrics.operations_refused.labels(action).set(count)
    if verified is not None and verified.finished_at is not None:  # any replica's, the console's, the CLI's
        metrics.verification_at.set(verified.finished_at.timestamp())
        metrics.verification_ok.set(1 if verified.state is VerificationState.OK else 0)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
