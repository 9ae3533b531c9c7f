"""The linkage rules: check an inbound message in the contract's order, then route it by pattern.

Checks run in this order and the first that fails answers: token (E2001), size and
well-formedness (E1001), message type and destination (E1003), source binding and scope (E2002),
XSD (E1002), idempotency (E4002), addressee translation (E3002), ordinance (E3001), delivery (E4001).

A query needs three short transactions — take the message, forward it (no transaction is held
open across the HTTP call), store the answer with its record — so the commits live here, each in
its own ``unit_of_work``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import structlog
from lxml import etree
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import resident_changes, translation
from platform_hub.audit.service import new_reception_number, record_entries, transfer_facts
from platform_hub.auth.service import Principal, send_scope
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import repository, unit_client
from platform_hub.linkage.configuration import Configuration
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import (
    Delivery,
    DeliveryStatus,
    Message,
    MessageStatus,
    TransferOutcome,
    TransferPattern,
    Unit,
    UnitMode,
)
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.service import Decision
from platform_hub.protocol.catalog import CompiledInterface
from platform_hub.protocol.envelope import Envelope, Header, build_message, lk, read_envelope
from platform_hub.protocol.errors import (
    AddresseeUnknown,
    DeliveryFailed,
    Forbidden,
    HubError,
    IdempotencyConflict,
    OrdinanceRefusal,
    SchemaViolation,
    ServiceUnavailable,
    UnknownTarget,
)
from platform_hub.protocol.numbers import UNNUMBERED_ATENA, check_my_number
from platform_hub.protocol.specs import InterfaceSpec, Item, Pattern
from platform_hub.protocol.xml import canonical, parse_xml

log = structlog.get_logger()
HUB_SYSTEM_ID = "000"  # the hub's own SourceSystemID on the acknowledgements it writes
Direction = Literal["request", "response"]
T = TypeVar("T")


@dataclass
class Inbound:
    """A message that passed the routing checks, with the units it concerns."""

    envelope: Envelope
    compiled: CompiledInterface
    header: Header
    source: Unit
    destination: Unit | None
    subscribers: list[Unit]
    configuration: Configuration  # the snapshot it was routed by: its ordinance decides it too
    digest: str = ""
    my_numbers: tuple[str, ...] = field(default=(), repr=False)

    @property
    def spec(self) -> InterfaceSpec:
        return self.compiled.spec


async def receive(state: LinkageRuntime, principal: Principal, body: bytes) -> bytes:
    """Check one query or notification and route it; returns the ``_S01`` answer envelope. (A batch
    goes to ``batches``: ``exchange.intake`` chooses.)"""
    settings = state.settings
    # Parsed in a worker thread: a large document holds neither the event loop nor other clients.
    root = await asyncio.to_thread(
        parse_xml, body, max_bytes=settings.max_body_bytes, limits=settings.xml_limits
    )
    envelope = read_envelope(root)
    compiled = interface_of(state, envelope)
    header = envelope.header()
    structlog.contextvars.bind_contextvars(
        msgid=header.msgid, interface=compiled.spec.id, pattern=compiled.spec.pattern, source=header.source
    )
    inbound = route(await state.configuration.get(), envelope, compiled, header)
    check_source(principal, inbound)
    compiled.validate(envelope.message)
    check_message_type(envelope, header)
    inbound.my_numbers = _take_my_numbers(inbound)
    inbound.digest = body_digest(state, inbound)
    if compiled.spec.pattern == Pattern.QUERY:
        return await _query(state, inbound)
    return await _accept_notification(state, inbound)


def interface_of(state: LinkageRuntime, envelope: Envelope) -> CompiledInterface:
    found = state.catalog.by_message_type(envelope.message_type)
    if found is None:
        raise UnknownTarget(f"unknown message type {envelope.message_type}")
    compiled, is_request = found
    if not is_request:
        raise UnknownTarget(f"{envelope.message_type} is an answer: units send _R01 messages to the hub")
    return compiled


def route(
    configuration: Configuration, envelope: Envelope, compiled: CompiledInterface, header: Header
) -> Inbound:
    """Find the source, and the destination (query) or the subscribers (notification, batch)."""
    spec = compiled.spec
    source = configuration.unit(header.source)
    if source is None:
        raise Forbidden(f"SourceSystemID {header.source!r} is not a registered unit")
    mode = UnitMode.of_message(header.mode)
    if spec.pattern == Pattern.QUERY:
        code = header.destination or spec.provider
        destination = configuration.unit(code)
        if destination is None or spec.id not in destination.interface_ids("provides"):
            raise UnknownTarget(f"no unit {code!r} provides {spec.id}")
        if destination.mode != mode:
            raise UnknownTarget(f"unit {code} takes no {mode} messages (MSGMode {header.mode})")
        return Inbound(envelope, compiled, header, source, destination, [], configuration)
    subscribers = [u for u in configuration.subscribers_of(spec.id, mode) if u.code != source.code]
    if header.destination is not None:
        subscribers = [u for u in subscribers if u.code == header.destination]
        if not subscribers:
            raise UnknownTarget(
                f"unit {header.destination!r} does not subscribe to {spec.id} ({mode} messages)"
            )
    return Inbound(envelope, compiled, header, source, None, subscribers, configuration)


def check_source(principal: Principal, inbound: Inbound) -> None:
    source, scope = inbound.source, send_scope(inbound.source.code, inbound.spec.id)
    if principal.role != "unit" or principal.unit_code != inbound.header.source:
        raise Forbidden(
            f"SourceSystemID {inbound.header.source} is not the authenticated unit "
            f"({principal.unit_code or principal.role})"
        )
    if scope not in principal.scopes:
        raise Forbidden(f"the token lacks the scope {scope}")
    if not source.enabled:
        raise Forbidden(f"unit {source.code} is disabled")
    if source.mode != UnitMode.of_message(inbound.header.mode):
        raise Forbidden(
            f"unit {source.code} is a {source.mode} unit: it sends MSGMode "
            f"{'1' if source.mode == UnitMode.TEST else '0'} only"
        )


def check_message_type(envelope: Envelope, header: Header) -> None:
    if header.message_type_id != envelope.message_type:
        raise SchemaViolation(
            f"MSGTypeID {header.message_type_id} does not name the message element {envelope.message_type}"
        )


def _take_my_numbers(inbound: Inbound) -> tuple[str, ...]:
    """Remove every 個人番号 from the message: the hub keeps it in the registry and passes it on to nobody."""
    numbers = []
    for path in inbound.spec.paths("request", "my_number"):
        for element in inbound.envelope.elements_at(path):
            numbers.append(check_my_number((element.text or "").strip()))
            parent = element.getparent()
            assert parent is not None
            parent.remove(element)
    return tuple(numbers)


def body_digest(state: LinkageRuntime, inbound: Inbound) -> str:
    """What "the same message" means for a resent MSGID: the routing fields and the body.

    SendDateTime is left out (a resend may carry a new one); a removed 個人番号 counts through its
    keyed hash, so the digest reveals nothing about it.
    """
    header = inbound.header
    body = inbound.envelope.message.find(lk("MessageBody"))
    assert body is not None
    routing_fields = "|".join(
        (header.message_type_id, header.mode, header.source, header.destination or "", header.purpose_code)
    )
    hashed = hashlib.sha256(routing_fields.encode())
    hashed.update(canonical(body))
    for number in inbound.my_numbers:
        hashed.update(state.require_vault().lookup_hash(number).encode())
    return hashed.hexdigest()


# --- idempotency -----------------------------------------------------------------------------------


async def _claim(
    state: LinkageRuntime,
    session: AsyncSession,
    inbound: Inbound,
    earlier: Message | None,
    *,
    status: MessageStatus,
    acknowledge: bool = False,
) -> tuple[Message, bytes | None]:
    """In the caller's transaction: a new message row, whose insert claims the MSGID (the unique
    ``(source, MSGID)`` refuses a second: see ``_taking``); or the ``earlier`` send of it.

    Returns the message and, when the same message was answered before, that answer to replay. With
    ``acknowledge``, the hub's acknowledgement goes into the same row (and the same insert).
    """
    now = utcnow()
    if earlier is not None:
        replay = _replay(state, earlier, inbound.digest)
        if replay is None:  # asked again after a failure or refusal: take it anew
            earlier.status, earlier.received_at, earlier.response_xml = status, now, None
            if acknowledge:
                _acknowledge(inbound, earlier, now)
        return earlier, replay
    message = new_message(inbound, status, now)
    if acknowledge:
        _acknowledge(inbound, message, now)
    await repository.add_message(session, message)  # a taken MSGID fails here, before any other work
    return message, None


def _acknowledge(inbound: Inbound, message: Message, now: datetime) -> None:
    message.response_xml = _acknowledgement(inbound, message.reception_number).to_bytes()
    message.completed_at = now


def new_message(
    inbound: Inbound, status: MessageStatus, now: datetime, answer: bytes | None = None
) -> Message:
    header = inbound.header
    return Message(
        id=uuid.uuid4(),
        reception_number=new_reception_number(now),
        source_unit=header.source,
        msgid=header.msgid,
        interface_id=inbound.spec.id,
        pattern=inbound.spec.pattern,
        mode=header.mode,
        destination_unit=inbound.destination.code if inbound.destination else header.destination,
        purpose_code=header.purpose_code,
        body_digest=inbound.digest,
        request_xml=inbound.envelope.to_bytes(),
        response_xml=answer,
        status=status,
        received_at=now,
        completed_at=now if answer is not None else None,
    )


def _replay(state: LinkageRuntime, earlier: Message, digest: str) -> bytes | None:
    """The earlier answer to a resent MSGID; ``None`` when the message is to be taken again."""
    if earlier.body_digest != digest:
        raise IdempotencyConflict(
            f"MSGID {earlier.msgid} was sent before with a different body",
            reception_number=earlier.reception_number,
        )
    if earlier.response_xml is not None:
        return earlier.response_xml
    if earlier.response_digest is not None:  # answered, and the answer dropped since (answer_retention)
        raise IdempotencyConflict(
            f"MSGID {earlier.msgid} was answered at {earlier.completed_at:%Y-%m-%d %H:%M:%S} UTC; its answer "
            "is no longer kept: send the query again under a new MSGID",
            reception_number=earlier.reception_number,
        )
    in_flight = (utcnow() - earlier.received_at).total_seconds() < 2 * state.settings.query_timeout_seconds
    if earlier.status == MessageStatus.FORWARDING and in_flight:
        raise ServiceUnavailable(
            f"MSGID {earlier.msgid} is still being answered; send it again later",
            headers={"Retry-After": "1"},
            reception_number=earlier.reception_number,
        )
    return None


async def _taking(
    state: LinkageRuntime, inbound: Inbound, work: Callable[[AsyncSession, Message | None], Awaitable[T]]
) -> T:
    """Run ``work(session, None)`` in a unit of work, as if the MSGID were new: its message's insert
    claims it, with no query before. When a send of it holds it already (the insert fails), once more
    with that ``earlier`` message, to replay its answer or take it anew."""
    try:
        async with unit_of_work(state.sessions) as session:
            return await work(session, None)
    except IntegrityError:
        async with unit_of_work(state.sessions) as session:
            header = inbound.header
            return await work(session, await repository.find_message(session, header.source, header.msgid))


async def in_transaction(state: LinkageRuntime, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work(session)`` in a unit of work; once more if a concurrent send of the MSGID won the insert."""
    try:
        async with unit_of_work(state.sessions) as session:
            return await work(session)
    except IntegrityError:
        async with unit_of_work(state.sessions) as session:
            return await work(session)


