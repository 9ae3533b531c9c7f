"""The interfaces a unit uses, read from the hub once: the spec (item order) and the XSD, compiled once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lxml import etree

from platform_hub.protocol.catalog import Catalog, CompiledInterface
from platform_hub.protocol.specs import InterfaceSpec
from platform_hub.protocol.xml import XmlLimits, parse_xml
from platform_hub_sdk.errors import LinkageError

# Fetches ``(spec JSON, XSD bytes)`` of one interface in one version from the hub.
Fetch = Callable[[str, int], Awaitable[tuple[Any, bytes]]]
_MAX_XSD_BYTES = 4 * 1024 * 1024
_XSD_LIMITS = XmlLimits(depth=128, namespaces=64, attributes=32, elements=100_000)


class InterfaceCatalog:
    """The hub's published interfaces, cached. The hub's XSDs are the contract: used as they are."""

    def __init__(
        self, fetch: Fetch | None = None, compiled: dict[str, CompiledInterface] | None = None
    ) -> None:
        self._fetch = fetch
        self._compiled: dict[tuple[str, int], CompiledInterface] = {
            (interface_id, 1): c for interface_id, c in (compiled or {}).items()
        }
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, catalog: Catalog) -> InterfaceCatalog:
        """A catalog preloaded from local spec files (tests, or a unit that ships its specs)."""
        preloaded = cls(compiled=dict(catalog.interfaces))
        preloaded._compiled.update(catalog.later)
        return preloaded

    def bind(self, fetch: Fetch) -> None:
        self._fetch = fetch

    def cached(self, interface_id: str, version: int = 1) -> CompiledInterface | None:
        return self._compiled.get((interface_id, version))

    async def get(self, interface_id: str, version: int = 1) -> CompiledInterface:
        """An interface in one version (1: the one SOAP messages name; later ones come by REST)."""
        key = (interface_id, version)
        found = self._compiled.get(key)
        if found is not None:
            return found
        async with self._lock:  # one fetch per interface even when many callers ask at once
            found = self._compiled.get(key)
            if found is None:
                found = await self._load(interface_id, version)
                self._compiled[key] = found
            return found

    async def _load(self, interface_id: str, version: int) -> CompiledInterface:
        if self._fetch is None:
            raise LinkageError("E1003", f"interface {interface_id} is not in this unit's catalog")
        raw_spec, xsd = await self._fetch(interface_id, version)
        spec = InterfaceSpec.model_validate(raw_spec)
        try:
            schema = etree.XMLSchema(parse_xml(xsd, max_bytes=_MAX_XSD_BYTES, limits=_XSD_LIMITS))
        except etree.XMLSchemaParseError as exc:
            raise LinkageError("E1002", f"the hub's XSD of {interface_id} does not compile: {exc}") from None
        return CompiledInterface(spec=spec, xsd=xsd, schema=schema, source=Path(f"{interface_id}.xsd"))
