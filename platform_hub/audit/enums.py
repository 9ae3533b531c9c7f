"""The kinds the records store, as their stored strings, each with the word people read (the CSV)."""

from __future__ import annotations

from enum import StrEnum


class TransferPattern(StrEnum):
    """方式: how the information went (the interface's pattern, or a registry answer)."""

    QUERY = "query"
    NOTIFICATION = "notification"
    BATCH = "batch"
    REGISTRY = "registry"

    @property
    def ja(self) -> str:
        return _PATTERNS[self]


class TransferOutcome(StrEnum):
    """結果 of a transfer. A query's answer is ``provided``, a notification's delivery ``delivered``:
    both are a 提供 (the 方式 tells them apart)."""

    PROVIDED = "provided"
    DELIVERED = "delivered"
    REFUSED = "refused"
    FAILED = "failed"

    @property
    def ja(self) -> str:
        return _TRANSFER_OUTCOMES[self]


class OperationOutcome(StrEnum):
    """結果 of an operation."""

    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"

    @property
    def ja(self) -> str:
        return _OPERATION_OUTCOMES[self]


_PATTERNS = {
    TransferPattern.QUERY: "照会",
    TransferPattern.NOTIFICATION: "通知",
    TransferPattern.BATCH: "一括",
    TransferPattern.REGISTRY: "宛名照会",
}
_TRANSFER_OUTCOMES = {
    TransferOutcome.PROVIDED: "提供",
    TransferOutcome.DELIVERED: "提供",
    TransferOutcome.REFUSED: "拒否",
    TransferOutcome.FAILED: "失敗",
}
_OPERATION_OUTCOMES = {
    OperationOutcome.OK: "成功",
    OperationOutcome.REFUSED: "拒否",
    OperationOutcome.FAILED: "失敗",
}