# --- 照会 -----------------------------------------------------------------------------------------


@dataclass
class _Taken:
    """A query taken under its MSGID: a replay, a refusal, or a go with the persons and the rule."""

    message: Message
    replay: bytes | None = None
    refusal: HubError | None = None
    subjects: list[str] = field(default_factory=list)
    decision: Decision | None = None


async def _query(state: LinkageRuntime, inbound: Inbound) -> bytes:
    """照会: translate, check the ordinance, forward, check and translate the answer, record, answer."""
    destination = inbound.destination
    assert destination is not None

    async def take(session: AsyncSession, earlier: Message | None) -> _Taken:
        message, replay = await _claim(state, session, inbound, earlier, status=MessageStatus.FORWARDING)
        if replay is not None:
            return _Taken(message, replay=replay)
        taken = _Taken(message)
        try:
            taken.subjects = await _translate(
                session, inbound.envelope, inbound.spec, "request", inbound.source.code, destination.code
            )
            taken.decision = ordinance.authorize(
                inbound.configuration.rulebook,
                utcnow(),
                receiver=inbound.source,
                holder=destination,
                category=inbound.spec.category,
                purposes=[inbound.header.purpose_code],
            )
        except (AddresseeUnknown, OrdinanceRefusal) as refusal:
            message.status, message.completed_at = MessageStatus.REFUSED, utcnow()
            await repository.complete_message(
                session, message.id, MessageStatus.REFUSED, None, message.completed_at
            )
            await record_transfer(
                session,
                state,
                message,
                inbound.spec,
                taken.subjects or [None],
                requester=inbound.source,
                provider=destination,
                outcome=TransferOutcome.REFUSED,  # nothing was provided
                department=inbound.header.department,
                user=inbound.header.user,
                refusal=refusal.message,
            )
            taken.refusal = refusal
        return taken

    taken = await _taking(state, inbound, take)
    if taken.replay is not None:
        return taken.replay
    message = taken.message
    structlog.contextvars.bind_contextvars(reception_number=message.reception_number)
    if taken.refusal is not None:
        taken.refusal.reception_number = message.reception_number
        raise taken.refusal
    try:
        answer = await _forward(state, inbound, message)
        async with unit_of_work(state.sessions) as session:
            answered = await _translate(
                session, answer, inbound.spec, "response", destination.code, inbound.source.code
            )
            response = answer.to_bytes()
            # Everyone the answer tells about (a household's members too) gets an entry of their own.
            about = list(dict.fromkeys([*taken.subjects, *answered]))
            items = items_present(inbound.spec.response, answer.payload())
            await _finish_query(session, state, inbound, taken, answer=response, subjects=about, items=items)
    except HubError as error:
        error.reception_number = message.reception_number
        async with unit_of_work(state.sessions) as session:
            await _finish_query(session, state, inbound, taken, answer=None, failure=error.message)
        raise
    return response


