"""The hub's one hardened XML parser: no entities, no DTD, no network; the size of a document, its
depth, the namespace declarations in scope, the attributes of an element and the number of elements
bounded while the parser runs."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from lxml import etree

from platform_hub.protocol.errors import MalformedMessage

T = TypeVar("T")

# RFC 3986: a scheme, then URI characters only. libxml2's C14N refuses a namespace URI it cannot
# parse or that has no scheme (relative), so the hub refuses both when it reads the declaration.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")


@dataclass(frozen=True)
class XmlLimits:
    """What one document may hold; past any limit it is E1001.

    libxml2's XSD validation and C14N spend time quadratic in the namespace declarations in scope
    and in the attributes of one element (120,000 declarations under the 2 MiB body cap held a
    request for 154 s), so those are capped far below what a body could carry; the elements, which
    every later step walks, far below the half million a 2 MiB body could hold.
    """

    depth: int
    namespaces: int  # declarations in scope at any element
    attributes: int  # on one element
    elements: int  # in the document, or in one record of a batch (see ``FencedReader.forget``)


class FencedReader:
    """A hardened ``iterparse`` of one document: its ``start`` and ``end`` events, each checked against
    the limits as the parser reads, so a hostile document is refused before it is built. Comments
    and processing instructions are dropped: they are no part of a message, nor of its digest."""

    def __init__(self, source: IO[bytes], limits: XmlLimits) -> None:
        self._events = etree.iterparse(
            source,
            events=("start-ns", "start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_pis=True,
            remove_comments=True,
        )
        self.limits = limits
        self.depth = 0
        self.elements = 0
        self._root: etree._Element | None = None
        self._declared = 0  # declarations read for the next start tag
        self._in_scope = [0]  # declarations in scope at each open element (and before the root)

    def __iter__(self) -> Iterator[tuple[str, etree._Element]]:
        return self

    def __next__(self) -> tuple[str, etree._Element]:
        while True:
            try:
                event, item = next(self._events)
            except etree.XMLSyntaxError as exc:
                raise MalformedMessage(f"not well-formed XML: {exc.msg}") from None
            if event == "start-ns":
                self._declare(*item)  # start-ns events carry (prefix, uri)
                continue
            element: etree._Element = item
            if event == "start":
                self._start(element)
            else:
                self.depth -= 1
                self._in_scope.pop()
            return event, element

    @property
    def root(self) -> etree._Element:
        if self._root is None:
            raise MalformedMessage("empty document")
        return self._root

    def forget(self, element: etree._Element) -> None:
        """``element`` (a batch's record) was handed on and dropped: its elements no longer count."""
        self.elements -= sum(1 for _ in element.iter())

    def _declare(self, prefix: str, uri: str) -> None:
        self._declared += 1
        if self._in_scope[-1] + self._declared > self.limits.namespaces:
            raise MalformedMessage(
                f"more than {self.limits.namespaces} namespace declarations in scope at one element"
            )
        if not (uri == "" and not prefix) and not _ABSOLUTE_URI.fullmatch(uri):
            # ``xmlns=""`` takes the default namespace away; every other name must be an absolute URI.
            raise MalformedMessage(f"namespace {prefix or '(default)'} is not an absolute URI: {uri[:100]!r}")

    def _start(self, element: etree._Element) -> None:
        if self._root is None:
            if _has_doctype(element):
                raise MalformedMessage("DOCTYPE declarations are not allowed")
            self._root = element
        self._in_scope.append(self._in_scope[-1] + self._declared)
        self._declared = 0
        self.depth += 1
        self.elements += 1
        limits = self.limits
        if self.depth > limits.depth:
            raise MalformedMessage(f"XML nesting deeper than {limits.depth} levels")
        if self.elements > limits.elements:
            raise MalformedMessage(f"more than {limits.elements:,} elements")
        if len(element.attrib) > limits.attributes:
            raise MalformedMessage(
                f"{len(element.attrib):,} attributes on one element (at most {limits.attributes})"
            )


# A document this small is read on the event loop: handing it to a worker thread costs more than
# reading it, and holds no other client up for long.
INLINE_BYTES = 64 * 1024


async def read_off_loop(read: Callable[..., T], body: bytes, *args: Any, **kwargs: Any) -> T:
    """``read(body, …)``, in a worker thread when the body is large (a large document holds neither the
    event loop nor other clients), on the loop when it is small."""
    if len(body) <= INLINE_BYTES:
        return read(body, *args, **kwargs)
    return await asyncio.to_thread(read, body, *args, **kwargs)


def parse_xml(body: bytes, *, max_bytes: int, limits: XmlLimits) -> etree._Element:
    """Parse an untrusted document whole, refusing it at the first limit it passes (libxml2's own
    limits, no ``huge_tree``, stay on as a second fence)."""
    if len(body) > max_bytes:
        raise MalformedMessage(f"message body of {len(body)} bytes exceeds the limit of {max_bytes}")
    reader = FencedReader(io.BytesIO(body), limits)
    for _ in reader:
        pass
    return reader.root


def canonical(element: etree._Element) -> bytes:
    """``element`` in exclusive C14N, what digests are taken of. A document lxml cannot canonicalise
    (a relative namespace URI, say) is the sender's fault, not the hub's."""
    try:
        return etree.tostring(element, method="c14n", exclusive=True)
    except etree.Error as exc:
        raise MalformedMessage(f"the message cannot be canonicalised (exclusive C14N): {exc}") from None


def local_name(element: etree._Element) -> str:
    """The local part of an element's name, even of one lxml would not take back: a document still
    being read may hold a name with a prefix never declared (refused once the parser gets there)."""
    return str(element.tag).rpartition("}")[2]


def _has_doctype(root: etree._Element) -> bool:
    """Checked at the root's start tag: the prolog (and any DTD) has been read by then, nothing else."""
    docinfo = root.getroottree().docinfo
    return bool(docinfo.doctype) or docinfo.internalDTD is not None  # type: ignore[attr-defined]
