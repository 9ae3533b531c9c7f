"""The linkage rules: check an inbound message in the contract's order, then route it by pattern.

Checks run in this order and the first that fails answers: token (E2001), size and
well-formedness (E1001), message type and destination (E1003), source binding and scope (E2002),
XSD (E1002), idempotency (E4002), addressee translation (E3002), ordinance (E3001), delivery (E4001).
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from lxml import etree
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.adapters import repository as units
from platform_hub.adapters import service as adapters
from platform_hub.audit.service import TransferFacts, record_transfer
from platform_hub.auth.service import Principal, send_scope
from platform_hub.kit.database import unit_of_work, utcnow
from platform_hub.kit.errors import (
    DeliveryFailed,
    Forbidden,
    HubError,
    IdempotencyConflict,
    SchemaViolation,
    ServiceUnavailable,
    UnknownTarget,
)
from platform_hub.kit.state import HubState
from platform_hub.kit.xml import parse_xml
from platform_hub.linkage import repository, routing
from platform_hub.linkage.catalog import CompiledInterface
from platform_hub.linkage.envelope import Envelope, Header, build_message, lk, read_envelope
from platform_hub.models import Delivery, Message, Unit

log = structlog.get_logger()
HUB_SYSTEM_ID = "000"  # the hub's own SourceSystemID on the acknowledgements it writes


@dataclass(frozen=True)
class Inbound:
    """A message that passed the routing checks, with the units it concerns."""

    envelope: Envelope
    compiled: CompiledInterface
    header: Header
    source: Unit
    destination: Unit | None
    subscribers: list[Unit]

    @property
    def spec_id(self) -> str:
        return self.compiled.spec.id


def new_reception_number(now: datetime) -> str:
    """The hub's id for a transfer: sortable by time, unique by its random tail."""
    return f"{now:%Y%m%d%H%M%S}{secrets.token_hex(6).upper()}"


async def receive(state: HubState, principal: Principal, body: bytes) -> bytes:
    """Check one linkage message and route it; returns the ``_S01`` answer envelope."""
    settings = state.settings
    envelope = read_envelope(
        parse_xml(body, max_bytes=settings.max_body_bytes, max_depth=settings.max_xml_depth)
    )
    compiled = _interface_of(state, envelope)
    header = envelope.header()
    structlog.contextvars.bind_contextvars(
        msgid=header.msgid, interface=compiled.spec.id, source=header.source
    )
    async with unit_of_work(state.sessions) as session:
        inbound = await _route(session, envelope, compiled, header)
    _check_source(principal, inbound)
    compiled.validate(envelope.message)
    if header.message_type_id != envelope.message_type:
        raise SchemaViolation(
            f"MSGTypeID {header.message_type_id} does not name the message element {envelope.message_type}"
        )
    if compiled.spec.pattern == "query":
        return await _query(state, inbound)
    return await _accept_notification(state, inbound)


def _interface_of(state: HubState, envelope: Envelope) -> CompiledInterface:
    found = state.catalog.by_message_type(envelope.message_type)
    if found is None:
        raise UnknownTarget(f"unknown message type {envelope.message_type}")
    compiled, is_request = found
    if not is_request:
        raise UnknownTarget(f"{envelope.message_type} is an answer: units send _R01 messages to the hub")
    return compiled


async def _route(
    session: AsyncSession, envelope: Envelope, compiled: CompiledInterface, header: Header
) -> Inbound:
    """Find the source, and the destination (query) or the subscribers (notification, batch)."""
    spec = compiled.spec
    source = await units.get_unit(session, header.source)
    if source is None:
        raise UnknownTarget(f"unknown source unit {header.source!r}")
    mode = "test" if header.mode == "1" else "production"
    if spec.pattern == "query":
        code = header.destination or spec.provider
        destination = await units.get_unit(session, code)
        if destination is None or spec.id not in destination.interface_ids("provides"):
            raise UnknownTarget(f"no unit {code!r} provides {spec.id}")
        if destination.mode != mode:
            raise UnknownTarget(f"unit {code} takes no {mode} messages (MSGMode {header.mode})")
        return Inbound(envelope, compiled, header, source, destination, [])
    subscribers = [u for u in await adapters.subscribers(session, spec.id, mode) if u.code != source.code]
    if header.destination is not None:
        subscribers = [u for u in subscribers if u.code == header.destination]
        if not subscribers:
            raise UnknownTarget(
                f"unit {header.destination!r} does not subscribe to {spec.id} ({mode} messages)"
            )
    return Inbound(envelope, compiled, header, source, None, subscribers)


