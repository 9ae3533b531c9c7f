"""Payloads as Python dicts keyed by the catalog's romaji item names, to and from the Payload element.

A repeated item (``repeat`` other than 1) is a list; a GROUP is a dict of its own items. Elements are
written in the spec's item order whatever the dict's order, so a unit never has to know it. Values
go out as text (``int``, ``date`` and ``Decimal`` are formatted) and come back as ``str``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lxml import etree

from platform_hub.protocol.envelope import lk
from platform_hub.protocol.specs import Item

Payload = dict[str, Any]


def to_element(items: tuple[Item, ...], payload: Mapping[str, Any], tag: str = "Payload") -> etree._Element:
    """The element ``tag`` holding ``payload``'s items in spec order; unknown keys are a ``ValueError``."""
    element = etree.Element(lk(tag))
    _fill(element, items, payload)
    return element


def _fill(parent: etree._Element, items: tuple[Item, ...], payload: Mapping[str, Any]) -> None:
    unknown = set(payload) - {item.romaji for item in items}
    if unknown:  # a misspelt key would silently drop an item otherwise
        raise ValueError(f"not items of this message: {', '.join(sorted(unknown))}")
    for item in items:
        value = payload.get(item.romaji)
        if value is None:
            continue
        if item.repeat != 1:
            if not isinstance(value, list | tuple):
                raise TypeError(f"{item.romaji} is a repeated item: give a list")
            values = list(value)
        else:
            values = [value]
        for one in values:
            child = etree.SubElement(parent, lk(item.romaji))
            if item.type == "GROUP":
                if not isinstance(one, Mapping):
                    raise TypeError(f"{item.romaji} is a group: give a dict of its items")
                _fill(child, item.items or (), one)
            else:
                child.text = _text(one)


def _text(value: object) -> str:
    if isinstance(value, bool):  # bool is an int: refuse it rather than send "True"
        raise TypeError("items carry codes, not booleans")
    if isinstance(value, str | int | Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"cannot put a {type(value).__name__} into an item")


def from_element(items: tuple[Item, ...], element: etree._Element | None) -> Payload:
    """The dict of a (valid) Payload element: repeated items always as lists, possibly empty."""
    payload: Payload = {item.romaji: [] for item in items if item.repeat != 1}
    if element is None:
        return payload
    by_name = {item.romaji: item for item in items}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        item = by_name.get(etree.QName(child).localname)
        if item is None:
            continue  # the XSD admits none; tolerate what a newer spec may add
        value: Any = (
            from_element(item.items or (), child) if item.type == "GROUP" else (child.text or "").strip()
        )
        if item.repeat != 1:
            payload[item.romaji].append(value)
        else:
            payload[item.romaji] = value
    return payload
