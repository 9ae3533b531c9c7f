"""a unit's choice of SOAP fault status (the contract's, or 500 for every fault: WS-I); the index of
the query answers still kept

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


KEPT = "response_xml IS NOT NULL AND pattern = 'query'"


def upgrade() -> None:
    op.add_column(
        "units", sa.Column("soap_faults", sa.String(length=8), nullable=False, server_default="contract")
    )
    op.create_index(
        "ix_messages_answers_kept",
        "messages",
        ["completed_at"],
        postgresql_where=sa.text(KEPT),
        sqlite_where=sa.text(KEPT),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_answers_kept", table_name="messages")
    with op.batch_alter_table("units") as batch_op:
        batch_op.drop_column("soap_faults")