async def _forward(state: LinkageRuntime, inbound: Inbound, message: Message) -> Envelope:
    """Send the query to its provider; the answer must be the interface's ``_S01`` from that unit."""
    destination = inbound.destination
    assert destination is not None
    if not destination.enabled:
        raise DeliveryFailed(f"unit {destination.code} is disabled")
    inbound.envelope.set_destination(destination.code)
    inbound.envelope.set_header_fields(ReceptionNumber=message.reception_number)
    answer = await unit_client.forward_query(state, destination, inbound.envelope.to_bytes())
    try:
        inbound.compiled.validate(answer.message)
    except SchemaViolation as invalid:
        # The details quote the provider's values: they go to the log (by item), never to the requester.
        log.warning("provider answer fails the XSD", unit=destination.code, problems=len(invalid.details))
        raise DeliveryFailed(
            f"unit {destination.code} answered a message that fails the {inbound.spec.id} XSD"
        ) from None
    header = answer.header()
    relates_to = answer.message.findtext(f"{lk('MessageHeader')}/{lk('RelatesToMSGID')}")
    if (
        answer.message_type != inbound.spec.response_type
        or header.source != destination.code
        or relates_to not in (None, inbound.header.msgid)
    ):
        raise DeliveryFailed(
            f"unit {destination.code} answered with a message that is not the answer to "
            f"{inbound.header.msgid}"
        )
    result = answer.message.findtext(f"{lk('MessageHeader')}/{lk('MSGResult')}") or "0"
    answer.set_header_fields(ReceptionNumber=message.reception_number, MSGResult=result)
    return answer


