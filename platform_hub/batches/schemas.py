from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class BatchDelivery(BaseModel):
    subscriber_unit: str
    status: str = Field(description="pending, delivered, refused (by the ordinance), dead")
    chunks_done: int
    records_delivered: int
    records_refused: int


class BatchOut(BaseModel):
    """A batch's progress: what was received, and how far each subscriber has it."""

    reception_number: str
    msgid: str
    interface_id: str
    source_unit: str
    status: str = Field(description="receiving, received, refused")
    received_at: datetime
    chunks: int
    records_received: int
    records_accepted: int
    records_refused: int
    deliveries: list[BatchDelivery]
