"""the transfer record's index by moment carries the outcome too: a period's entries counted by day and
outcome (連携記録's chart, the compliance totals) are read from the index alone, not from the rows — on
PostgreSQL a month of a record of 10M entries is 1.5M rows, 640 MB of them, and 45 MB of index.
PostgreSQL builds it under a SHARE lock of every partition: new entries wait for it (10 s for 10M
entries here), so run it while the units are quiet.

Revision ID: 0023
Revises: 0022
Create Date: 2027-03-01 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every query the old index served (a period, newest first) the new one serves as well.
    op.create_index(
        "ix_transfer_records_requested_at_outcome", "transfer_records", ["requested_at", "outcome"]
    )
    op.drop_index("ix_transfer_records_requested_at", table_name="transfer_records")


def downgrade() -> None:
    op.create_index("ix_transfer_records_requested_at", "transfer_records", ["requested_at"])
    op.drop_index("ix_transfer_records_requested_at_outcome", table_name="transfer_records")