def _check_source(principal: Principal, inbound: Inbound) -> None:
    if principal.role != "unit" or principal.unit_code != inbound.header.source:
        raise Forbidden(
            f"SourceSystemID {inbound.header.source} is not the authenticated unit "
            f"({principal.unit_code or principal.role})"
        )
    if send_scope(inbound.source.code, inbound.spec_id) not in principal.scopes:
        raise Forbidden(f"the token lacks the scope {send_scope(inbound.source.code, inbound.spec_id)}")
    if not inbound.source.enabled:
        raise Forbidden(f"unit {inbound.source.code} is disabled")


async def _claim(
    state: HubState, inbound: Inbound, *, status: str, reception_number: str, answer: bytes | None
) -> tuple[Message, bytes | None]:
    """Store the message under its MSGID (with its deliveries), or find the earlier send of it.

    Returns the message and, when the same body was answered before, that answer to replay.
    """
    header = inbound.header
    try:
        async with unit_of_work(state.sessions) as session:
            earlier = await repository.find_message(session, header.source, header.msgid)
            if earlier is not None:
                return earlier, _replay(state, earlier, inbound.envelope.digest)
            message = _new_message(inbound, reception_number, status, answer)
            session.add(message)
            session.add_all(
                Delivery(
                    message_id=message.id,
                    subscriber_unit=unit.code,
                    next_attempt_at=message.received_at,
                    created_at=message.received_at,
                )
                for unit in inbound.subscribers
            )
            return message, None
    except IntegrityError:
        # A concurrent send of the same MSGID won the insert: answer as its resend.
        async with unit_of_work(state.sessions) as session:
            earlier = await repository.find_message(session, header.source, header.msgid)
        if earlier is None:
            raise
        return earlier, _replay(state, earlier, inbound.envelope.digest)


def _replay(state: HubState, earlier: Message, digest: str) -> bytes | None:
    """The earlier answer to a resent MSGID; ``None`` when the earlier query is to be forwarded again."""
    if earlier.body_digest != digest:
        raise IdempotencyConflict(
            f"MSGID {earlier.msgid} was sent before with a different body",
            reception_number=earlier.reception_number,
        )
    if earlier.response_xml is not None:
        return earlier.response_xml
    in_flight = (utcnow() - earlier.received_at).total_seconds() < 2 * state.settings.query_timeout_seconds
    if earlier.status == "forwarding" and in_flight:
        raise ServiceUnavailable(
            f"MSGID {earlier.msgid} is still being answered; send it again later",
            headers={"Retry-After": "1"},
            reception_number=earlier.reception_number,
        )
    return None  # an earlier send failed or was cut off: a query may simply be asked again


def _new_message(inbound: Inbound, reception_number: str, status: str, answer: bytes | None) -> Message:
    header = inbound.header
    return Message(
        id=uuid.uuid4(),
        reception_number=reception_number,
        source_unit=header.source,
        msgid=header.msgid,
        interface_id=inbound.spec_id,
        pattern=inbound.compiled.spec.pattern,
        mode=header.mode,
        destination_unit=inbound.destination.code if inbound.destination else header.destination,
        purpose_code=header.purpose_code,
        body_digest=inbound.envelope.digest,
        request_xml=inbound.envelope.to_bytes(),
        response_xml=answer,
        status=status,
        received_at=utcnow(),
        completed_at=utcnow() if answer is not None else None,
    )


