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

ItemType = Literal["X", "N", "9", "9V", "S9", "BLOB", "DATE", "TIME", "YEAR", "GROUP"]
Requirement = Literal["必須", "条件付き必須", "任意"]
UNIT_CODE = r"^[0-9A-Z]{3}$"
_SIZED_TYPES = {"X", "N", "9", "9V", "S9", "BLOB"}  # BLOB: its length is the most bytes
ITEM_ID = r"^[0-9]{8}$"  # データ項目ID: 3-digit 基幹業務コード + 5-digit 項目コード
BUSINESS_CODE = r"^[0-9]{3}$"
BATCH_COUNTS = {"UketsukeKensu", "SeijoKensu", "ErrorKensu"}  # received, accepted, refused records


class Pattern(StrEnum):
    """How an interface's information goes: 照会 (asked of its provider and answered), 通知 (sent to
    every subscriber), 一括 (many records at once, to every subscriber)."""

    QUERY = "query"
    NOTIFICATION = "notification"
    BATCH = "batch"


class Condition(BaseModel):
    """When a 条件付き必須 item is required: another item of the same level (``when``, by romaji) equals
    a code, is one of several, or is present. A condition on something outside the message (the
    request a response answers, a batch's head for its records) has only its ``note``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    when: str | None = Field(default=None, pattern=r"^[A-Z][A-Za-z0-9]{0,63}$")
    equals: str | None = None
    in_: tuple[str, ...] | None = Field(default=None, alias="in", min_length=1)
    present: Literal[True] | None = None
    note: str | None = Field(default=None, min_length=1, description="the condition in words")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [t for t in (self.equals, self.in_, self.present) if t is not None]
        if self.when is None and (tests or self.note is None):
            raise ValueError("a condition names its item (when) or, unchecked, has only a note")
        if self.when is not None and len(tests) != 1:
            raise ValueError("a condition has one of equals, in, present")
        return self

    def holds(self, value: str | None) -> bool:
        """Whether the condition holds for the ``when`` item's text (``None``: the item is absent)."""
        if value is None:
            return False
        if self.present:
            return True
        return value == self.equals if self.equals is not None else value in (self.in_ or ())

    def describe(self) -> str:
        if self.when is None:
            return self.note or ""
        test = (
            "is present"
            if self.present
            else f"= {self.equals!r}"
            if self.equals is not None
            else f"in {', '.join(map(repr, self.in_ or ()))}"
        )
        return f"{self.when} {test}" + (f" ({self.note})" if self.note else "")


