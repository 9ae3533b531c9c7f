"""The interface specs: one 項目定義書-style file per interface in ``interface_specs/``, and the 事務
(purposes) transfers serve. Adding an interface means adding one file; the XSDs are derived from the
specs (``xsd.py``) and compiled into the catalog (``catalog.py``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ItemType = Literal["X", "N", "9", "9V", "S9", "DATE", "TIME", "YEAR", "GROUP"]
Requirement = Literal["必須", "条件付き必須", "任意"]
UNIT_CODE = r"^[0-9A-Z]{3}$"
_SIZED_TYPES = {"X", "N", "9", "9V", "S9"}
BATCH_COUNTS = {"UketsukeKensu", "SeijoKensu", "ErrorKensu"}  # received, accepted, refused records


class Pattern(StrEnum):
    """How an interface's information goes: 照会 (asked of its provider and answered), 通知 (sent to
    every subscriber), 一括 (many records at once, to every subscriber)."""

    QUERY = "query"
    NOTIFICATION = "notification"
    BATCH = "batch"


class Item(BaseModel):
    """One item of an interface (項目): an XML element of the payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[0-9A-Z]{8}$", description="8-character item ID (項目ID)")
    name: str = Field(min_length=1, description="Japanese item name (項目名)")
    romaji: str = Field(pattern=r"^[A-Z][A-Za-z0-9]{0,63}$", description="element / key name")
    type: ItemType
    length: int | None = Field(default=None, ge=1, le=4000)
    fraction: int | None = Field(default=None, ge=1, le=10, description="9V: digits after the point")
    codes: dict[str, str] | None = Field(default=None, description="code list: code → meaning")
    repeat: int | Literal["*"] = Field(default=1, description="maximum repetitions; * unbounded")
    requirement: Requirement
    condition: str | None = Field(default=None, description="when a 条件付き必須 item is required")
    addressee: bool = Field(default=False, description="carries a 宛名番号 the hub translates")
    my_number: bool = Field(
        default=False, description="carries a 個人番号: the hub keeps it, never passes it"
    )
    description: str | None = None
    items: tuple[Item, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        if self.type == "GROUP":
            if not self.items:
                raise ValueError("a GROUP item needs items")
            if self.length is not None or self.codes is not None:
                raise ValueError("a GROUP item has neither length nor codes")
        elif self.items is not None:
            raise ValueError(f"only GROUP items have items (this one is {self.type})")
        if (self.type in _SIZED_TYPES) != (self.length is not None):
            raise ValueError(
                f"type {self.type} {'needs' if self.type in _SIZED_TYPES else 'takes no'} length"
            )
        if (self.type == "9V") != (self.fraction is not None):
            raise ValueError("fraction is given for type 9V and only for it")
        if self.fraction is not None and self.length is not None and self.fraction >= self.length:
            raise ValueError("fraction must be smaller than length")
        if (self.requirement == "条件付き必須") != (self.condition is not None):
            raise ValueError("condition is given for 条件付き必須 items and only for them")
        if isinstance(self.repeat, int) and self.repeat < 1:
            raise ValueError("repeat must be at least 1")
        if self.addressee and (self.type != "X" or self.length != 15):
            raise ValueError("an addressee item is a 宛名番号: type X, length 15")
        if self.my_number and (self.type != "9" or self.length != 12 or self.repeat != 1):
            raise ValueError("a my_number item is a 個人番号: type 9, length 12, not repeated")
        if self.codes is not None:
            self._check_codes(self.codes)
        return self

    def _check_codes(self, codes: dict[str, str]) -> None:
        if not codes:
            raise ValueError("an empty code list")
        if self.type not in {"X", "9"}:
            raise ValueError("code lists are for X and 9 items")
        for code in codes:
            if self.length is not None and len(code) > self.length:
                raise ValueError(f"code {code!r} is longer than the item ({self.length})")
            if self.type == "9" and not code.isdigit():
                raise ValueError(f"code {code!r} is not numeric")

    @property
    def max_occurs(self) -> str:
        return "unbounded" if self.repeat == "*" else str(self.repeat)

    @property
    def min_occurs(self) -> str:
        return "1" if self.requirement == "必須" else "0"

    def walk(self) -> list[Item]:
        return [self, *[child for item in self.items or () for child in item.walk()]]


class InterfaceSpec(BaseModel):
    """One interface (インターフェイス) of the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^IF_[A-Z]{3}_[0-9]{4}$")
    version: int = Field(default=1, ge=1, le=99, description="a change that breaks a unit is a new version")
    name: str = Field(min_length=1)
    pattern: Pattern
    provider: str = Field(pattern=UNIT_CODE, description="the unit that holds the information")
    consumers: tuple[str, ...] = Field(min_length=1, description="unit codes, or * for any unit")
    category: str = Field(min_length=1, description="information category (情報の種別)")
    description: str | None = None
    updates_registry: bool = Field(
        default=False, description="the hub applies these notifications to the addressee registry (住民異動)"
    )
    request: tuple[Item, ...] = Field(min_length=1)
    response: tuple[Item, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> InterfaceSpec:
        for consumer in self.consumers:
            if consumer != "*" and not (len(consumer) == 3 and consumer.isalnum()):
                raise ValueError(f"consumer {consumer!r} is neither a unit code nor *")
        if self.pattern == Pattern.QUERY and not self.response:
            raise ValueError("a query interface needs response items")
        if self.pattern == Pattern.BATCH and not {item.romaji for item in self.response} >= BATCH_COUNTS:
            raise ValueError(f"a batch interface answers with the counts {', '.join(sorted(BATCH_COUNTS))}")
        if (
            self.pattern == Pattern.BATCH
            and len([i for i in self.request if i.type == "GROUP" and i.repeat == "*"]) != 1
        ):
            raise ValueError("a batch interface carries its records as one repeated GROUP (repeat: *)")
        if any(item.my_number for item in self.response):
            raise ValueError("a 個人番号 is never sent out by the hub: no my_number items in a response")
        for direction in ("request", "response"):
            _check_unique(getattr(self, direction), direction)
        ids = [item.id for item in self.all_items()]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"item IDs used twice: {', '.join(duplicated)}")
        return self

    @property
    def request_type(self) -> str:
        return f"{self.id}_R01"

    @property
    def response_type(self) -> str:
        return f"{self.id}_S01"

    @property
    def record(self) -> Item:
        """A batch's record: its one repeated top-level GROUP."""
        return next(i for i in self.request if i.type == "GROUP" and i.repeat == "*")

    def all_items(self) -> list[Item]:
        return [child for item in (*self.request, *self.response) for child in item.walk()]

    def item_names(self, direction: Literal["request", "response"]) -> list[str]:
        """The Japanese names of the data items one direction carries on to its receiver (not groups,
        and not a 個人番号: the hub keeps that)."""
        items = self.request if direction == "request" else self.response
        return [i.name for item in items for i in item.walk() if i.type != "GROUP" and not i.my_number]

    def paths(self, direction: Literal["request", "response"], flag: str) -> list[tuple[str, ...]]:
        """Romaji paths (from Payload) of the items with ``flag`` set (``addressee``, ``my_number``)."""
        found: list[tuple[str, ...]] = []

        def walk(items: tuple[Item, ...], prefix: tuple[str, ...]) -> None:
            for item in items:
                if getattr(item, flag):
                    found.append((*prefix, item.romaji))
                walk(item.items or (), (*prefix, item.romaji))

        walk(self.request if direction == "request" else self.response, ())
        return found

    def code_label(self, romaji: str, code: str) -> str | None:
        """The meaning of ``code`` in the code list of the request item ``romaji``."""
        item = next((i for i in self.all_items() if i.romaji == romaji and i.codes), None)
        return item.codes.get(code) if item and item.codes else None

    def allows_consumer(self, unit_code: str) -> bool:
        return "*" in self.consumers or unit_code in self.consumers


def _check_unique(items: tuple[Item, ...], where: str) -> None:
    names = [item.romaji for item in items]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"romaji names used twice in {where}: {', '.join(duplicated)}")
    for item in items:
        if item.items:
            _check_unique(item.items, item.id)


