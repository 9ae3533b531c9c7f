"""the network gateway: each 情報照会 a unit asks through the hub and the 中間サーバー, by its 処理通番

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_inquiries",
        sa.Column("process_number", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=3), nullable=False),
        sa.Column("atena_number", sa.String(length=15), nullable=False),
        sa.Column("integrated_number", sa.String(length=15), nullable=False),
        sa.Column("purpose_code", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=6), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("article", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=True),
        sa.Column("user", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("process_number", name=op.f("pk_network_inquiries")),
    )
    op.create_index(op.f("ix_network_inquiries_unit_code"), "network_inquiries", ["unit_code"])
    op.create_index(
        op.f("ix_network_inquiries_integrated_number"), "network_inquiries", ["integrated_number"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_network_inquiries_integrated_number"), table_name="network_inquiries")
    op.drop_index(op.f("ix_network_inquiries_unit_code"), table_name="network_inquiries")
    op.drop_table("network_inquiries")
