"""Delivering a batch: its chunks to each subscriber in order, translated to the subscriber's 宛名番号,
each chunk's entries written while the next is sent; a crash resumes at the first chunk not done."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from lxml import etree

from platform_hub.addressees import resident_changes, translation
from platform_hub.batches import files, repository
from platform_hub.batches.service import addressee_path, head_item, record_fields, result_row
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import unit_client
from platform_hub.linkage.inbound import Inbound, Prepared
from platform_hub.linkage.records import items_present, record_delivery
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import (
    Batch,
    BatchChunkDelivery,
    DeliveryStatus,
    FileDelivery,
    FileEncoding,
)
from platform_hub.protocol import characters
from platform_hub.protocol.envelope import lk, read_envelope
from platform_hub.protocol.errors import (
    ServiceUnavailable,
)
from platform_hub.protocol.namespaces import LK
from platform_hub.protocol.numbers import UNNUMBERED_ATENA
from platform_hub.protocol.specs import InterfaceSpec


async def deliver(state: LinkageRuntime, ready: Prepared, delivery_id: int, attempt: int) -> DeliveryStatus:
    """Deliver a batch's chunks not yet done; returns how the delivery ends (refused: the ordinance
    refused it).

    Chunk n+1 is sent while chunk n's entries are written: a crash between the two sends chunk n+1
    again later (the receiver dedups it), and records each chunk once.
    """
    async with unit_of_work(state.sessions) as session:
        batch = await repository.get_batch(session, ready.message.id)
        done = await repository.delivered_chunks(session, delivery_id)
    assert batch is not None
    recording: asyncio.Task[None] | None = None
    try:
        for chunk_no in range(batch.chunks):
            if chunk_no in done:
                continue
            sent = await _send_chunk(state, ready, batch, chunk_no)
            if recording is not None:
                await recording
            recording = asyncio.create_task(_chunk_done(state, ready, batch, delivery_id, attempt, sent))
        if recording is not None:
            await recording
    finally:
        if recording is not None and not recording.done():
            await asyncio.gather(recording, return_exceptions=True)
    taken = _file_of(state, ready)
    if taken is not None and not ready.refusal:  # every chunk written: the file appears whole
        outbox, encoding = taken
        await asyncio.to_thread(outbox.assemble, ready.inbound.spec, batch.chunks, encoding)
    return DeliveryStatus.REFUSED if ready.refusal else DeliveryStatus.DELIVERED


def _file_of(state: LinkageRuntime, ready: Prepared) -> tuple[files.OutboxFile, FileEncoding] | None:
    """Where a subscriber that takes the batch as a file gets it, in its encoding; None: as messages."""
    declared = ready.subscriber.interface(ready.inbound.spec.id, "subscribes")
    if declared is None or declared.delivery != FileDelivery.FILE:
        return None
    outbox = files.OutboxFile(
        state.settings.files_dir,
        ready.subscriber.code,
        ready.inbound.spec.id,
        ready.message.reception_number,
        full_set=head_item(ready.inbound, "ShoriKubun") == "1",
    )
    return outbox, declared.encoding


Reason = tuple[str, str]  # a refusal's code and why


@dataclass
class _Sent:
    """A chunk sent to one subscriber: the persons it went about, and the records refused there."""

    chunk_no: int
    # The persons delivered about, by the items their records carried (most records carry the same).
    delivered: dict[tuple[str, ...], list[str | None]] = field(default_factory=dict)
    # seq, record, person, and why when it is not the subscriber's refusal (E3001 or E3002)
    refused: list[tuple[int, etree._Element, str | None, Reason | None]] = field(default_factory=list)

    @property
    def records_delivered(self) -> int:
        return sum(len(subjects) for subjects in self.delivered.values())


async def _send_chunk(state: LinkageRuntime, ready: Prepared, batch: Batch, chunk_no: int) -> _Sent:
    """Translate a chunk's records to the subscriber's 宛名番号 and send those it may have."""
    subscriber = ready.subscriber
    async with unit_of_work(state.sessions) as session:
        chunk = await repository.get_chunk(session, batch.message_id, chunk_no)
        assert chunk is not None
        person_ids = [int(p) for _, p, _ in chunk.persons if p is not None]
        atenas = {} if ready.refusal else await translation.atenas_in(session, person_ids, subscriber.code)
    records = list(etree.fromstring(b'<r xmlns:lk="%s">%s</r>' % (LK.encode(), chunk.records)))
    addressee = addressee_path(ready.inbound.compiled)
    sent, delivered, lines = _Sent(chunk_no), [], []
    taken = _file_of(state, ready)
    items_of: dict[tuple[str, ...], tuple[str, ...]] = {}  # a record's items by its shape: most share one
    for (seq, person_id, integrated), record in zip(chunk.persons, records, strict=True):
        subject = str(integrated) if integrated is not None else None
        element = record.find(addressee) if addressee else None
        unlinked = element is not None and person_id is not None and int(person_id) not in atenas
        if ready.refusal or (unlinked and not _newcomer(ready.inbound, record)):
            sent.refused.append((int(seq), record, subject, None))
            continue
        if element is not None and person_id is not None:
            element.text = atenas.get(int(person_id), UNNUMBERED_ATENA)
        if subscriber.characters == "jisx0213":  # its system holds JIS X 0213 only (docs/characters.md)
            characters.fall_back_items(record, _n_items(ready.inbound.spec))
        if taken is not None:
            line, unfit = _file_line(ready.inbound.spec, record, taken[1])
            if unfit is not None:
                sent.refused.append((int(seq), record, subject, ("E1002", unfit)))
                continue
            lines.append(line)
        delivered.append(record)
        shape = tuple(element.tag for element in record.iter())
        if shape not in items_of:
            items_of[shape] = tuple(items_present(ready.inbound.spec.record.items or (), record))
        sent.delivered.setdefault(items_of[shape], []).append(subject)
    if taken is not None and not ready.refusal:  # even when empty: the file is assembled from them all
        await asyncio.to_thread(taken[0].write_part, chunk_no, lines)
    elif delivered:
        await unit_client.deliver_message(state, subscriber, _chunk_message(ready, chunk_no, delivered))
    return sent


def _file_line(
    spec: InterfaceSpec, record: etree._Element, encoding: FileEncoding
) -> tuple[bytes, str | None]:
    """A record as a row of the subscriber's file; or why it cannot be one (a character the
    subscriber's encoding lacks: CP932 has no 𠮷), the item and the code point named."""
    values = [(record.findtext(lk(item.romaji)) or "") for item in spec.record.items or ()]
    try:
        return files.csv_line(values).encode(files.codec(encoding)), None
    except UnicodeEncodeError:
        pass
    for item, value in zip(spec.record.items or (), values, strict=True):
        for char in value:
            try:
                char.encode(files.codec(encoding))
            except UnicodeEncodeError:
                return b"", f"{item.romaji}: U+{ord(char):04X} has no {encoding} form"
    return b"", f"not {encoding}"


