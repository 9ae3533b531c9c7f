"""deliveries in order per person: each delivery's ordering key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Deliveries queued before this have no key: each then waits for all before it, as it did.
    op.add_column("deliveries", sa.Column("ordering_key", sa.String(length=32), nullable=True))
    op.create_index(
        "ix_deliveries_person_queue", "deliveries", ["status", "subscriber_unit", "ordering_key", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_person_queue", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("ordering_key")