async def _finish_query(
    session: AsyncSession,
    state: LinkageRuntime,
    inbound: Inbound,
    taken: _Taken,
    *,
    answer: bytes | None,
    subjects: list[str] | None = None,
    items: list[str] | None = None,
    failure: str | None = None,
) -> None:
    """Store the answer (or the failure) and its transfer record, before the sender sees either."""
    assert inbound.destination is not None
    message, completed_at = taken.message, utcnow()
    status = MessageStatus.ANSWERED if answer is not None else MessageStatus.FAILED
    await repository.complete_message(session, message.id, status, answer, completed_at)
    await record_transfer(
        session,
        state,
        message,
        inbound.spec,
        subjects or taken.subjects or [None],
        requester=inbound.source,
        provider=inbound.destination,
        outcome=TransferOutcome.PROVIDED if answer is not None else TransferOutcome.FAILED,
        items=items or [],
        department=inbound.header.department,
        user=inbound.header.user,
        decision=taken.decision,
        refusal=failure,
        provided_at=completed_at if answer is not None else None,
    )


# --- 通知 / 一括 -----------------------------------------------------------------------------------


async def _accept_notification(state: LinkageRuntime, inbound: Inbound) -> bytes:
    """通知 / 一括: accept durably (the answer goes out only after the commit), deliver later.

    A 住民異動 updates the registry in the same transaction; an unknown sender 宛名番号 refuses the
    whole message (E3002) with nothing stored.
    """

    async def take(session: AsyncSession, earlier: Message | None) -> bytes:
        message, replay = await _claim(
            state, session, inbound, earlier, status=MessageStatus.ACCEPTED, acknowledge=True
        )
        if replay is not None:
            return replay
        fed = await _feed_registry(state, session, inbound) if inbound.spec.updates_registry else {}
        subjects = await _translate(
            session, inbound.envelope, inbound.spec, "request", inbound.source.code, None, resolved=fed
        )
        # In order per person: a 転居 never overtakes the 転入 before it; a batch waits its turn.
        await enqueue_deliveries(session, message, inbound.subscribers, subjects)
        structlog.contextvars.bind_contextvars(reception_number=message.reception_number)
        assert message.response_xml is not None
        return message.response_xml

    ack: bytes = await _taking(state, inbound, take)
    if inbound.subscribers:
        state.deliveries_waiting.set()
    log.info("notification accepted", subscribers=[u.code for u in inbound.subscribers])
    return ack


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