def _newcomer(inbound: Inbound, record: etree._Element) -> bool:
    """A resident the subscriber does not number yet, who reaches it as 未採番 (as a 住民異動 would):
    anyone in a 全件 set, or a 転入・出生・職権記載 in a 差分 set."""
    if not inbound.spec.updates_registry:
        return False
    return head_item(inbound, "ShoriKubun") == "1" or resident_changes.introduces_person(
        record_fields(record)
    )


def _n_items(spec: InterfaceSpec) -> set[str]:
    return {item.romaji for item in spec.all_items() if item.type == "N"}


def _chunk_message(ready: Prepared, chunk_no: int, records: list[etree._Element]) -> bytes:
    """The batch's head with this chunk's records, under a MSGID of its own."""
    envelope = read_envelope(etree.fromstring(ready.inbound.envelope.to_bytes()))
    msgid = envelope.message.find(f"{lk('MessageHeader')}/{lk('MSGID')}")
    payload = envelope.payload()
    assert msgid is not None and payload is not None
    msgid.text = f"{ready.message.reception_number}-{chunk_no:06d}"
    spec = ready.inbound.spec
    before = {lk(item.romaji) for item in spec.request[: spec.request.index(spec.record)]}
    at = sum(1 for child in payload if child.tag in before)
    if ready.subscriber.characters == "jisx0213":  # the head's N items; the records fell back already
        characters.fall_back_items(payload, _n_items(spec))
    for offset, record in enumerate(records):
        payload.insert(at + offset, record)
    return envelope.to_bytes()


async def _chunk_done(
    state: LinkageRuntime,
    ready: Prepared,
    batch: Batch,
    delivery_id: int,
    attempt: int,
    sent: _Sent,
) -> None:
    """Mark the chunk done and write its transfer entries, while the delivery is still ours."""
    code, why = "E3002", f"not linked in unit {ready.subscriber.code}"
    if ready.refusal:
        code, why = "E3001", ready.refusal
    # Each record's own reason (a character the subscriber's file cannot carry), or the subscriber's.
    refusals = {seq: reason or (code, why) for seq, _, _, reason in sent.refused}
    lease = timedelta(seconds=state.settings.delivery_timeout_seconds * 2 + 5)
    async with unit_of_work(state.sessions) as session:
        if not await repository.hold_lease(session, delivery_id, attempt, utcnow() + lease):
            raise ServiceUnavailable(f"delivery {delivery_id} was taken over; it goes on there")
        session.add(
            BatchChunkDelivery(
                delivery_id=delivery_id,
                chunk_no=sent.chunk_no,
                delivered=sent.records_delivered,
                refused=len(sent.refused),
            )
        )
        await repository.add_results(
            session,
            [
                result_row(batch, seq, record, *refusals[seq], ready.subscriber.code)
                for seq, record, _, _ in sent.refused
            ],
        )
        for items, subjects in sent.delivered.items():
            await record_delivery(session, state, ready, subjects, items=items)
        for reason in dict.fromkeys(refusals.values()):  # one entry call per reason: most share one
            refused = [subject for seq, _, subject, _ in sent.refused if refusals[seq] == reason]
            await record_delivery(session, state, ready, refused, refusal=reason[1])
