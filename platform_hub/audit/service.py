"""Writing transfer records. The caller's transaction is the one that accepts or answers the message,
so a transfer and its record commit (or roll back) together."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import TransferRecord


@dataclass(frozen=True)
class TransferFacts:
    """What one transfer was: the same for every person it concerned."""

    reception_number: str
    msgid: str
    interface_id: str
    pattern: str
    requesting_unit: str
    requesting_organ: str
    requesting_department: str | None
    requesting_user: str | None
    providing_unit: str
    providing_organ: str
    purpose_code: str
    information_category: str
    item_names: list[str]
    requested_at: datetime
    provided_at: datetime | None
    outcome: str
    body_digest: str
    ordinance_rule_id: str | None = None
    refusal_reason: str | None = None


def record_transfer(session: AsyncSession, facts: TransferFacts, subjects: Iterable[str | None]) -> None:
    """One record entry per person the transfer concerned."""
    session.add_all(
        TransferRecord(**asdict(facts), subject_integrated_number=subject) for subject in subjects
    )