def _payload_fields(envelope: Envelope) -> dict[str, str]:
    """The top-level items of a flat payload (a 住民異動), by romaji name."""
    payload = envelope.payload()
    assert payload is not None
    return {etree.QName(e).localname: (e.text or "").strip() for e in payload if isinstance(e.tag, str)}


async def _feed_registry(state: LinkageRuntime, session: AsyncSession, inbound: Inbound) -> dict[str, str]:
    """Apply a 住民異動 to the registry; returns the sender's 宛名番号 → the person's integrated number."""
    fields = _payload_fields(inbound.envelope)
    person = await resident_changes.apply_resident_change(
        session,
        state.require_vault(),
        inbound.source.code,
        fields,
        inbound.my_numbers[0] if inbound.my_numbers else None,
        actor=f"{inbound.source.code}:{inbound.header.user or '-'}",
        event_name=inbound.spec.code_label("IdoJiyuCode", fields.get("IdoJiyuCode", "")) or "住民異動",
    )
    return {fields["AtenaNo"]: person.integrated_number}


def _acknowledgement(inbound: Inbound, reception_number: str) -> Envelope:
    return answer(inbound, reception_number, etree.Element(lk("Payload")))


def answer(inbound: Inbound, reception_number: str, payload: etree._Element, result: str = "0") -> Envelope:
    """The hub's ``_S01`` acknowledgement of an accepted notification or batch."""
    spec, header = inbound.spec, inbound.header
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
            "MSGResult": result,
        },
        payload,
    )
    inbound.compiled.validate(ack.message)
    return ack


