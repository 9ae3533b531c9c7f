"""The hub's two tamper-evident records, each an append-only table with its hash chain and signed
checkpoints: the transfer record (情報提供等の記録, who got what about whom) and the operations record
(操作ログ, who did what in the hub). One sealer and one verification serve both."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from platform_hub.audit import chain
from platform_hub.models import (
    ChainLink,
    Checkpoint,
    Operation,
    OperationCheckpoint,
    OperationLink,
    TransferRecord,
)


@dataclass(frozen=True)
class Ledger:
    name: str
    canon: chain.Canon
    entry: Any  # the mapped classes: TransferRecord, ChainLink, Checkpoint — or the operations'
    link: Any
    checkpoint: Any
    timestamps: frozenset[str]
    label: str  # the content field that names an entry in a problem
    item_list: str | None = None  # the one JSON list field, stored as the JSON text the hub wrote
    # The entry's column its link carries too: PostgreSQL partitions both tables by it (migration 0010).
    partition_key: str | None = None

    @cached_property
    def label_at(self) -> int:
        """Where the label stands in the canonical order (verification reads rows in it)."""
        return self.canon.order.index(self.label)

    @cached_property
    def item_list_at(self) -> int | None:
        return self.canon.order.index(self.item_list) if self.item_list else None

    def joined(self) -> Any:
        """A link and its entry: by id, and by the partition key where there is one, so PostgreSQL
        looks in the one partition that can hold it."""
        on = self.link.entry_id == self.entry.id
        if self.partition_key is not None:
            on &= getattr(self.link, self.partition_key) == getattr(self.entry, self.partition_key)
        return on

    @property
    def entries_table(self) -> str:
        return str(self.entry.__tablename__)

    @property
    def chain_table(self) -> str:
        return str(self.link.__tablename__)


TRANSFERS = Ledger(
    name="transfers",
    canon=chain.TRANSFERS,
    entry=TransferRecord,
    link=ChainLink,
    checkpoint=Checkpoint,
    timestamps=frozenset({"requested_at", "provided_at", "recorded_at"}),
    label="reception_number",
    item_list="item_names",
    partition_key="requested_at",
)
OPERATIONS = Ledger(
    name="operations",
    canon=chain.OPERATIONS,
    entry=Operation,
    link=OperationLink,
    checkpoint=OperationCheckpoint,
    timestamps=frozenset({"at"}),
    label="action",
)
LEDGERS = (TRANSFERS, OPERATIONS)
