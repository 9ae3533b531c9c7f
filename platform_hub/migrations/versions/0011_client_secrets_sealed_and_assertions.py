"""client secrets kept sealed (AES-GCM under the key file) for client_secret_jwt; the jti of every
client assertion used, until it expires

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:00:00.000000

Clients made before keep their hash only: they authenticate with client_secret_basic until their
secret is rotated, which seals the new one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("secret_key_id", sa.String(length=16), nullable=True))
    op.add_column("clients", sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True))
    op.create_table(
        "client_assertions",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_client_assertions")),
    )
    op.create_index(op.f("ix_client_assertions_expires_at"), "client_assertions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_client_assertions_expires_at"), table_name="client_assertions")
    op.drop_table("client_assertions")
    with op.batch_alter_table("clients") as batch_op:
        batch_op.drop_column("secret_ciphertext")
        batch_op.drop_column("secret_key_id")
