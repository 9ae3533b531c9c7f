"""文字要件: the search keys recomputed with 異体字 folded and IVS dropped; each unit's character set
(mj, or jisx0213 for a unit whose system holds JIS X 0213 only: the hub falls back for it)

Revision ID: 0015
Revises: 0013
Create Date: 2027-01-20 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from platform_hub.protocol import normalize

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000  # rows read and written at a time, so a large registry does not sit in memory


def upgrade() -> None:
    op.add_column("units", sa.Column("characters", sa.String(length=8), nullable=False, server_default="mj"))
    recompute_keys(op.get_bind())


def recompute_keys(connection: sa.Connection) -> None:
    """Every version's keys as normalize computes them now (the same statements on SQLite and
    PostgreSQL; batches by id, each update only where a key changes)."""
    versions = sa.table(
        "person_versions",
        *(
            sa.column(name)
            for name in ("id", "name", "name_kana", "address", "name_key", "kana_key", "address_key")
        ),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(versions).where(versions.c.id > last).order_by(versions.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        changed = [
            {"vid": row.id, **keys}
            for row in rows
            if (keys := _keys(row.name, row.name_kana, row.address))
            != {"name_key": row.name_key, "kana_key": row.kana_key, "address_key": row.address_key}
        ]
        if changed:
            connection.execute(
                versions.update()
                .where(versions.c.id == sa.bindparam("vid"))
                .values(
                    name_key=sa.bindparam("name_key"),
                    kana_key=sa.bindparam("kana_key"),
                    address_key=sa.bindparam("address_key"),
                ),
                changed,
            )
        last = rows[-1].id


def _keys(name: str, kana: str | None, address: str) -> dict[str, str | None]:
    return {
        "name_key": normalize.name_key(name),
        "kana_key": normalize.kana_key(kana) if kana else None,
        "address_key": normalize.address_key(address),
    }


def downgrade() -> None:
    # The folded keys stay: the earlier code compares unfolded keys, so a folded one finds less.
    with op.batch_alter_table("units") as batch_op:
        batch_op.drop_column("characters")
