"""Which deliverer takes a leased delivery: a batch's goes chunk by chunk, a notification's whole."""

from __future__ import annotations

import aiohttp
import structlog
from sqlalchemy.exc import SQLAlchemyError

from platform_hub.batches import delivery as batches
from platform_hub.linkage import deliveries
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import Delivery
from platform_hub.protocol.errors import HubError
from platform_hub.protocol.specs import Pattern

log = structlog.get_logger()


async def deliver(state: LinkageRuntime, delivery: Delivery, attempt: int) -> None:
    """Deliver one leased delivery and record it, or schedule its retry: whatever goes wrong, the
    queue never stalls (the dispatcher calls this with the row it leased, and its message)."""
    delivery_id = delivery.id
    try:
        ready = await deliveries.prepare_delivery(state, delivery)
        if ready.message.pattern == Pattern.BATCH:
            status = await batches.deliver(state, ready, delivery_id, attempt)
            await deliveries.finish_delivery(state, ready, delivery_id, attempt, status)
        else:
            await deliveries.deliver_notification(state, ready, delivery_id, attempt)
    except (HubError, aiohttp.ClientError, SQLAlchemyError, OSError) as exc:  # a unit, network, database
        error = exc.message if isinstance(exc, HubError) else f"{type(exc).__name__}: {exc}"
        await deliveries.retry_later(state, delivery_id, attempt, error)
    except Exception as exc:  # a bug: said as one, with its traceback, and the delivery still retried
        log.exception("delivery raised an unexpected error", delivery=delivery_id, attempt=attempt)
        await deliveries.retry_later(state, delivery_id, attempt, f"{type(exc).__name__}: {exc}")
