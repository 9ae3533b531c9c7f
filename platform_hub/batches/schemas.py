from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from platform_hub.models import BatchStatus, DeliveryStatus


class BatchDelivery(BaseModel):
    subscriber_unit: str
    status: DeliveryStatus = Field(
        description="pending (under way), delivered, refused (the ordinance let no record go to this "
        "subscriber) or dead (out of attempts or too old: `platform-hub deliveries retry`)"
    )
    chunks_done: int
    records_delivered: int
    records_refused: int


class BatchOut(BaseModel):
    """A batch's progress: what was received, and how far each subscriber has it."""

    reception_number: str
    msgid: str
    interface_id: str
    source_unit: str
    status: BatchStatus = Field(
        description="receiving (records still coming, or an upload cut short: send it again to resume), "
        "received, or refused (nothing kept: the same MSGID starts over)"
    )
    received_at: datetime
    chunks: int
    records_received: int
    records_accepted: int
    records_refused: int
    deliveries: list[BatchDelivery]


class OutboxEntry(BaseModel):
    """A batch file in a unit's outbox."""

    interface_id: str
    name: str
    size: int
