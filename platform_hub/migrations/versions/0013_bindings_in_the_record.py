"""bindings in the record: how each message came (soap, rest, file), kept with it and its entries

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("binding", sa.String(length=8), server_default="soap", nullable=False)
    )
    # Null for the entries already written: their digests leave it out (audit/chain.py LATER_FIELDS).
    op.add_column("transfer_records", sa.Column("binding", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("transfer_records", "binding")
    op.drop_column("messages", "binding")