class Purpose(BaseModel):
    """A 事務: the legally defined task a transfer serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[0-9A-Z][0-9A-Z\-]{0,15}$")
    name: str = Field(min_length=1)
    basis: str = Field(min_length=1, description="the law or ordinance that defines it")
    number_use: bool = Field(description="a 個人番号利用事務")


class SpecError(Exception):
    """A spec file that cannot be used; ``problems`` name the file and the item."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_spec(path: Path) -> InterfaceSpec:
    """Read and check one spec file, naming the file and the item in every problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError([f"{path.name}: cannot read: {exc}"]) from None
    if not isinstance(raw, dict):
        raise SpecError([f"{path.name}: a spec file holds one mapping"])
    try:
        spec = InterfaceSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            [f"{path.name}: {_where(raw, err['loc'])}: {err['msg']}" for err in exc.errors()]
        ) from None
    if spec.id != path.stem:
        raise SpecError([f"{path.name}: the file must be named after its interface ID ({spec.id}.yaml)"])
    return spec


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into ``request → item ZEI01R02 (KazeiNendo) → length``."""
    parts: list[str] = []
    node = raw
    for key in loc:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(key, int) and isinstance(node, dict):
            parts.append(f"item {node.get('id', f'#{key + 1}')} ({node.get('romaji', '?')})")
        elif not isinstance(key, int) and key not in {"items"}:
            parts.append(str(key))
    return " → ".join(parts) or "spec"


def load_purposes(path: Path) -> list[Purpose]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [Purpose.model_validate(entry) for entry in raw]
    except (OSError, yaml.YAMLError, TypeError) as exc:
        raise SpecError([f"{path.name}: cannot read: {exc}"]) from None
    except ValidationError as exc:
        raise SpecError(
            [f"{path.name}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None
