"""The compiled catalog: every interface with its derived XSDs, checking messages against them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from pathlib import Path

from lxml import etree

from platform_hub.protocol import characters
from platform_hub.protocol.errors import SchemaViolation
from platform_hub.protocol.specs import (
    InterfaceSpec,
    Item,
    Pattern,
    Purpose,
    SpecError,
    load_purposes,
    load_spec,
)
from platform_hub.protocol.xml import local_name
from platform_hub.protocol.xsd import batch_xsds, interface_xsd

_ERRORS_NAMED = 20  # a fault names this many XSD errors and counts the rest
_ERROR_LENGTH = 1000  # characters of each
_ERROR_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")
_TWELVE_DIGITS = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")  # what a 個人番号 looks like


@dataclass(frozen=True)
class CompiledInterface:
    spec: InterfaceSpec
    xsd: bytes
    schema: etree.XMLSchema
    source: Path
    # A batch is checked in parts, so a bad record refuses only itself: its head (the envelope with
    # the records optional) and each record on its own.
    head_schema: etree.XMLSchema | None = None
    record_schema: etree.XMLSchema | None = None

    def validate(self, message: etree._Element) -> None:
        """Validate one ``_R01`` / ``_S01`` element; every error names its line and item. After the
        XSD, what it cannot say: 条件付き必須 items and the 主キー of groups."""
        self._check(self.schema, message, lines=True)
        payload = next(
            (node for node in message.iter() if isinstance(node.tag, str) and local_name(node) == "Payload"),
            None,
        )
        is_request = local_name(message) == self.spec.request_type
        if payload is not None:
            self._check_rules(message, self.spec.request if is_request else self.spec.response, payload)
        self._check_characters(message)

    def validate_head(self, message: etree._Element) -> None:
        """A batch's ``_R01`` element, its records left out."""
        assert self.head_schema is not None, f"{self.spec.id} is not a batch interface"
        self._check(self.head_schema, message, lines=True)

    def validate_record(self, record: etree._Element) -> None:
        """One record of a batch (its line would be the record's own, so none is named)."""
        assert self.record_schema is not None, f"{self.spec.id} is not a batch interface"
        self._check(self.record_schema, record, lines=False)
        self._check_rules(record, self.spec.record.items or (), record)
        self._check_characters(record)

    def _check_rules(
        self, message: etree._Element, items: tuple[Item, ...], container: etree._Element
    ) -> None:
        problems = rule_problems(items, [container])
        if problems:
            raise SchemaViolation(
                f"{etree.QName(message).localname} fails the {self.spec.id} item rules "
                f"({len(problems):,} error{'s' if len(problems) != 1 else ''})",
                details=[_TWELVE_DIGITS.sub("[masked]", p) for p in problems[:_ERRORS_NAMED]],
            )

    def _check_characters(self, element: etree._Element) -> None:
        """The 文字要件 of each N item's text (the XSD cannot say which characters are allowed)."""
        problems: list[str] = []
        for node in element.iter():
            item = self._items.get(local_name(node)) if isinstance(node.tag, str) else None
            if item is not None and item.type == "N" and node.text:
                label = f"{item.romaji} ({item.id} {item.name})"
                problems.extend(f"{label}: {why}" for why in characters.refusals(node.text))
        if problems:
            raise SchemaViolation(
                f"{etree.QName(element).localname} has characters the 文字要件 does not allow",
                details=problems,
            )

    def _check(self, schema: etree.XMLSchema, element: etree._Element, *, lines: bool) -> None:
        if schema.validate(element):
            return
        log = schema.error_log
        first = islice(log, _ERRORS_NAMED)  # type: ignore[call-overload]  # lxml-stubs lack __iter__
        numbers = self._my_numbers_in(element)
        errors = [self._describe(entry, numbers, lines=lines) for entry in first]
        total = len(log)  # type: ignore[arg-type]  # lxml-stubs lack __len__
        if total > _ERRORS_NAMED:
            errors.append(f"… and {total - _ERRORS_NAMED:,} more")
        raise SchemaViolation(
            f"{etree.QName(element).localname} fails the {self.spec.id} XSD "
            f"({total:,} error{'s' if total != 1 else ''})",
            details=errors,
        )

    def _describe(self, entry: etree._LogEntry, my_numbers: set[str], *, lines: bool) -> str:
        """One error with its line and item; libxml2 quotes the rejected value, and a 個人番号 is never
        repeated, not even to its sender, whatever namespace prefix (or none) the message uses."""
        romaji = _item_name(entry)
        item = self._items.get(romaji)
        label = f"{romaji} ({item.id} {item.name})" if item else romaji[:100] or "message"
        problem = "not a valid 個人番号 (12 digits)" if item and item.my_number else entry.message
        for number in my_numbers:
            problem = problem.replace(f"'{number}'", "'[masked]'")
        if len(problem) > _ERROR_LENGTH:  # the sender's names are quoted, and they may be of any length
            problem = problem[:_ERROR_LENGTH] + "…"
        described = f"line {entry.line}: {label}: {problem}" if lines else f"{label}: {problem}"
        return _TWELVE_DIGITS.sub("[masked]", described)

    @cached_property
    def _items(self) -> dict[str, Item]:
        """Items by romaji name (a name used twice is the first item's)."""
        return {item.romaji: item for item in reversed(self.spec.all_items())}

    def _my_numbers_in(self, element: etree._Element) -> set[str]:
        """The text of every 個人番号 item in ``element``, found by local name whatever the namespace."""
        names = {item.romaji for item in self.spec.all_items() if item.my_number}
        texts = (
            node.text or ""
            for node in element.iter()
            if isinstance(node.tag, str) and local_name(node) in names
        )
        return {form for text in texts for form in (text, text.strip()) if form}