class Item(BaseModel):
    """One item of an interface (項目): an XML element of the payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ITEM_ID, description="データ項目ID: 基幹業務コード + 項目コード")
    name: str = Field(min_length=1, description="Japanese item name (項目名)")
    romaji: str = Field(pattern=r"^[A-Z][A-Za-z0-9]{0,63}$", description="element / key name")
    type: ItemType
    length: int | None = Field(default=None, ge=1, le=4000)
    fraction: int | None = Field(default=None, ge=1, le=10, description="9V: digits after the point")
    codes: dict[str, str] | None = Field(default=None, description="code list: code → meaning")
    repeat: int | Literal["*"] = Field(default=1, description="maximum repetitions; * unbounded")
    requirement: Requirement
    condition: Condition | None = Field(default=None, description="when a 条件付き必須 item is required")
    addressee: bool = Field(default=False, description="carries a 宛名番号 the hub translates")
    my_number: bool = Field(
        default=False, description="carries a 個人番号: the hub keeps it, never passes it"
    )
    description: str | None = None
    items: tuple[Item, ...] | None = None
    keys: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="a GROUP's 主キー: unique across its repetitions"
    )

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
        if self.my_number and (self.type != "X" or self.length != 12 or self.repeat != 1):
            raise ValueError("a my_number item is a 個人番号: type X, length 12 (X(12)), not repeated")
        if self.codes is not None and self.type == "BLOB":
            raise ValueError("a BLOB item has no code list")
        self._check_group_rules()
        if self.codes is not None:
            self._check_codes(self.codes)
        return self

    def _check_group_rules(self) -> None:
        """Conditions name a sibling; 主キー name the group's own items."""
        children = {item.romaji: item for item in self.items or ()}
        if self.keys is not None:
            if self.type != "GROUP":
                raise ValueError("only GROUP items have keys")
            for key in self.keys:
                child = children.get(key)
                if child is None or child.type == "GROUP" or child.my_number or child.repeat != 1:
                    raise ValueError(f"key {key} is not a single, plain item of the group")
        check_conditions(self.items or (), self.id)

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
    business_code: str | None = Field(
        default=None, pattern=BUSINESS_CODE, description="基幹業務コード, if not the provider's code"
    )
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
        problems = self._problems()
        if problems:  # every problem at once, so a spec's author fixes them in one go
            raise ValueError("\n".join(problems))
        return self

    def _problems(self) -> list[str]:
        problems = [
            f"consumer {consumer!r} is neither a unit code nor *"
            for consumer in self.consumers
            if consumer != "*" and not (len(consumer) == 3 and consumer.isalnum())
        ]
        if self.pattern == Pattern.QUERY and not self.response:
            problems.append("a query interface needs response items")
        if self.pattern == Pattern.BATCH and not {item.romaji for item in self.response} >= BATCH_COUNTS:
            problems.append(f"a batch interface answers with the counts {', '.join(sorted(BATCH_COUNTS))}")
        if (
            self.pattern == Pattern.BATCH
            and len([i for i in self.request if i.type == "GROUP" and i.repeat == "*"]) != 1
        ):
            problems.append("a batch interface carries its records as one repeated GROUP (repeat: *)")
        if any(item.my_number for item in self.response):
            problems.append("a 個人番号 is never sent out by the hub: no my_number items in a response")
        for direction in ("request", "response"):
            for check in (_check_unique, check_conditions):
                try:
                    check(getattr(self, direction), direction)
                except ValueError as exc:
                    problems.append(str(exc))
        ids = [item.id for item in self.all_items()]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            problems.append(f"item IDs used twice: {', '.join(duplicated)}")
        code = self.business
        if code is None:
            problems.append(f"provider {self.provider} is not a 基幹業務コード: give business_code")
        else:
            problems.extend(
                f"item {item.id} ({item.romaji}): the ID does not begin with the 基幹業務コード {code}"
                for item in self.all_items()
                if not item.id.startswith(code)
            )
        return problems

    @property
    def business(self) -> str | None:
        """The 基幹業務コード of the items' IDs: ``business_code``, else the provider's unit code when
        that is three digits (the hub's unit codes are the 基幹業務コード of their 業務)."""
        if self.business_code is not None:
            return self.business_code
        return self.provider if self.provider.isdigit() else None

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


def check_conditions(items: tuple[Item, ...], where: str) -> None:
    """Every machine-checked condition names another item of the same level."""
    names = {item.romaji for item in items}
    for item in items:
        when = item.condition.when if item.condition else None
        if when is not None and (when not in names or when == item.romaji):
            raise ValueError(
                f"item {item.id} ({item.romaji}): condition names {when}, not another item of {where}"
            )


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
    number_use: bool = Field(
        description="handles the 個人番号: a 個人番号利用事務 (番号法 第9条), or 住民基本台帳 (住基法, 第7条)"
    )


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
            [
                f"{path.name}: {_where(raw, err['loc'])}: {line.removeprefix('Value error, ')}"
                for err in exc.errors()
                for line in err["msg"].splitlines()  # a spec's consistency: one problem a line
            ]
        ) from None
    if path.stem != spec_stem(spec.id, spec.version):
        raise SpecError(
            [
                f"{path.name}: the file must be named after its interface ID and version "
                f"({spec_stem(spec.id, spec.version)}.yaml)"
            ]
        )
    return spec


def spec_stem(interface_id: str, version: int) -> str:
    """``IF_ZEI_0001`` for version 1 (the files SOAP units have always used), ``IF_ZEI_0001.v2``."""
    return interface_id if version == 1 else f"{interface_id}.v{version}"


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into ``request → item 00201102 (KazeiNendo) → length``."""
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
