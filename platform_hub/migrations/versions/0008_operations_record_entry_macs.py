"""the operations record (chained like the transfer record), entry MACs, answers kept for a while

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:35:49.889730
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Written once, never changed: the operations record, its chain and its checkpoints (as the transfer
# record's, migration 0003; on PostgreSQL its trigger function platform_hub_append_only serves again).
APPEND_ONLY = ("operations", "operation_chain", "operation_checkpoints")


def upgrade() -> None:
    op.create_table(
        "operation_chain",
        sa.Column("seq", _ID, nullable=False),
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("entry_digest", sa.String(length=64), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_operation_chain")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_operation_chain_entry_id")),
    )
    op.create_table(
        "operation_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", _ID, nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operation_checkpoints")),
    )
    op.create_index(op.f("ix_operation_checkpoints_seq"), "operation_checkpoints", ["seq"], unique=False)
    op.create_table(
        "operations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(length=3), nullable=True),
        sa.Column("department", sa.String(length=16), nullable=True),
        sa.Column("clerk", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_integrated_number", sa.String(length=15), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("entry_digest", sa.String(length=64), nullable=False),
        sa.Column("entry_mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
    )
    op.create_index("ix_operations_action", "operations", ["action", "at"], unique=False)
    op.create_index("ix_operations_at", "operations", ["at"], unique=False)
    op.create_index("ix_operations_client", "operations", ["client_id", "at"], unique=False)
    op.create_index("ix_operations_subject", "operations", ["subject_integrated_number", "at"], unique=False)
    _append_only(APPEND_ONLY)
    # The auditors' access log becomes part of the operations record (chained, sealed, verified).
    op.drop_index(op.f("ix_audit_access_log_subject_integrated_number"), table_name="audit_access_log")
    op.drop_table("audit_access_log")
    # Entries written before this revision carry no MAC (empty): verification names them.
    op.add_column(
        "transfer_records", sa.Column("entry_mac", sa.String(length=64), nullable=False, server_default="")
    )
    # A query's full answer is kept only while a resent MSGID may need it; then its digest alone.
    op.add_column("messages", sa.Column("response_digest", sa.String(length=64), nullable=True))


def _append_only(tables: Sequence[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION platform_hub_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION platform_hub_append_only()"
            )
        return
    for table in tables:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END"
        )


def downgrade() -> None:
    op.drop_column("messages", "response_digest")
    op.drop_column("transfer_records", "entry_mac")
    op.create_table(
        "audit_access_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_integrated_number", sa.String(length=32), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_access_log")),
    )
    op.create_index(
        op.f("ix_audit_access_log_subject_integrated_number"),
        "audit_access_log",
        ["subject_integrated_number"],
        unique=False,
    )
    op.drop_table("operations")
    op.drop_table("operation_checkpoints")
    op.drop_table("operation_chain")