@dataclass
class Prepared:
    """One leased delivery made ready: translated for its subscriber and decided by the ordinance."""

    inbound: Inbound
    message: Message
    subscriber: Unit
    subjects: list[str] = field(default_factory=list)
    refusal: str | None = None
    rule: Decision | None = None


async def prepare_delivery(state: LinkageRuntime, delivery: Delivery) -> Prepared:
    """What a leased delivery sends, to whom, and whether the ordinance still lets it go."""
    configuration = await state.configuration.get()  # before the session: it may open one of its own
    async with unit_of_work(state.sessions) as session:
        return await _prepare_delivery(state, configuration, session, delivery)


async def deliver_notification(
    state: LinkageRuntime, ready: Prepared, delivery_id: int, attempt: int
) -> None:
    """Deliver one leased notification and record it (``exchange.delivery`` calls this, and schedules
    a retry if it raises).

    ``attempt`` is the lease: finishing only succeeds while the row is still ours, so a delivery that
    outlived its lease is not recorded twice (the receiver dedups the message by MSGID).
    """
    if ready.refusal is None:
        await unit_client.deliver_notification(state, ready.subscriber, ready.inbound.envelope.to_bytes())
    status = DeliveryStatus.REFUSED if ready.refusal else DeliveryStatus.DELIVERED
    async with unit_of_work(state.sessions) as session:
        finished = await repository.finish_delivery(session, delivery_id, attempt, status, ready.refusal)
        # A delivery that happened is recorded even if its lease ran out meanwhile (the receiver
        # dedups it by MSGID): nothing is delivered without its record.
        if finished or status == DeliveryStatus.DELIVERED:
            payload = ready.inbound.envelope.payload()
            items = () if ready.refusal else items_present(ready.inbound.spec.request, payload)
            await record_delivery(
                session, state, ready, ready.subjects or [None], items=items, refusal=ready.refusal
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
    state: LinkageRuntime, configuration: Configuration, session: AsyncSession, delivery: Delivery
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
        ready.subjects = await _translate(
            session,
            envelope,
            compiled.spec,
            "request",
            source.code,
            subscriber.code,
            newcomer=compiled.spec.updates_registry
            and resident_changes.introduces_person(_payload_fields(envelope)),
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


# --- addressees and records ----------------------------------------------------------------------


async def _translate(
    session: AsyncSession,
    envelope: Envelope,
    spec: InterfaceSpec,
    direction: Direction,
    from_unit: str,
    to_unit: str | None,
    *,
    newcomer: bool = False,
    resolved: dict[str, str] | None = None,
) -> list[str]:
    """Rewrite each 宛名番号 from ``from_unit``'s numbering to ``to_unit``'s (E3002 when a person is
    unknown or not linked there); returns the persons' integrated numbers. With no ``to_unit`` it
    only resolves.

    A ``newcomer`` (a 住民異動 bringing the person into the city) reaches a unit that does not number
    them yet as 未採番 (``UNNUMBERED_ATENA``): a subscriber keeps every resident, so it numbers the
    person and links its number in the registry (by the 基本4情報 the message carries).

    ``resolved`` holds ``from_unit``'s numbers this transaction has resolved already (a 住民異動 just
    applied to the registry): with no ``to_unit``, those need no query.
    """
    subjects: dict[str, None] = {}
    for path in spec.paths(direction, "addressee"):
        for element in envelope.elements_at(path):
            atena = (element.text or "").strip()
            if to_unit is None and resolved and atena in resolved:
                subjects[resolved[atena]] = None
                continue
            integrated, number = await translation.translate(session, from_unit, atena, to_unit)
            if to_unit is not None:
                if number is None and not newcomer:
                    raise AddresseeUnknown(f"person {integrated} is not linked in unit {to_unit}")
                element.text = number or UNNUMBERED_ATENA
            subjects[integrated] = None
    return list(subjects)


def items_present(items: Sequence[Item], parent: etree._Element | None) -> list[str]:
    """The Japanese names of the data items ``parent`` (a payload, a batch record) actually carries —
    what the record lists as sent: not groups, not a 個人番号 (the hub keeps that), in spec order."""
    found: dict[str, None] = {}

    def walk(items: Sequence[Item], elements: list[etree._Element]) -> None:
        # The children by name, read once: a batch has this done for every record it delivers.
        children: dict[str, list[etree._Element]] = {}
        for element in elements:
            for child in element:
                children.setdefault(child.tag, []).append(child)
        for item in items:
            present = children.get(lk(item.romaji))
            if present and item.type == "GROUP":
                walk(item.items or (), present)
            elif present and not item.my_number:
                found[item.name] = None

    walk(items, [parent] if parent is not None else [])
    return list(found)


async def record_transfer(
    session: AsyncSession,
    state: LinkageRuntime,
    message: Message,
    spec: InterfaceSpec,
    subjects: Sequence[str | None],
    *,
    requester: Unit,
    provider: Unit,
    outcome: TransferOutcome,
    items: Sequence[str] = (),
    department: str | None = None,
    user: str | None = None,
    decision: Decision | None = None,
    refusal: str | None = None,
    provided_at: datetime | None = None,
) -> None:
    """One transfer record entry per person in ``subjects`` (``None``: one no one could be named for)
    about a transfer of ``message``, in the caller's transaction: what every query, notification and
    batch chunk records, by ``audit.transfer_facts``."""
    facts = transfer_facts(
        reception_number=message.reception_number,
        msgid=message.msgid,
        interface_id=spec.id,
        pattern=TransferPattern(spec.pattern),
        category=spec.category,
        purpose_code=message.purpose_code,
        requested_at=message.received_at,
        body_digest=message.body_digest,
        requester=requester,
        provider=provider,
        outcome=outcome,
        items=items,
        department=department,
        user=user,
        decision=decision,
        refusal=refusal,
        provided_at=provided_at,
    )
    await record_entries(session, facts, subjects, state.require_vault().record_key)


async def record_delivery(
    session: AsyncSession,
    state: LinkageRuntime,
    ready: Prepared,
    subjects: Sequence[str | None],
    *,
    items: Sequence[str] = (),
    refusal: str | None = None,
) -> None:
    """The entries of a delivery to its subscriber (a notification's, or a batch chunk's records):
    delivered now under the rule that allowed it, or refused with the reason."""
    await record_transfer(
        session,
        state,
        ready.message,
        ready.inbound.spec,
        subjects,
        requester=ready.subscriber,
        provider=ready.inbound.source,
        outcome=TransferOutcome.REFUSED if refusal else TransferOutcome.DELIVERED,
        items=() if refusal else items,
        decision=None if refusal else ready.rule,
        refusal=refusal,
        provided_at=None if refusal else utcnow(),
    )
