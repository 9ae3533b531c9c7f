"""Idempotency on MSGID: a resent message is answered as before, a different one under the same MSGID
is E4002; the message row is taken in a short transaction of its own."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.service import new_reception_number
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import repository
from platform_hub.linkage.inbound import Inbound, acknowledgement
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import (
    Message,
    MessageStatus,
)
from platform_hub.protocol.errors import (
    IdempotencyConflict,
    ServiceUnavailable,
)

T = TypeVar("T")


async def claim(
    state: LinkageRuntime,
    session: AsyncSession,
    inbound: Inbound,
    earlier: Message | None,
    *,
    status: MessageStatus,
    acknowledge: bool = False,
) -> tuple[Message, bytes | None]:
    """In the caller's transaction: a new message row, whose insert claims the MSGID (the unique
    ``(source, MSGID)`` refuses a second: see ``taking``); or the ``earlier`` send of it.

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
    message.response_xml = acknowledgement(inbound, message.reception_number).to_bytes()
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
        binding=inbound.binding,
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


async def taking(
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
