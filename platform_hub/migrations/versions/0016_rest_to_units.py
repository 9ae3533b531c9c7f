"""REST to the units: how the hub reaches a unit for each interface (soap, rest), and in the record how
the hub passed each transfer on

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "unit_interfaces", sa.Column("binding", sa.String(length=4), server_default="soap", nullable=False)
    )
    # Null for the entries already written: their digests leave it out (audit/chain.py LATER_FIELDS).
    op.add_column("transfer_records", sa.Column("onward_binding", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("transfer_records", "onward_binding")
    op.drop_column("unit_interfaces", "binding")