async def _query(state: HubState, inbound: Inbound) -> bytes:
    """照会: forward to the provider, validate its answer, record the transfer, answer the sender."""
    message, replay = await _claim(
        state, inbound, status="forwarding", reception_number=new_reception_number(utcnow()), answer=None
    )
    if replay is not None:
        return replay
    reception_number = message.reception_number
    structlog.contextvars.bind_contextvars(reception_number=reception_number)
    assert inbound.destination is not None
    inbound.envelope.set_destination(inbound.destination.code)
    inbound.envelope.set_header_fields(ReceptionNumber=reception_number)
    try:
        answer = await routing.forward_query(state, inbound.destination, inbound.envelope.to_bytes())
        inbound.compiled.validate(answer.message)
    except HubError as exc:
        error = (
            exc
            if isinstance(exc, DeliveryFailed)
            else DeliveryFailed(
                f"unit {inbound.destination.code} answered a message that fails the XSD: {exc.message}",
                details=exc.details,
            )
        )
        error.reception_number = reception_number
        await _finish_query(state, inbound, message, outcome="failed", answer=None)
        raise error from None
    answer.set_header_fields(ReceptionNumber=reception_number, MSGResult="0")
    response = answer.to_bytes()
    await _finish_query(state, inbound, message, outcome="provided", answer=response)
    return response


async def _finish_query(
    state: HubState, inbound: Inbound, message: Message, *, outcome: str, answer: bytes | None
) -> None:
    """Store the answer and its transfer record in one transaction, before the sender sees it."""
    assert inbound.destination is not None
    now = utcnow()
    async with unit_of_work(state.sessions) as session:
        stored = await repository.get_message(session, message.id)
        assert stored is not None
        stored.status = "answered" if answer is not None else "failed"
        stored.response_xml = answer
        stored.completed_at = now
        facts = _facts(
            inbound,
            message,
            requester=inbound.source,
            provider=inbound.destination,
            direction="response",
            outcome=outcome,
            provided_at=now if answer else None,
        )
        record_transfer(session, facts, _subjects(inbound))


async def _accept_notification(state: HubState, inbound: Inbound) -> bytes:
    """通知 / 一括: accept durably (the answer goes out only after the commit), deliver later."""
    reception_number = new_reception_number(utcnow())
    ack = _acknowledgement(inbound, reception_number).to_bytes()
    message, replay = await _claim(
        state, inbound, status="accepted", reception_number=reception_number, answer=ack
    )
    structlog.contextvars.bind_contextvars(reception_number=message.reception_number)
    if replay is not None:
        return replay
    if inbound.subscribers:
        state.deliveries_waiting.set()
    log.info("notification accepted", subscribers=[u.code for u in inbound.subscribers])
    return ack


def _acknowledgement(inbound: Inbound, reception_number: str) -> Envelope:
    spec, header = inbound.compiled.spec, inbound.header
    payload = etree.Element(lk("Payload"))
    if spec.pattern == "batch":
        # The first version of 一括: the whole set is accepted as one message (per-record checks come
        # with batch streaming), so every record counts as received without error.
        group = next((item for item in spec.request if item.type == "GROUP"), None)
        records = inbound.envelope.message.findall(f".//{lk(group.romaji)}") if group else []
        received = str(len(records))
        for name, value in (("UketsukeKensu", received), ("SeijoKensu", received), ("ErrorKensu", "0")):
            etree.SubElement(payload, lk(name)).text = value
    ack = build_message(
        spec.response_type,
        {
            "MSGID": uuid.uuid4().hex,
            "MSGTypeID": spec.response_type,
            "MSGMode": header.mode,
            "SourceSystemID": HUB_SYSTEM_ID,
            "DestinationSystemID": header.source,
            "PurposeCode": header.purpose_code,
            "SendDateTime": utcnow().isoformat(timespec="seconds"),
            "RelatesToMSGID": header.msgid,
            "ReceptionNumber": reception_number,
            "MSGResult": "0",
        },
        payload,
    )
    inbound.compiled.validate(ack.message)
    return ack


