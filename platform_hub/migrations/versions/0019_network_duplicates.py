"""the providing side of the network: which unit registered each 副本 in the 中間サーバー, each 提供 the
中間サーバー made as the hub learnt of it, and the counter whose row lock lets one sync at a time record them

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_duplicates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("integrated_number", sa.String(length=15), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(length=3), nullable=False),
        sa.Column("atena_number", sa.String(length=15), nullable=False),
        sa.Column("purpose_code", sa.String(length=16), nullable=False),
        sa.Column("item_names", sa.JSON(), nullable=False),
        sa.Column("data_digest", sa.String(length=64), nullable=False),
        sa.Column("undisclosed", sa.Boolean(), nullable=False),
        sa.Column("no_auto_answer", sa.Boolean(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_duplicates")),
        sa.UniqueConstraint(
            "integrated_number",
            "category",
            "period",
            name=op.f("uq_network_duplicates_integrated_number_category_period"),
        ),
    )
    op.create_index(op.f("ix_network_duplicates_unit_code"), "network_duplicates", ["unit_code"])
    op.create_table(
        "network_provisions",
        sa.Column("inquiry_id", sa.String(length=32), nullable=False),
        sa.Column("integrated_number", sa.String(length=15), nullable=False),
        sa.Column("requester", sa.String(length=6), nullable=False),
        sa.Column("affair", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(length=3), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("inquiry_id", name=op.f("pk_network_provisions")),
    )
    op.create_index(
        op.f("ix_network_provisions_integrated_number"), "network_provisions", ["integrated_number"]
    )
    op.execute("INSERT INTO registry_counters (name, value) VALUES ('network_provisions', 0)")


def downgrade() -> None:
    op.execute("DELETE FROM registry_counters WHERE name = 'network_provisions'")
    op.drop_index(op.f("ix_network_provisions_integrated_number"), table_name="network_provisions")
    op.drop_table("network_provisions")
    op.drop_index(op.f("ix_network_duplicates_unit_code"), table_name="network_duplicates")
    op.drop_table("network_duplicates")
