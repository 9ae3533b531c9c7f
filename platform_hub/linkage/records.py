"""Addressees and records: the sender's 宛名番号 translated for the receiver, the items actually
sent, and the entries of the transfer record."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from lxml import etree
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import translation
from platform_hub.audit.service import TransferFacts, record_entries, transfer_facts
from platform_hub.kit.clock import utcnow
from platform_hub.linkage.inbound import Prepared
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import (
    Binding,
    FileDelivery,
    Message,
    TransferOutcome,
    TransferPattern,
    Unit,
)
from platform_hub.ordinance.service import Decision
from platform_hub.protocol.envelope import Envelope, lk
from platform_hub.protocol.errors import (
    AddresseeUnknown,
)
from platform_hub.protocol.numbers import UNNUMBERED_ATENA
from platform_hub.protocol.specs import InterfaceSpec, Item, Pattern

Direction = Literal["request", "response"]


# Who answers "which person is this 宛名番号, and what is their number at that unit": a session of the
# caller's transaction (``in_session``), or the query path's store (``linkage.message_store``).
Lookup = Callable[[str, str, str | None], Awaitable[tuple[str, str | None]]]


def in_session(session: AsyncSession) -> Lookup:
    return functools.partial(translation.translate, session)


async def translate(
    lookup: Lookup,
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
            integrated, number = await lookup(from_unit, atena, to_unit)
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
    **facts: Any,
) -> None:
    """One transfer record entry per person in ``subjects`` (``None``: one no one could be named for)
    about a transfer of ``message`` (``transfer_facts_of``), in the caller's transaction."""
    await record_entries(
        session, transfer_facts_of(message, spec, **facts), subjects, state.require_vault().record_key
    )


def transfer_facts_of(
    message: Message,
    spec: InterfaceSpec,
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
) -> TransferFacts:
    """What a transfer of ``message`` was — a query's, a notification's, a batch chunk's — by
    ``audit.transfer_facts``."""
    return transfer_facts(
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
        binding=message.binding,
        onward_binding=None if outcome == TransferOutcome.REFUSED else _onward(spec, requester, provider),
    )


def _onward(spec: InterfaceSpec, requester: Unit, provider: Unit) -> str:
    """How the hub passes a transfer on: a query to its provider, a notification or a batch to its
    subscriber (the requester of the delivery), by the binding that unit chose, a batch as file or SOAP."""
    if spec.pattern == Pattern.QUERY:
        return provider.binding(spec.id, "provides").value
    if spec.pattern == Pattern.BATCH:
        row = requester.interface(spec.id, "subscribes")
        return "file" if row is not None and row.delivery == FileDelivery.FILE else Binding.SOAP.value
    return requester.binding(spec.id, "subscribes").value


async def record_delivery(
    session: AsyncSession,
    state: LinkageRuntime,
    ready: Prepared,
    subjects: Sequence[str | None],
    *,
    items: Sequence[str] = (),
    refusal: str | None = None,
) -> None:
    """The entries of a delivery to its subscriber (a batch chunk's records), in the caller's
    transaction: ``delivery_facts``."""
    facts = delivery_facts(ready, items=items, refusal=refusal)
    await record_entries(session, facts, subjects, state.require_vault().record_key)


def delivery_facts(
    ready: Prepared, *, items: Sequence[str] = (), refusal: str | None = None
) -> TransferFacts:
    """A delivery to its subscriber (a notification's, or a batch chunk's records): delivered now
    under the rule that allowed it, or refused with the reason."""
    return transfer_facts_of(
        ready.message,
        ready.inbound.spec,
        requester=ready.subscriber,
        provider=ready.inbound.source,
        outcome=TransferOutcome.REFUSED if refusal else TransferOutcome.DELIVERED,
        items=() if refusal else items,
        decision=None if refusal else ready.rule,
        refusal=refusal,
        provided_at=None if refusal else utcnow(),
    )
