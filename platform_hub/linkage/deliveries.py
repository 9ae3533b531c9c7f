"""The delivery queue: notifications to subscribers, enqueued with the message, delivered from a
lease, retried with backoff, recorded when delivered, refused or dead."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import resident_changes
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import repository, unit_client
from platform_hub.linkage.configuration import Configuration
from platform_hub.linkage.inbound import Inbound, Prepared, payload_fields
from platform_hub.linkage.records import delivery_facts, items_present, record_transfer, translate
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import (
    Delivery,
    DeliveryStatus,
    Message,
    TransferOutcome,
    Unit,
)
from platform_hub.ordinance import service as ordinance
from platform_hub.protocol.envelope import read_envelope
from platform_hub.protocol.errors import (
    AddresseeUnknown,
    OrdinanceRefusal,
    UnknownTarget,
)
from platform_hub.protocol.xml import parse_xml

log = structlog.get_logger()


async def enqueue_deliveries(
    session: AsyncSession, message: Message, subscribers: Sequence[Unit], subjects: Sequence[str]
) -> None:
    """A pending delivery of an accepted message to each subscriber, in the caller's transaction (the
    one that accepts it). A message about one person goes in that person's order; one about several
    or none (a batch) waits for everything queued before it and holds what comes after."""
    ordering_key = subjects[0] if len(subjects) == 1 else None
    await repository.add_deliveries(session, message, [unit.code for unit in subscribers], ordering_key)


async def count_pending(session: AsyncSession) -> int:
    """The deliveries waiting to go (``/metrics``)."""
    return await repository.count_pending(session)


async def prepare_delivery(state: LinkageRuntime, delivery: Delivery) -> Prepared:
    """What a leased delivery sends, to whom, and whether the ordinance still lets it go (the leased
    row came with its message: only the translation reads the database)."""
    return await _prepare_delivery(state, await state.configuration.get(), delivery)


async def deliver_notification(
    state: LinkageRuntime, ready: Prepared, delivery_id: int, attempt: int
) -> None:
    """Deliver one leased notification and record it (``exchange.delivery`` calls this, and schedules
    a retry if it raises).

    ``attempt`` is the lease: finishing only succeeds while the row is still ours, so a delivery that
    outlived its lease is not recorded twice (the receiver dedups the message by MSGID).
    """
    if ready.refusal is None:
        await unit_client.deliver_notification(
            state, ready.subscriber, ready.inbound.envelope, ready.inbound.spec
        )
    status = DeliveryStatus.REFUSED if ready.refusal else DeliveryStatus.DELIVERED
    payload = ready.inbound.envelope.payload()
    items = () if ready.refusal else items_present(ready.inbound.spec.request, payload)
    await state.message_store.finish_delivery(
        delivery_id,
        attempt,
        status,
        ready.refusal,
        delivery_facts(ready, items=items, refusal=ready.refusal),
        ready.subjects or [None],
        record_key=state.require_vault().record_key,
        # A delivery that happened is recorded even if its lease ran out meanwhile (the receiver
        # dedups it by MSGID): nothing is delivered without its record.
        record_if_lost=status == DeliveryStatus.DELIVERED,
    )
    state.metrics.deliveries.labels(ready.subscriber.code, status).inc()


async def finish_delivery(
    state: LinkageRuntime, ready: Prepared, delivery_id: int, attempt: int, status: DeliveryStatus
) -> None:
    """Mark a delivery done whose records went with it (a batch's, chunk by chunk)."""
    async with unit_of_work(state.sessions) as session:
        await repository.finish_delivery(session, delivery_id, attempt, status, ready.refusal)
    state.metrics.deliveries.labels(ready.subscriber.code, status).inc()


async def _prepare_delivery(
    state: LinkageRuntime, configuration: Configuration, delivery: Delivery
) -> Prepared:
    message = delivery.message
    compiled = state.catalog.get(message.interface_id)
    source = configuration.unit(message.source_unit)
    subscriber = configuration.unit(delivery.subscriber_unit)
    if compiled is None or source is None or subscriber is None:
        raise UnknownTarget(f"delivery {delivery.id}: its interface or units are no longer registered")
    envelope = read_envelope(
        parse_xml(message.request_xml, max_bytes=len(message.request_xml), limits=state.settings.xml_limits)
    )
    envelope.set_destination(subscriber.code)
    envelope.set_header_fields(ReceptionNumber=message.reception_number)
    ready = Prepared(
        Inbound(envelope, compiled, envelope.header(), source, None, [subscriber], configuration),
        message,
        subscriber,
    )
    try:
        ready.subjects = await translate(
            state.message_store.lookup,
            envelope,
            compiled.spec,
            "request",
            source.code,
            subscriber.code,
            newcomer=compiled.spec.updates_registry
            and resident_changes.introduces_person(payload_fields(envelope)),
        )
        # The subscriber receives for its own 事務: any of those the ordinance covers will do.
        ready.rule = ordinance.authorize(
            configuration.rulebook,
            utcnow(),
            receiver=subscriber,
            holder=source,
            category=compiled.spec.category,
            purposes=list(subscriber.purposes),
        )
    except (AddresseeUnknown, OrdinanceRefusal) as refusal:
        ready.refusal = refusal.message
    return ready


async def retry_later(state: LinkageRuntime, delivery_id: int, attempt: int, error: str) -> None:
    """Schedule the delivery again after a backoff, or give it up as dead (and record that)."""
    settings = state.settings
    delay = settings.delivery_backoff_seconds * 2 ** min(attempt - 1, 10) * (0.5 + random.random())  # noqa: S311
    configuration = await state.configuration.get()  # before the session: it may open one of its own
    async with unit_of_work(state.sessions) as session:
        went = await repository.retry_delivery(
            session,
            delivery_id,
            attempt,
            error[:2000],
            out_of_attempts=attempt >= settings.delivery_max_attempts,
            accepted_before=utcnow() - timedelta(seconds=settings.delivery_max_age_seconds),
            next_attempt_at=utcnow() + timedelta(seconds=delay),
        )
        if went is not None and went.status == DeliveryStatus.DEAD:
            await _record_dead_letter(session, state, configuration, went, f"{attempt} attempts: {error}")
    subscriber = went.subscriber_unit if went is not None else None
    log.warning("delivery failed", delivery=delivery_id, subscriber=subscriber, attempt=attempt, error=error)
    state.metrics.deliveries.labels(subscriber or "-", "failed").inc()


async def _record_dead_letter(
    session: AsyncSession, state: LinkageRuntime, configuration: Configuration, went: Any, why: str
) -> None:
    """A delivery that went dead is a transfer that failed: it is recorded as one (outcome failed),
    about the person it was for (a batch's about no one in particular)."""
    message = await repository.get_message(session, went.message_id)
    compiled = state.catalog.get(message.interface_id) if message else None
    source = configuration.unit(message.source_unit) if message else None
    subscriber = configuration.unit(went.subscriber_unit)
    if message is None or compiled is None or source is None or subscriber is None:
        log.error(
            "a dead letter whose message or units are gone is not recorded", subscriber=went.subscriber_unit
        )
        return
    await record_transfer(
        session,
        state,
        message,
        compiled.spec,
        [went.ordering_key],
        requester=subscriber,
        provider=source,
        outcome=TransferOutcome.FAILED,
        refusal=f"dead letter after {why}"[:2000],
    )
