"""一括: receive a batch record by record, and deliver it to each subscriber chunk by chunk.

Receiving. The head (the envelope without its records) is checked like any message: routing, source
and scope, XSD, MSGID. Then each record on its own: against the record's XSD, and its 宛名番号
against the registry. A refused record refuses only itself. The records are kept in chunks, each
committed on its own, so an upload cut short by a crash resumes where it stopped when the sender
sends the same batch (same MSGID) again. The answer counts the records (受付件数, 正常件数, エラー件数)
and names the refused ones; ``GET /batches/{reception_number}/results`` has them all.

Delivering. Each chunk is one message to the subscriber, its MSGID the reception number and the
chunk's number (a chunk sent twice is deduplicated by the receiver), its 宛名番号 translated to the
subscriber's. The chunk's transfer entries — one per record, delivered or refused — are written in
the transaction that marks the chunk done, so a delivery resumed after a crash records nothing twice.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import IO

import structlog
from lxml import etree
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import repository as registry
from platform_hub.addressees import resident_changes
from platform_hub.auth.service import Principal
from platform_hub.batches import repository
from platform_hub.batches.reader import CsvBatch, Record, XmlBatch
from platform_hub.batches.schemas import BatchDelivery, BatchOut
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.vault import MyNumberVault
from platform_hub.linkage import deliveries, idempotency
from platform_hub.linkage import repository as messages
from platform_hub.linkage import service as linkage
from platform_hub.linkage.inbound import Inbound, answer
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import (
    Batch,
    BatchChunk,
    BatchResult,
    BatchStatus,
    FileEncoding,
    Message,
    MessageStatus,
)
from platform_hub.protocol.catalog import CompiledInterface
from platform_hub.protocol.envelope import Envelope, lk
from platform_hub.protocol.errors import (
    AddresseeUnknown,
    Forbidden,
    HubError,
    IdempotencyConflict,
    SchemaViolation,
    ServiceUnavailable,
    UnknownTarget,
)
from platform_hub.protocol.numbers import check_my_number
from platform_hub.protocol.specs import Pattern

log = structlog.get_logger()
GENESIS = "0" * 64
_NOT_HALF_WIDTH = re.compile("[^ -~\uff61-\uff9f]+")
ANSWER_RESULTS = 1000  # refused records named in the answer itself; the report has every one


# --- receiving -----------------------------------------------------------------------------------


async def receive_xml(state: LinkageRuntime, principal: Principal, source: IO[bytes]) -> bytes:
    """A batch message (its envelope as any message's), read as a stream; returns the ``_S01``."""
    reader = XmlBatch(source, limits=state.settings.xml_limits)
    tags = {
        c.spec.request_type: lk(c.spec.record.romaji)
        for c in state.catalog.interfaces.values()
        if c.record_schema
    }
    head = reader.head(tags)
    compiled = _batch_interface(state, head)
    return await _receive(
        state, principal, head, compiled, reader.records(lk(compiled.spec.record.romaji)), reader.rest
    )


async def receive_csv(
    state: LinkageRuntime, principal: Principal, source: IO[bytes], head: Envelope
) -> bytes:
    """A CSV file of records under a head built from the upload's parameters, in the encoding the
    sending unit declared for the interface; returns the ``_S01``."""
    compiled = _batch_interface(state, head)
    encoding = await declared_encoding(state, principal.unit_code or "", compiled.spec.id, "provides")
    reader = CsvBatch(source, compiled.spec, encoding.reading)
    return await _receive(state, principal, head, compiled, reader.records(), None)


async def declared_encoding(
    state: LinkageRuntime, unit_code: str, interface_id: str, relation: str
) -> FileEncoding:
    """The encoding a unit declared for its CSV files of an interface (UTF-8 with a BOM if none)."""
    unit = (await state.configuration.get()).unit(unit_code)
    declared = unit.interface(interface_id, relation) if unit is not None else None
    return declared.encoding if declared is not None else FileEncoding.UTF_8_SIG


def _batch_interface(state: LinkageRuntime, head: Envelope) -> CompiledInterface:
    compiled = linkage.interface_of(state, head)
    if compiled.spec.pattern != Pattern.BATCH:
        raise UnknownTarget(f"{compiled.spec.id} is a {compiled.spec.pattern} interface, not a batch")
    return compiled


@dataclass
class _Taken:
    message: Message
    batch: Batch
    replay: bytes | None = None


async def _receive(
    state: LinkageRuntime,
    principal: Principal,
    head: Envelope,
    compiled: CompiledInterface,
    records: Iterator[Record],
    rest: Callable[[], Envelope] | None,
) -> bytes:
    header = head.header()
    structlog.contextvars.bind_contextvars(
        msgid=header.msgid, interface=compiled.spec.id, pattern=Pattern.BATCH, source=header.source
    )
    inbound = linkage.route(await state.configuration.get(), head, compiled, header)
    inbound.binding = "soap" if rest is not None else "file"  # only a CSV file has no XML tail
    linkage.check_source(principal, inbound)
    compiled.validate_head(head.message)
    linkage.check_message_type(head, header)
    inbound.digest = linkage.body_digest(state, inbound)
    numbers = _numbers(state, compiled)
    taken = await _take(state, inbound)
    structlog.contextvars.bind_contextvars(reception_number=taken.message.reception_number)
    chunks = _chunks(records, taken.batch.chunk_records, compiled, numbers)
    try:
        if taken.replay is not None:  # the same batch again: the same records, the same answer
            _same_records(inbound, taken.batch, chunks)
            return taken.replay
        await _keep_records(state, inbound, taken.batch, chunks)
        if rest is not None:  # items after the records, read only now
            compiled.validate_head(rest().message)
    except HubError as error:
        error.reception_number = taken.message.reception_number
        if taken.replay is None and not isinstance(error, IdempotencyConflict | ServiceUnavailable):
            async with unit_of_work(state.sessions) as session:  # nothing kept but the refusal
                await repository.refuse(session, taken.batch.message_id)
        raise
    return await _finish(state, inbound, taken.message)


async def _take(state: LinkageRuntime, inbound: Inbound) -> _Taken:
    """A new batch; or the same MSGID again: its answer, or the rest of an upload a crash cut short."""
    header, now = inbound.header, utcnow()

    async def take(session: AsyncSession) -> _Taken:
        earlier = await messages.find_message(session, header.source, header.msgid)
        if earlier is None:
            message = idempotency.new_message(inbound, MessageStatus.RECEIVING, now)
            batch = Batch(
                message_id=message.id,
                status=BatchStatus.RECEIVING,
                chunk_records=state.settings.batch_chunk_records,
                chunks=0,
                records_received=0,
                records_accepted=0,
                records_refused=0,
                records_digest=GENESIS,
                updated_at=now,
            )
            session.add(message)
            await session.flush()
            session.add(batch)
            return _Taken(message, batch)
        if earlier.body_digest != inbound.digest:
            raise IdempotencyConflict(
                f"MSGID {header.msgid} was sent before with a different head",
                reception_number=earlier.reception_number,
            )
        kept = await repository.get_batch(session, earlier.id)
        if kept is None:
            raise IdempotencyConflict(f"MSGID {header.msgid} was used for a message that is not a batch")
        if earlier.response_xml is not None:
            return _Taken(earlier, kept, replay=earlier.response_xml)
        return await _resume(state, session, earlier, kept, now)

    return await idempotency.in_transaction(state, take)


async def _resume(
    state: LinkageRuntime, session: AsyncSession, message: Message, batch: Batch, now: datetime
) -> _Taken:
    """The same batch again before it was answered: go on where it stopped, unless it is still
    being received (a sender that gave up waiting), or start over when it was refused."""
    busy = (now - batch.updated_at).total_seconds() < 2 * state.settings.query_timeout_seconds
    if batch.status == BatchStatus.RECEIVING and busy:
        raise ServiceUnavailable(
            f"batch {message.msgid} is being received; send it again later",
            headers={"Retry-After": "5"},
            reception_number=message.reception_number,
        )
    if batch.status == BatchStatus.REFUSED:  # what it had received is gone: from the start
        batch.status, batch.records_digest = BatchStatus.RECEIVING, GENESIS
    batch.updated_at = now
    return _Taken(message, batch)


@dataclass
class _Numbers:
    """Where a batch that feeds the registry carries each record's 個人番号, and the key that hashes it."""

    paths: list[str]
    vault: MyNumberVault

    def take(self, record: Record) -> list[str]:
        """Every 個人番号 item of the record, removed: the hub keeps the number in the registry and
        passes it to nobody. Called after the record's XSD check, so none is missed (or let through)
        whatever the record holds."""
        if isinstance(record, str):
            return []
        taken = []
        for path in self.paths:
            for element in record.findall(path):
                parent = element.getparent()
                assert parent is not None
                parent.remove(element)
                taken.append((element.text or "").strip())
        return taken


def _numbers(state: LinkageRuntime, compiled: CompiledInterface) -> _Numbers | None:
    record = compiled.spec.record.romaji
    paths = [path[1:] for path in compiled.spec.paths("request", "my_number") if path[0] == record]
    if not paths:
        return None
    return _Numbers(["/".join(lk(name) for name in path) for path in paths], state.require_vault())


@dataclass
class _Chunk:
    no: int
    first: int  # the first record's place in the batch, from 1
    records: list[Record]
    serialized: list[bytes]
    my_numbers: list[str | None]
    invalid: list[HubError | None]  # each record's XSD refusal, checked before its 個人番号 was taken
    digest: str  # of every record up to this chunk's last


def _chunks(
    records: Iterator[Record], size: int, compiled: CompiledInterface, numbers: _Numbers | None
) -> Iterator[_Chunk]:
    """The records in chunks, each record checked against its XSD as it came (its 個人番号 still in
    it), then stripped of every 個人番号, with the digest chained over the chunks so far: what proves
    that a batch sent again (to resume it, or to ask for its answer) carries the same records. A
    個人番号 counts through its keyed hash: a plain digest over a record would let a guesser test numbers."""
    digest, first, no = GENESIS, 1, 0
    while chunk := list(islice(records, size)):
        invalid = [_invalid(compiled, record) for record in chunk]
        taken = [numbers.take(record) if numbers else [] for record in chunk]
        for at, found in enumerate(taken):
            if len(found) > 1 and invalid[at] is None:  # the XSD allows one; never trust that alone
                invalid[at] = SchemaViolation("the record carries more than one 個人番号 item")
        serialized = [r.encode() if isinstance(r, str) else etree.tostring(r) for r in chunk]
        hashed = hashlib.sha256(b"".join(serialized))
        for number in (n for found in taken for n in found):
            assert numbers is not None
            hashed.update(numbers.vault.lookup_hash(number).encode())
        digest = hashlib.sha256((digest + hashed.hexdigest()).encode()).hexdigest()
        kept = [found[0] if len(found) == 1 else None for found in taken]
        yield _Chunk(no, first, chunk, serialized, kept, invalid, digest)
        first, no = first + len(chunk), no + 1


def _invalid(compiled: CompiledInterface, record: Record) -> HubError | None:
    if isinstance(record, str):  # not even an element: a CSV row that could not be one
        return SchemaViolation(record)
    try:
        compiled.validate_record(record)
    except SchemaViolation as invalid:
        return invalid
    return None


def _differs(inbound: Inbound, what: str) -> IdempotencyConflict:
    return IdempotencyConflict(f"MSGID {inbound.header.msgid} was sent before with {what}")


def _same_records(inbound: Inbound, batch: Batch, chunks_read: Iterator[_Chunk]) -> None:
    digest, chunks = GENESIS, 0
    for chunk in chunks_read:
        digest, chunks = chunk.digest, chunks + 1
    if (chunks, digest) != (batch.chunks, batch.records_digest):
        raise _differs(inbound, "other records")


async def _keep_records(
    state: LinkageRuntime, inbound: Inbound, batch: Batch, chunks: Iterator[_Chunk]
) -> None:
    """Check and keep every record, chunk by chunk; chunks kept before (a resumed upload) are read
    again only to prove the sender sent the same records."""
    read = 0
    for chunk in chunks:
        read += 1
        if chunk.no >= batch.chunks:
            await _keep_chunk(state, inbound, batch, chunk)
        elif chunk.no == batch.chunks - 1 and chunk.digest != batch.records_digest:
            raise _differs(inbound, f"other records (up to record {chunk.first + len(chunk.records) - 1})")
    if read < batch.chunks:
        raise _differs(inbound, "more records")


@dataclass
class _Checked:
    """A chunk's records checked: the accepted (by place) and the refused (as result rows)."""

    accepted: list[tuple[int, bytes, str | None]] = field(default_factory=list)  # seq, record, 宛名番号
    refused: list[dict[str, object]] = field(default_factory=list)

    def refuse(self, batch: Batch, chunk: _Chunk, seq: int, error: HubError) -> None:
        why = "; ".join(error.details) or error.message
        self.refused.append(result_row(batch, seq, chunk.records[seq - chunk.first], error.code, why))


Persons = dict[int, tuple[int, str] | None]  # an accepted record's place → its person (id, integrated number)


async def _keep_chunk(state: LinkageRuntime, inbound: Inbound, batch: Batch, chunk: _Chunk) -> None:
    checked = _check_records(inbound, batch, chunk)
    try:
        async with unit_of_work(state.sessions) as session:
            if inbound.spec.updates_registry:
                persons = await _apply_to_registry(state, session, inbound, batch, chunk, checked)
            else:
                persons = await _look_up(session, inbound, batch, chunk, checked)
            kept = [(seq, record) for seq, record, _ in checked.accepted if seq in persons]
            row = BatchChunk(
                message_id=batch.message_id,
                chunk_no=chunk.no,
                records=b"".join(record for _, record in kept),
                persons=[[seq, *(persons[seq] or (None, None))] for seq, _ in kept],
            )
            refused = sorted(checked.refused, key=lambda result: int(str(result["seq"])))
            await repository.add_chunk(
                session, row, refused, received=len(chunk.records), digest=chunk.digest, now=utcnow()
            )
    except IntegrityError:  # another request resuming the same batch kept this chunk first
        raise ServiceUnavailable(
            f"batch {inbound.header.msgid} is being received by another request", headers={"Retry-After": "5"}
        ) from None


async def _look_up(
    session: AsyncSession, inbound: Inbound, batch: Batch, chunk: _Chunk, checked: _Checked
) -> Persons:
    """Each record's person by its 宛名番号 at the source (E3002 when it links to nobody)."""
    unit = inbound.source.code
    found = await registry.persons_by_atena(session, unit, {a for _, _, a in checked.accepted if a})
    persons: Persons = {}
    for seq, _, atena in checked.accepted:
        if atena and atena not in found:
            why = f"AtenaNo {atena} of unit {unit} is not linked to any person"
            checked.refuse(batch, chunk, seq, AddresseeUnknown(why))
        else:
            persons[seq] = found[atena] if atena else None
    return persons


async def _apply_to_registry(
    state: LinkageRuntime,
    session: AsyncSession,
    inbound: Inbound,
    batch: Batch,
    chunk: _Chunk,
    checked: _Checked,
) -> Persons:
    """Each record a 住民異動 of its own, in order. A 全件 set brings in every resident the registry
    does not know yet, whatever the record's 異動事由; a refused record changes nothing."""
    full_set = head_item(inbound, "ShoriKubun") == "1"
    actor = f"{inbound.source.code}:{inbound.header.user or '-'}"
    persons: Persons = {}
    for seq, _, _ in checked.accepted:
        fields = record_fields(chunk.records[seq - chunk.first])
        event = inbound.spec.code_label("IdoJiyuCode", fields.get("IdoJiyuCode", "")) or "住民異動"
        try:
            person = await resident_changes.apply_resident_change(
                session,
                state.require_vault(),
                inbound.source.code,
                fields,
                chunk.my_numbers[seq - chunk.first],
                actor=actor,
                event_name=event,
                bring_in=full_set,
                remainder_one=state.settings.atena_check_digit_remainder_one,
            )
        except HubError as refused:
            checked.refuse(batch, chunk, seq, refused)
            continue
        persons[seq] = (person.id, person.integrated_number)
    return persons


def record_fields(record: Record) -> dict[str, str]:
    assert not isinstance(record, str)
    return {etree.QName(e).localname: (e.text or "").strip() for e in record if isinstance(e.tag, str)}


def head_item(inbound: Inbound, romaji: str) -> str | None:
    payload = inbound.envelope.payload()
    return None if payload is None else payload.findtext(lk(romaji))


def _check_records(inbound: Inbound, batch: Batch, chunk: _Chunk) -> _Checked:
    """Each record's XSD verdict (and a 個人番号's check digit); the 宛名番号 of each that passes."""
    checked = _Checked()
    addressee = addressee_path(inbound.compiled)
    places = range(chunk.first, chunk.first + len(chunk.records))
    checks = zip(places, chunk.records, chunk.serialized, chunk.my_numbers, chunk.invalid, strict=True)
    for seq, record, data, number, invalid in checks:
        try:
            if invalid is not None:
                raise invalid
            if number is not None:
                check_my_number(number)
        except HubError as refused:
            checked.refuse(batch, chunk, seq, refused)
            continue
        assert not isinstance(record, str)
        atena = (record.findtext(addressee) or "").strip() if addressee else None
        checked.accepted.append((seq, data, atena))
    return checked


def addressee_path(compiled: CompiledInterface) -> str | None:
    """Where a record carries its person's 宛名番号 (the first addressee item under the record)."""
    record = compiled.spec.record.romaji
    paths = [path[1:] for path in compiled.spec.paths("request", "addressee") if path[0] == record]
    return "/".join(lk(name) for name in paths[0]) if paths else None


def _record_no(record: Record) -> str | None:
    return None if isinstance(record, str) else record.findtext(lk("RecordNo"))


def result_row(
    batch: Batch, seq: int, record: Record, code: str, message: str, unit: str | None = None
) -> dict[str, object]:
    record_no = _record_no(record)
    return {
        "message_id": batch.message_id,
        "seq": seq,
        "record_no": record_no[:16] if record_no else None,
        "subscriber_unit": unit,
        "code": code,
        "message": message,
    }


async def _finish(state: LinkageRuntime, inbound: Inbound, message: Message) -> bytes:
    """Every record kept: answer with the counts, and queue the batch for each subscriber."""
    async with unit_of_work(state.sessions) as session:
        batch = await repository.get_batch(session, message.id)
        stored = await messages.get_message(session, message.id)
        assert batch is not None and stored is not None
        refused = await repository.results(session, message.id, limit=ANSWER_RESULTS)
        ack = _answer(inbound, stored.reception_number, batch, refused).to_bytes()
        batch.status, batch.updated_at = BatchStatus.RECEIVED, utcnow()
        stored.status, stored.response_xml, stored.completed_at = MessageStatus.ACCEPTED, ack, utcnow()
        if batch.records_accepted:  # about many people: it waits its turn and holds what follows
            await deliveries.enqueue_deliveries(session, stored, inbound.subscribers, subjects=[])
    if batch.records_accepted and inbound.subscribers:
        state.deliveries_waiting.set()
    log.info(
        "batch received",
        records=batch.records_received,
        accepted=batch.records_accepted,
        refused=batch.records_refused,
        subscribers=[u.code for u in inbound.subscribers],
    )
    return ack


def _answer(
    inbound: Inbound, reception_number: str, batch: Batch, refused: Sequence[BatchResult]
) -> Envelope:
    payload = etree.Element(lk("Payload"))
    for name, value in (
        ("UketsukeKensu", batch.records_received),
        ("SeijoKensu", batch.records_accepted),
        ("ErrorKensu", batch.records_refused),
    ):
        etree.SubElement(payload, lk(name)).text = str(value)
    if any(item.romaji == "RecordResult" for item in inbound.spec.response):
        for row in refused:
            result = etree.SubElement(payload, lk("RecordResult"))
            # The sender's レコード番号 when it is one, else the record's place in the batch.
            valid = (
                row.record_no
                and row.record_no.isascii()
                and row.record_no.isdigit()
                and len(row.record_no) <= 9
            )
            etree.SubElement(result, lk("RecordNo")).text = row.record_no if valid else str(row.seq)
            etree.SubElement(result, lk("ResultCode")).text = row.code
            etree.SubElement(result, lk("ResultMessage")).text = _half_width(row.message) or row.code
    return answer(inbound, reception_number, payload, result="1" if batch.records_refused else "0")


def _half_width(text: str) -> str:
    """結果メッセージ is an X item: the message without what is not half-width, up to 400 characters."""
    return " ".join(_NOT_HALF_WIDTH.sub(" ", text).split())[:400]


# --- what the sender reads -----------------------------------------------------------------------


async def batch_of(
    session: AsyncSession, principal: Principal, reception_number: str
) -> tuple[Message, Batch]:
    """A batch by its reception number, for the unit that sent it, an admin or an auditor."""
    found = await repository.by_reception_number(session, reception_number)
    if found is None:
        raise UnknownTarget(f"no batch {reception_number}")
    message, _ = found
    if principal.unit_code != message.source_unit and not (
        principal.acts_as("admin") or principal.acts_as("auditor")
    ):
        raise Forbidden(f"batch {reception_number} was sent by another unit")
    return found


async def progress(session: AsyncSession, message: Message, batch: Batch) -> BatchOut:
    """How far the batch is: its records received, accepted and refused, each subscriber's delivery."""
    progressed = await repository.delivery_progress(session, message.id)
    return BatchOut(
        reception_number=message.reception_number,
        msgid=message.msgid,
        interface_id=message.interface_id,
        source_unit=message.source_unit,
        status=batch.status,
        received_at=message.received_at,
        chunks=batch.chunks,
        records_received=batch.records_received,
        records_accepted=batch.records_accepted,
        records_refused=batch.records_refused,
        deliveries=[
            BatchDelivery(
                subscriber_unit=delivery.subscriber_unit,
                status=delivery.status,
                chunks_done=chunks,
                records_delivered=delivered,
                records_refused=refused,
            )
            for delivery, chunks, delivered, refused in progressed
        ],
    )


async def refused_records(
    session: AsyncSession, message_id: uuid.UUID, *, after: int = 0
) -> Sequence[BatchResult]:
    """A page of the batch's refused records (intake first, then per subscriber), after ``after``."""
    return await repository.results(session, message_id, after=after)
