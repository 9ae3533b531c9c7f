"""the verifications of the records that were run (記録の検証): when, by whom, how far, what they found;
at most one running at a time, whichever replica started it

Revision ID: 0021
Revises: 0020
Create Date: 2027-02-20 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RUNNING = sa.text("state = 'running'")


def upgrade() -> None:
    op.create_table(
        "verification_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("entries_checked", sa.BigInteger(), nullable=False),
        sa.Column("entries_total", sa.BigInteger(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_runs")),
    )
    op.create_index("ix_verification_runs_started_at", "verification_runs", ["started_at"])
    op.create_index(
        "uq_verification_runs_running",
        "verification_runs",
        ["state"],
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    )


def downgrade() -> None:
    op.drop_index("uq_verification_runs_running", table_name="verification_runs")
    op.drop_index("ix_verification_runs_started_at", table_name="verification_runs")
    op.drop_table("verification_runs")