async def deliver(state: HubState, delivery: Delivery) -> None:
    """Deliver one notification and record it, or schedule its retry (called by the dispatcher)."""
    message = delivery.message
    compiled = state.catalog.get(message.interface_id)
    async with unit_of_work(state.sessions) as session:
        source = await units.get_unit(session, message.source_unit)
        subscriber = await units.get_unit(session, delivery.subscriber_unit)
    assert compiled is not None and source is not None and subscriber is not None
    envelope = read_envelope(parse_xml(message.request_xml, max_bytes=2**31, max_depth=10**3))
    envelope.set_destination(subscriber.code)
    envelope.set_header_fields(ReceptionNumber=message.reception_number)
    try:
        await routing.deliver_notification(state, subscriber, envelope.to_bytes())
    except DeliveryFailed as exc:
        await _retry_later(state, delivery, exc.message)
        return
    inbound = Inbound(envelope, compiled, envelope.header(), source, None, [subscriber])
    now = utcnow()
    async with unit_of_work(state.sessions) as session:
        row = await session.get(Delivery, delivery.id, with_for_update=True)
        if row is None or row.status != "pending":
            return  # another dispatcher finished it after our lease ran out; the receiver dedups
        row.status, row.delivered_at, row.last_error = "delivered", now, None
        facts = _facts(
            inbound,
            message,
            requester=subscriber,
            provider=source,
            direction="request",
            outcome="delivered",
            provided_at=now,
        )
        record_transfer(session, facts, _subjects(inbound))
    state.metrics.deliveries.labels(subscriber.code, "delivered").inc()


async def _retry_later(state: HubState, delivery: Delivery, error: str) -> None:
    settings = state.settings
    async with unit_of_work(state.sessions) as session:
        row = await session.get(Delivery, delivery.id, with_for_update=True)
        if row is None or row.status != "pending":
            return
        row.last_error = error[:2000]
        if row.attempts >= settings.delivery_max_attempts:
            row.status = "dead"
        else:
            delay = settings.delivery_backoff_seconds * 2 ** min(row.attempts - 1, 10)
            row.next_attempt_at = utcnow() + timedelta(seconds=delay * (0.5 + random.random()))  # noqa: S311
    log.warning(
        "delivery failed", subscriber=delivery.subscriber_unit, attempt=delivery.attempts, error=error
    )
    state.metrics.deliveries.labels(delivery.subscriber_unit, "failed").inc()


def _facts(
    inbound: Inbound,
    message: Message,
    *,
    requester: Unit,
    provider: Unit,
    direction: str,
    outcome: str,
    provided_at: datetime | None,
) -> TransferFacts:
    spec, header = inbound.compiled.spec, inbound.header
    return TransferFacts(
        reception_number=message.reception_number,
        msgid=header.msgid,
        interface_id=spec.id,
        pattern=spec.pattern,
        requesting_unit=requester.code,
        requesting_organ=requester.organ,
        requesting_department=header.department if requester is inbound.source else None,
        requesting_user=header.user if requester is inbound.source else None,
        providing_unit=provider.code,
        providing_organ=provider.organ,
        purpose_code=header.purpose_code,
        information_category=spec.category,
        item_names=spec.item_names("response" if direction == "response" else "request"),
        requested_at=message.received_at,
        provided_at=provided_at,
        outcome=outcome,
        body_digest=message.body_digest,
    )


def _subjects(inbound: Inbound) -> list[str | None]:
    """One entry per person the message names by 宛名番号.

    The integrated numbers come with the addressee registry; until then the subject stays empty
    but each person still gets an entry of their own.
    """
    payload = inbound.envelope.payload()
    numbers: set[str] = set()
    if payload is not None:
        for item in inbound.compiled.spec.all_items():
            if item.addressee:
                numbers.update((e.text or "").strip() for e in payload.iter(lk(item.romaji)))
    return [None] * max(1, len(numbers))
