"""the configuration's generation: hub processes reload units and the ordinance when it moves

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 23:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A counter row, bumped with every change to the units, their interfaces or the ordinance.
    op.execute("INSERT INTO registry_counters (name, value) VALUES ('configuration', 0)")


def downgrade() -> None:
    op.execute("DELETE FROM registry_counters WHERE name = 'configuration'")
