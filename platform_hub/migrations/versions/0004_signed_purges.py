"""signed purges: a retention removal carries the checkpoint key's signature; providing-unit index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a purge made before signing existed stays readable, and verification names it unsigned.
    op.add_column("audit_purges", sa.Column("key_id", sa.String(length=64), nullable=True))
    op.add_column("audit_purges", sa.Column("signature", sa.Text(), nullable=True))
    # The auditors' unit filter matches either side of a transfer.
    op.create_index(
        "ix_transfer_records_providing_unit", "transfer_records", ["providing_unit", "requested_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_transfer_records_providing_unit", table_name="transfer_records")
    with op.batch_alter_table("audit_purges") as batch:
        batch.drop_column("signature")
        batch.drop_column("key_id")
