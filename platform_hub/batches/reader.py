"""A batch's records, one at a time, from its XML envelope or from a CSV file, in bounded memory.

The XML is read by the hub's hardened parser under the fences of every message (no DTD, no entities,
no network; depth, namespaces, attributes and elements bounded, the elements per record): each record
is handed on when its end tag is read and then dropped from the tree, so the tree never holds more
than the head and one record. A CSV file's rows
become the same record elements, so one path checks both.
"""

from __future__ import annotations

import copy
import csv
import io
import re
from collections.abc import Iterator
from typing import IO

from lxml import etree

from platform_hub.kit.clock import utcnow
from platform_hub.protocol.envelope import Envelope, build_message, lk, read_envelope
from platform_hub.protocol.errors import MalformedMessage, SchemaViolation
from platform_hub.protocol.specs import InterfaceSpec
from platform_hub.protocol.xml import FencedReader, XmlLimits, local_name

# What a record is when it cannot even be made an element (a CSV row with too many fields).
Record = etree._Element | str


class XmlBatch:
    """The records of a batch message: ``head()`` first, then ``records()``, then ``rest()``."""

    def __init__(self, source: IO[bytes], *, limits: XmlLimits) -> None:
        self._reader = FencedReader(source, limits)
        self._pending: tuple[str, etree._Element] | None = None  # the first record's start tag

    def head(self, record_tag_of: dict[str, str]) -> Envelope:
        """Read up to the first record; ``record_tag_of`` maps each batch message type to its record's
        element name. The head is the envelope so far, the record left out."""
        while (step := next(self._reader, None)) is not None:
            event, element = step
            parent = element.getparent()
            if event == "start" and parent is not None and parent.tag == lk("Payload"):
                message = parent.getparent()
                message = message.getparent() if message is not None else None
                if message is not None and record_tag_of.get(local_name(message)) == element.tag:
                    self._pending = step
                    return self._head_before(parent.index(element))
        return read_envelope(self._reader.root)

    def _head_before(self, first: int) -> Envelope:
        """The envelope read so far, cut at the first record: the parser reads ahead, so the tree
        may already hold more records, and part of what follows them."""
        head = copy.deepcopy(self._reader.root)
        payload = head.find(f".//{lk('Payload')}")
        assert payload is not None
        del payload[first:]
        return read_envelope(head)

    def records(self, tag: str) -> Iterator[etree._Element]:
        """Each record at its end tag; the caller is done with it before asking for the next."""
        if self._pending is None:
            return
        depth = self._reader.depth  # the first record's level
        while (step := next(self._reader, None)) is not None:
            event, element = step
            if event != "end" or element.tag != tag or self._reader.depth != depth - 1:
                continue
            self._reader.forget(element)  # before the caller takes (and may change) it
            yield element
            parent = element.getparent()
            if parent is not None:  # drop the finished record: memory stays flat
                parent.remove(element)

    def rest(self) -> Envelope:
        """The envelope after the last record, the records gone: the head checked again in full."""
        while next(self._reader, None) is not None:
            pass
        return read_envelope(self._reader.root)


