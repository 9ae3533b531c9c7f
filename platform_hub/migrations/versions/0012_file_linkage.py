"""一括 as files: each unit's CSV encoding per interface, whether a subscriber takes a batch as a file,
and the unit's SSH public keys for the hub's SFTP drop box

Revision ID: 0012
Revises: 0011
Create Date: 2027-01-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("unit_interfaces") as batch_op:
        batch_op.add_column(
            sa.Column("encoding", sa.String(length=10), nullable=False, server_default="utf-8-sig")
        )
        batch_op.add_column(
            sa.Column("delivery", sa.String(length=8), nullable=False, server_default="message")
        )
    op.add_column("units", sa.Column("ssh_keys", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("units") as batch_op:
        batch_op.drop_column("ssh_keys")
    with op.batch_alter_table("unit_interfaces") as batch_op:
        batch_op.drop_column("delivery")
        batch_op.drop_column("encoding")
