"""The hub's one hardened XML parser: no entities, no DTD, no network, bounded size and depth."""

from __future__ import annotations

import io

from lxml import etree

from platform_hub.kit.errors import MalformedMessage


def parse_xml(body: bytes, *, max_bytes: int, max_depth: int) -> etree._Element:
    """Parse an untrusted document, refusing DOCTYPEs and checking depth while the parser runs.

    ``iterparse`` lets us stop at the first element past ``max_depth`` instead of building a deep
    tree first; libxml2's own limits (no ``huge_tree``) stay on as a second fence.
    """
    if len(body) > max_bytes:
        raise MalformedMessage(f"message body of {len(body)} bytes exceeds the limit of {max_bytes}")
    events = etree.iterparse(
        io.BytesIO(body),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )
    depth = 0
    try:
        for event, element in events:
            if event == "start":
                if depth == 0 and has_doctype(element):
                    raise MalformedMessage("DOCTYPE declarations are not allowed")
                depth += 1
                if depth > max_depth:
                    raise MalformedMessage(f"XML nesting deeper than {max_depth} levels")
            else:
                depth -= 1
        root: etree._Element | None = events.root
    except etree.XMLSyntaxError as exc:
        raise MalformedMessage(f"not well-formed XML: {exc.msg}") from None
    if root is None:
        raise MalformedMessage("empty document")
    return root


def has_doctype(root: etree._Element) -> bool:
    """Checked at the root's start tag: the prolog (and any DTD) has been read by then, nothing else."""
    docinfo = root.getroottree().docinfo
    return bool(docinfo.doctype) or docinfo.internalDTD is not None  # type: ignore[attr-defined]
