"""The verifications of the records (記録の検証) that were run: when, by whom, how far, what they found —
so that anyone can see when the record was last verified and what it said."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime


class VerificationState(StrEnum):
    RUNNING = "running"
    OK = "ok"  # both records verify
    FAILED = "failed"  # a problem found: an entry altered, missing, a checkpoint that does not match
    ERROR = "error"  # the verification itself could not finish (the hub stopped, the database failed)

    @property
    def ja(self) -> str:
        return {"running": "検証中", "ok": "改ざんなし", "failed": "問題あり", "error": "中断"}[self.value]


_RUNNING = text("state = 'running'")


class VerificationRun(Base):
    """One verification of both records, from the console, ``GET /audit/verify`` or the command line.

    At most one row is ``running`` (a partial unique index): a second start, on any replica, finds it.
    The replica running it moves ``entries_checked`` and ``updated_at`` on as it goes; a running row
    whose ``updated_at`` stopped long ago belongs to a hub that stopped and is closed as an error."""

    __tablename__ = "verification_runs"
    __table_args__ = (
        Index("ix_verification_runs_started_at", "started_at"),
        Index(
            "uq_verification_runs_running",
            "state",
            unique=True,
            sqlite_where=_RUNNING,
            postgresql_where=_RUNNING,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(64), doc="console:LOGIN, the client, or cli:…")
    state: Mapped[VerificationState] = mapped_column(StrEnumType(VerificationState, 16))
    entries_checked: Mapped[int] = mapped_column(BigInteger, default=0, doc="links of both records")
    entries_total: Mapped[int] = mapped_column(BigInteger, default=0, doc="links when it started")
    problems: Mapped[str | None] = mapped_column(Text, doc="what it found, one a line (capped)")