class CsvBatch:
    """A CSV file of one batch's records: a header row of item names (romaji or 項目名), then a row
    per record, in the sender's declared encoding (UTF-8 with or without a BOM, or CP932).

    The file is decoded as it is read (``io.TextIOWrapper``: memory stays flat whatever its size).
    A byte the encoding does not allow is kept apart as a surrogate (``surrogateescape``) until its
    row is split, so it refuses that record alone, with the item and the bytes named; only a file
    whose rows cannot be split (an unclosed quote) is refused whole, at the line it breaks."""

    def __init__(self, source: IO[bytes], spec: InterfaceSpec, encoding: str = "utf-8-sig") -> None:
        self._spec = spec
        self._encoding = "cp932" if encoding == "cp932" else "utf-8"
        self._text = io.TextIOWrapper(
            source, encoding=_READING[self._encoding], errors="surrogateescape", newline=""
        )
        self._rows = csv.reader(self._text)
        names = {name: item.romaji for item in spec.record.items or () for name in (item.romaji, item.name)}
        try:
            header = next(self._rows, None)
        except csv.Error as exc:
            raise MalformedMessage(f"the CSV header row cannot be read: {exc}") from None
        if not header:
            raise MalformedMessage("the CSV file is empty: it needs a header row of item names")
        if any(_UNREADABLE.search(name) for name in header):
            raise MalformedMessage(f"the CSV header row is not {self._encoding}: {_bytes_of(header)}")
        unknown = [name for name in header if name.strip() not in names]
        if unknown:
            raise SchemaViolation(
                f"the CSV header names items {spec.record.romaji} does not have: {', '.join(unknown)}"
            )
        self._columns = [names[name.strip()] for name in header]
        order = [item.romaji for item in spec.record.items or ()]
        self._order = sorted(range(len(self._columns)), key=lambda i: order.index(self._columns[i]))

    def records(self) -> Iterator[Record]:
        tag = lk(self._spec.record.romaji)
        try:
            for row in self._rows:
                if not row:
                    continue
                if len(row) > len(self._columns):
                    yield f"{len(row)} fields where the header names {len(self._columns)}"
                    continue
                unfit = self._unfit(row)
                if unfit:
                    yield unfit
                    continue
                record = etree.Element(tag)
                for i in self._order:  # the XSD wants the items in spec order
                    if i < len(row) and row[i] != "":
                        etree.SubElement(record, lk(self._columns[i])).text = row[i]
                yield record
        except csv.Error as exc:
            raise MalformedMessage(
                f"the CSV file cannot be read past line {self._rows.line_num}: {exc}"
            ) from None
        finally:
            self._text.detach()  # the caller's file is the caller's to close

    def _unfit(self, row: list[str]) -> str | None:
        """Why a row's fields cannot even be an element's text: bytes not of the encoding, or a
        character XML cannot carry; the item and the bytes or code point named."""
        problems = []
        for i, value in enumerate(row[: len(self._columns)]):
            item = self._columns[i]
            if _UNREADABLE.search(value):
                problems.append(f"{item}: bytes not valid {self._encoding}: {_bytes_of([value])}")
            elif (bad := _NOT_XML.search(value)) is not None:
                problems.append(f"{item}: U+{ord(bad.group()):04X} is a control character")
        return "; ".join(problems) or None


# Both UTF-8 forms are read alike: a BOM, if any, is dropped.
_READING = {"utf-8": "utf-8-sig", "cp932": "cp932"}
_UNREADABLE = re.compile("[\udc80-\udcff]+")  # bytes surrogateescape kept apart
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _bytes_of(values: list[str]) -> str:
    found = [m.group() for value in values for m in _UNREADABLE.finditer(value)]
    return ", ".join(" ".join(f"0x{ord(c) - 0xDC00:02X}" for c in run) for run in found[:5])


def csv_head(spec: InterfaceSpec, source: str, fields: dict[str, str]) -> Envelope:
    """The head of a CSV batch, from the upload's parameters: the header fields by their lower-case
    names (msgid, purpose_code, mode, destination, department, user), the batch's own items (those
    before and after the records) by romaji. What is missing is named by the head's XSD check."""
    payload = etree.Element(lk("Payload"))
    for item in spec.request:
        if item is not spec.record and fields.get(item.romaji):
            etree.SubElement(payload, lk(item.romaji)).text = fields[item.romaji]
    return build_message(
        spec.request_type,
        {
            "MSGID": fields.get("msgid", ""),
            "MSGTypeID": spec.request_type,
            "MSGMode": fields.get("mode", "0"),
            "SourceSystemID": source,
            "DestinationSystemID": fields.get("destination") or None,
            "PurposeCode": fields.get("purpose_code", ""),
            "SendDateTime": utcnow().isoformat(timespec="seconds"),
        },
        payload,
        {
            "RequestSourceUnitCode": fields.get("department", ""),
            "RequestSourceUserID": fields.get("user", ""),
        },
    )