def rule_problems(items: tuple[Item, ...], containers: list[etree._Element]) -> list[str]:
    """The 条件付き必須 items missing where their condition holds, and 主キー repeated, in every
    ``container`` (the payload, or each repetition of a group) and the groups under it."""
    problems: list[str] = []
    for container in containers:
        children: dict[str, list[etree._Element]] = {}
        for child in container:
            if isinstance(child.tag, str):
                children.setdefault(local_name(child), []).append(child)
        for item in items:
            present = children.get(item.romaji, [])
            condition = item.condition
            if not present and condition is not None and condition.when is not None:
                found = children.get(condition.when)
                value = (found[0].text or "").strip() if found else None
                if condition.holds(value):
                    problems.append(f"{_label(item)}: missing, required when {condition.describe()}")
            if item.type == "GROUP" and present:
                problems.extend(_repeated_keys(item, present))
                problems.extend(rule_problems(item.items or (), present))
    return problems


def _repeated_keys(group: Item, repetitions: list[etree._Element]) -> list[str]:
    if not group.keys:
        return []
    seen: set[tuple[str, ...]] = set()
    problems: list[str] = []
    for repetition in repetitions:
        values = {local_name(c): (c.text or "").strip() for c in repetition if isinstance(c.tag, str)}
        key = tuple(values.get(name, "") for name in group.keys)
        if key in seen:
            shown = ", ".join(f"{n}={v!r}" for n, v in zip(group.keys, key, strict=True))
            problems.append(f"{_label(group)}: 主キー {shown} repeated")
        seen.add(key)
    return problems


def _label(item: Item) -> str:
    return f"{item.romaji} ({item.id} {item.name})"


def _item_name(entry: etree._LogEntry) -> str:
    """The local name of the element an XSD error is about. libxml2 names it in the message as
    ``{namespace}name``; its path has a prefix only where the document used one (``*`` under a
    default namespace), so the path is the fallback."""
    named = _ERROR_ELEMENT.match(entry.message)
    if named:
        return named.group(1).rpartition(":")[2]
    return (entry.path or "").rsplit("/", 1)[-1].rpartition(":")[2].partition("[")[0].strip("*")


@dataclass
class Catalog:
    """Every interface, its compiled XSD, and the message types that name them."""

    interfaces: dict[str, CompiledInterface] = field(default_factory=dict)  # version 1 of each
    purposes: dict[str, Purpose] = field(default_factory=dict)
    later: dict[tuple[str, int], CompiledInterface] = field(default_factory=dict)  # versions 2…

    def get(self, interface_id: str, version: int = 1) -> CompiledInterface | None:
        """An interface in one version; version 1 is the one SOAP messages name (``IF_…_R01``)."""
        if version == 1:
            return self.interfaces.get(interface_id)
        return self.later.get((interface_id, version))

    def versions(self, interface_id: str) -> list[int]:
        """The versions the catalog has of an interface, oldest first (empty: no such interface)."""
        if interface_id not in self.interfaces:
            return []
        return [1, *sorted(v for i, v in self.later if i == interface_id)]

    def by_message_type(self, message_type: str) -> tuple[CompiledInterface, bool] | None:
        """``(interface, is_request)`` for ``IF_…_R01`` / ``IF_…_S01``, else ``None``."""
        interface_id, _, suffix = message_type.rpartition("_")
        compiled = self.interfaces.get(interface_id)
        if compiled is None or suffix not in {"R01", "S01"}:
            return None
        return compiled, suffix == "R01"

    def specs(self, *, every_version: bool = False) -> list[InterfaceSpec]:
        """Version 1 of each interface (the SOAP ones); ``every_version``: the later ones too."""
        compiled = [*self.interfaces.values(), *(self.later.values() if every_version else ())]
        return [c.spec for c in sorted(compiled, key=lambda c: (c.spec.id, c.spec.version))]


def compile_interface(spec: InterfaceSpec, source: Path) -> CompiledInterface:
    xsd = interface_xsd(spec)
    try:
        schema = etree.XMLSchema(etree.fromstring(xsd))
        head, record = (
            (etree.XMLSchema(part) for part in batch_xsds(spec))
            if spec.pattern == Pattern.BATCH
            else (None, None)
        )
    except etree.XMLSchemaParseError as exc:
        raise SpecError([f"{source.name}: the derived XSD does not compile: {exc}"]) from None
    return CompiledInterface(
        spec=spec, xsd=xsd, schema=schema, source=source, head_schema=head, record_schema=record
    )


def load_catalog(directory: Path) -> Catalog:
    """Load and compile every ``IF_*.yaml`` in ``directory``; all problems are reported at once."""
    problems: list[str] = []
    catalog = Catalog()
    paths = sorted(directory.glob("IF_*.yaml"))
    if not paths:
        raise SpecError([f"{directory}: no interface specs (IF_*.yaml)"])
    for path in paths:
        try:
            compiled = compile_interface(load_spec(path), path)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        spec = compiled.spec
        if spec.version == 1:
            catalog.interfaces[spec.id] = compiled
        else:
            catalog.later[(spec.id, spec.version)] = compiled
    problems.extend(
        f"{c.source.name}: version {v} of {i} without its version 1 ({i}.yaml)"
        for (i, v), c in catalog.later.items()
        if not (directory / f"{i}.yaml").exists()
    )
    try:
        catalog.purposes = {p.code: p for p in load_purposes(directory / "purposes.yaml")}
    except SpecError as exc:
        problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return catalog
