"""番号法 第19条第8号 as data: which 事務 may obtain which 特定個人情報 through the 情報提供ネットワーク
システム (the 別表 and its 主務省令), and the check every network 照会 and 提供 passes.

The table sits beside the ordinance (``interface_specs/ordinance/network.yaml``). It is law, not the
city's choice: the city does not load or amend it, a release of the hub does. It also bounds the
ordinance's blanket clause for 法定事務 (``RuleKind.BLANKET``): a 法定事務 may use within its organ
only the 利用特定個人情報 it could obtain through the network.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from platform_hub.kit.settings import BUNDLED_SPECS
from platform_hub.protocol.errors import OrdinanceRefusal, SchemaViolation
from platform_hub.protocol.specs import Purpose, load_purposes

NETWORK_TABLE = BUNDLED_SPECS / "ordinance" / "network.yaml"
# A purpose's basis that cites the 別表 ("番号法 別表 第81項") must agree with the table's 項.
_BASIS_ITEM = re.compile(r"番号法\s*別表\s*第(\d+)項")


class NetworkRule(BaseModel):
    """One row: the 事務 of 別表 item ``item`` (the hub's ``purpose``), done by ``receiver``, may obtain
    ``category`` from ``provider`` through the network."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: int = Field(ge=1, le=999, description="the 別表's 項")
    purpose: str = Field(min_length=1, max_length=16, description="the hub's 事務 code (purposes.yaml)")
    receiver: str = Field(min_length=1, max_length=100, description="情報照会者, e.g. 市町村長")
    category: str = Field(min_length=1, max_length=64, description="the 利用特定個人情報")
    provider: str = Field(min_length=1, max_length=100, description="情報提供者, e.g. 市町村長")
    jimu: str = Field(min_length=1, description="the 事務 as the 別表 names it")

    @property
    def article(self) -> str:
        return f"番号法 第19条第8号・別表 第{self.item}項"


class NetworkTable(BaseModel):
    """The table as of a day of the law's text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: dt.date
    source: str = Field(min_length=1)
    rows: tuple[NetworkRule, ...] = Field(max_length=10_000)

    @model_validator(mode="after")
    def _rows_once(self) -> NetworkTable:
        keys = [(row.purpose, row.category, row.provider) for row in self.rows]
        repeated = sorted({f"{p} × {c} ({v})" for p, c, v in keys if keys.count((p, c, v)) > 1})
        if repeated:
            raise ValueError(f"rows repeat: {', '.join(repeated)}")
        return self

    def rule(self, purpose: str, category: str, provider: str | None = None) -> NetworkRule | None:
        """The row that lets ``purpose`` obtain ``category`` (from ``provider``, when named)."""
        return next(
            (
                row
                for row in self.rows
                if row.purpose == purpose and row.category == category and provider in (None, row.provider)
            ),
            None,
        )


def parse_network_table(text: str | bytes, purposes: Mapping[str, Purpose]) -> NetworkTable:
    """Read the table; every problem is E1002 with its place. Its 事務 must be the hub's, and a 事務
    whose basis cites the 別表 must cite the item its rows are under."""
    try:
        table = NetworkTable.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise SchemaViolation(f"the network table is not YAML: {exc}") from None
    except ValidationError as exc:
        raise SchemaViolation(
            "the network table does not match its schema",
            details=[f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()],
        ) from None
    problems = [f"unknown purpose {row.purpose}" for row in table.rows if row.purpose not in purposes]
    for row in table.rows:
        cited = _BASIS_ITEM.search(purposes[row.purpose].basis) if row.purpose in purposes else None
        if cited is not None and int(cited.group(1)) != row.item:
            problems.append(
                f"{row.purpose}: purposes.yaml cites 別表 第{cited.group(1)}項, the table 第{row.item}項"
            )
    if problems:
        raise SchemaViolation(
            "the network table disagrees with the hub's 事務", details=sorted(set(problems))
        )
    return table


@lru_cache(maxsize=1)
def bundled_network_table(path: Path = NETWORK_TABLE) -> NetworkTable:
    """The table the hub ships with, checked against the bundled 事務."""
    purposes = {p.code: p for p in load_purposes(path.parent.parent / "purposes.yaml")}
    return parse_network_table(path.read_bytes(), purposes)


def network_allowed(
    table: NetworkTable, purpose: str, category: str, *, provider: str | None = None
) -> NetworkRule:
    """The check before any network 照会 or 提供 (番号法 第19条第8号): the row that lets the 照会者's
    ``purpose`` obtain ``category`` (from ``provider``, when the hub answers as one); E3001 when the
    table has none."""
    rule = table.rule(purpose, category, provider)
    if rule is None:
        from_whom = f" from {provider}" if provider else ""
        raise OrdinanceRefusal(
            f"番号法 第19条第8号: the 事務 {purpose} may not obtain {category}{from_whom} through the "
            f"情報提供ネットワークシステム (別表 and its 主務省令 as of {table.as_of})"
        )
    return rule
