"""a console account's password an administrator handed over must be changed: the account says so
(``accounts.password_change_required``), and a session signed in with it may only change it
(``console_sessions.password_change_due``)

The accounts already there are flagged too: until now nobody could change a password, so each of
theirs is still the one an administrator saw (false would have been acceptable only had people been
able to choose theirs). It costs each person one change at their next sign-in with the password; a
sign-in through the city's identity provider is not asked. Sessions already open are not due: they
end within ``console_session_lifetime_seconds``, and the next sign-in asks.

Revision ID: 0022
Revises: 0021
Create Date: 2027-03-01 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as accounts:
        accounts.add_column(
            sa.Column("password_change_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    accounts_table = sa.table("accounts", sa.column("password_change_required", sa.Boolean()))
    op.execute(sa.update(accounts_table).values(password_change_required=True))
    with op.batch_alter_table("console_sessions") as sessions:
        sessions.add_column(
            sa.Column("password_change_due", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("console_sessions") as sessions:
        sessions.drop_column("password_change_due")
    with op.batch_alter_table("accounts") as accounts:
        accounts.drop_column("password_change_required")
