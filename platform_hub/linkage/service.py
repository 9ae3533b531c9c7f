"""The linkage rules: check an inbound message in the contract's order, then route it by pattern.

Checks run in this order and the first that fails answers: token (E2001), size and
well-formedness (E1001), message type and destination (E1003), source binding and scope (E2002),
XSD (E1002), idempotency (E4002), addressee translation (E3002), ordinance (E3001), delivery (E4001).

A query is three short steps of the message store (``message_store``: asyncpg on PostgreSQL) — claim
the MSGID; translate; store the answer, refusal or failure with its record at once — and no
transaction is held open across the HTTP call. A notification is taken with its deliveries in one
transaction (``deliveries`` sends them later). MSGID rules are ``idempotency``; translation and the
entries of the record ``records``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import resident_changes
from platform_hub.auth.service import Principal, da_scope_of, send_scope
from platform_hub.kit.clock import utcnow
from platform_hub.linkage import repository, unit_client
from platform_hub.linkage.configuration import Configuration
from platform_hub.linkage.deliveries import enqueue_deliveries
from platform_hub.linkage.idempotency import claim, in_transaction, new_message, taking
from platform_hub.linkage.inbound import Inbound, payload_fields
from platform_hub.linkage.records import in_session, items_present, transfer_facts_of, translate
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import (
    Binding,
    Message,
    MessageStatus,
    TransferOutcome,
    UnitMode,
)
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.service import Decision
from platform_hub.protocol.catalog import CompiledInterface
from platform_hub.protocol.envelope import Envelope, Header, lk, read_envelope
from platform_hub.protocol.errors import (
    AddresseeUnknown,
    DeliveryFailed,
    Forbidden,
    HubError,
    OrdinanceRefusal,
    SchemaViolation,
    ServiceUnavailable,
    UnknownTarget,
)
from platform_hub.protocol.numbers import check_my_number
from platform_hub.protocol.specs import Pattern
from platform_hub.protocol.xml import canonical, parse_xml, read_off_loop

log = structlog.get_logger()


async def receive(
    state: LinkageRuntime, principal: Principal, body: bytes, binding: str = "soap", version: int = 1
) -> bytes:
    """Check one query or notification and route it; returns the ``_S01`` answer envelope. (A batch
    goes to ``batches``: ``exchange.intake`` chooses.) ``binding`` is how it came: a REST call arrives
    here as the SOAP message it stands for (``protocol.rest``), and only the record tells them apart.
    A REST call may name a later ``version`` of a query: its provider must take it by REST."""
    settings = state.settings
    root = await read_off_loop(parse_xml, body, max_bytes=settings.max_body_bytes, limits=settings.xml_limits)
    envelope = read_envelope(root)
    compiled = interface_of(state, envelope, version)
    header = envelope.header()
    structlog.contextvars.bind_contextvars(
        msgid=header.msgid, interface=compiled.spec.id, pattern=compiled.spec.pattern, source=header.source
    )
    inbound = route(await state.configuration.get(), envelope, compiled, header)
    inbound.binding = binding
    check_source(principal, inbound)
    compiled.validate(envelope.message)
    check_message_type(envelope, header)
    inbound.my_numbers = _take_my_numbers(inbound)
    inbound.digest = body_digest(state, inbound)
    if compiled.spec.pattern == Pattern.QUERY:
        return await _query(state, inbound)
    return await _accept_notification(state, inbound)


def interface_of(state: LinkageRuntime, envelope: Envelope, version: int = 1) -> CompiledInterface:
    found = state.catalog.by_message_type(envelope.message_type)
    if found is None:
        raise UnknownTarget(f"unknown message type {envelope.message_type}")
    compiled, is_request = found
    if not is_request:
        raise UnknownTarget(f"{envelope.message_type} is an answer: units send _R01 messages to the hub")
    later = state.catalog.get(compiled.spec.id, version) if version != 1 else compiled
    if later is None:
        raise UnknownTarget(f"{compiled.spec.id} has no version {version}")
    return later


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
        if spec.version != 1 and destination.binding(spec.id, "provides") != Binding.REST:
            raise UnknownTarget(
                f"unit {code} takes {spec.id} by SOAP, which is version 1 only; version {spec.version} "
                "needs a provider that takes it by REST"
            )
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
    """The sender is the token's unit, its token carries the binding's scope (the hub's ``send``
    scope over SOAP, the Digital Agency's over REST), and it may send now."""
    spec = inbound.spec
    source, scope = inbound.source, send_scope(inbound.source.code, spec.id)
    if inbound.binding == "rest":
        scope = da_scope_of(spec)
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


@dataclass
class _Taken:
    """A query taken under its MSGID, with the persons it asks about and the rule that lets it go."""

    message: Message
    subjects: list[str] = field(default_factory=list)
    decision: Decision | None = None


async def _query(state: LinkageRuntime, inbound: Inbound) -> bytes:
    """照会: claim the MSGID, translate, check the ordinance, forward, check and translate the answer,
    store it with its record, answer. Each write is one short step of ``state.message_store``'s: no
    transaction is held open across the HTTP call."""
    destination = inbound.destination
    assert destination is not None
    store = state.message_store
    message = new_message(inbound, MessageStatus.FORWARDING, utcnow())
    if not await store.claim(message):
        earlier, replay = await _claimed_before(state, inbound)
        if replay is not None:
            return replay
        message = earlier
    structlog.contextvars.bind_contextvars(reception_number=message.reception_number)
    taken = await _decide(state, inbound, message)
    try:
        answer = await _forward(state, inbound, message)
        answered = await translate(
            store.lookup, answer, inbound.spec, "response", destination.code, inbound.source.code
        )
        response = unit_client.envelope_for(inbound.source, answer, inbound.spec)
        # Everyone the answer tells about (a household's members too) gets an entry of their own.
        about = list(dict.fromkeys([*taken.subjects, *answered]))
        items = items_present(inbound.spec.response, answer.payload())
        await _finish_query(state, inbound, taken, answer=response, subjects=about, items=items)
    except HubError as error:
        error.reception_number = message.reception_number
        await _finish_query(state, inbound, taken, answer=None, failure=error.message)
        raise
    return response


async def _claimed_before(state: LinkageRuntime, inbound: Inbound) -> tuple[Message, bytes | None]:
    """The send that holds the MSGID: its answer to replay, or (after a failure or a refusal) it,
    taken anew. E4002 for another body under the MSGID, E5001 while it is still being answered."""

    async def take_again(session: AsyncSession) -> tuple[Message, bytes | None]:
        earlier = await repository.find_message(session, inbound.header.source, inbound.header.msgid)
        if earlier is None:  # the holder is gone since (a purge): it is a new message after all
            raise ServiceUnavailable("the MSGID changed hands; send it again", headers={"Retry-After": "1"})
        return await claim(state, session, inbound, earlier, status=MessageStatus.FORWARDING)

    return await in_transaction(state, take_again)


async def _decide(state: LinkageRuntime, inbound: Inbound, message: Message) -> _Taken:
    """Translate the request for its provider and find the rule that allows it: a refusal (E3002,
    E3001) is stored with its record entry before it is answered."""
    destination = inbound.destination
    assert destination is not None
    taken = _Taken(message)
    try:
        taken.subjects = await translate(
            state.message_store.lookup,
            inbound.envelope,
            inbound.spec,
            "request",
            inbound.source.code,
            destination.code,
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
        refusal.reception_number = message.reception_number
        await _finish_query(state, inbound, taken, answer=None, refusal=refusal.message)
        raise
    return taken


async def _forward(state: LinkageRuntime, inbound: Inbound, message: Message) -> Envelope:
    """Send the query to its provider; the answer must be the interface's ``_S01`` from that unit."""
    destination = inbound.destination
    assert destination is not None
    if not destination.enabled:
        raise DeliveryFailed(f"unit {destination.code} is disabled")
    inbound.envelope.set_destination(destination.code)
    inbound.envelope.set_header_fields(ReceptionNumber=message.reception_number)
    answer = await unit_client.forward_query(state, destination, inbound.envelope, inbound.spec)
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
    state: LinkageRuntime,
    inbound: Inbound,
    taken: _Taken,
    *,
    answer: bytes | None,
    subjects: list[str] | None = None,
    items: list[str] | None = None,
    failure: str | None = None,
    refusal: str | None = None,
) -> None:
    """Store the answer (or the refusal, or the failure) and its transfer record, before the sender
    sees either."""
    assert inbound.destination is not None
    message, completed_at = taken.message, utcnow()
    if answer is not None:
        status, outcome = MessageStatus.ANSWERED, TransferOutcome.PROVIDED
    elif refusal is not None:
        status, outcome = MessageStatus.REFUSED, TransferOutcome.REFUSED  # nothing was provided
    else:
        status, outcome = MessageStatus.FAILED, TransferOutcome.FAILED
    facts = transfer_facts_of(
        message,
        inbound.spec,
        requester=inbound.source,
        provider=inbound.destination,
        outcome=outcome,
        items=items or [],
        department=inbound.header.department,
        user=inbound.header.user,
        decision=taken.decision,
        refusal=refusal or failure,
        provided_at=completed_at if answer is not None else None,
    )
    await state.message_store.finish_query(
        message.id,
        status,
        answer,
        completed_at,
        facts,
        subjects or taken.subjects or [None],
        record_key=state.require_vault().record_key,
    )


async def _accept_notification(state: LinkageRuntime, inbound: Inbound) -> bytes:
    """通知 / 一括: accept durably (the answer goes out only after the commit), deliver later.

    A 住民異動 updates the registry in the same transaction; an unknown sender 宛名番号 refuses the
    whole message (E3002) with nothing stored.
    """

    async def take(session: AsyncSession, earlier: Message | None) -> bytes:
        message, replay = await claim(
            state, session, inbound, earlier, status=MessageStatus.ACCEPTED, acknowledge=True
        )
        if replay is not None:
            return replay
        fed = await _feed_registry(state, session, inbound) if inbound.spec.updates_registry else {}
        subjects = await translate(
            in_session(session),
            inbound.envelope,
            inbound.spec,
            "request",
            inbound.source.code,
            None,
            resolved=fed,
        )
        # In order per person: a 転居 never overtakes the 転入 before it; a batch waits its turn.
        await enqueue_deliveries(session, message, inbound.subscribers, subjects)
        structlog.contextvars.bind_contextvars(reception_number=message.reception_number)
        assert message.response_xml is not None
        return message.response_xml

    ack: bytes = await taking(state, inbound, take)
    if inbound.subscribers:
        state.deliveries_waiting.set()
    log.info("notification accepted", subscribers=[u.code for u in inbound.subscribers])
    return ack


async def _feed_registry(state: LinkageRuntime, session: AsyncSession, inbound: Inbound) -> dict[str, str]:
    """Apply a 住民異動 to the registry; returns the sender's 宛名番号 → the person's integrated number."""
    fields = payload_fields(inbound.envelope)
    person = await resident_changes.apply_resident_change(
        session,
        state.require_vault(),
        inbound.source.code,
        fields,
        inbound.my_numbers[0] if inbound.my_numbers else None,
        actor=f"{inbound.source.code}:{inbound.header.user or '-'}",
        event_name=inbound.spec.code_label("IdoJiyuCode", fields.get("IdoJiyuCode", "")) or "住民異動",
        remainder_one=state.settings.atena_check_digit_remainder_one,
    )
    return {fields["AtenaNo"]: person.integrated_number}
