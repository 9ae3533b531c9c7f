"""the transfer record and its chain partitioned by the city's month on PostgreSQL; each link carries
its entry's requested_at (the partition key) on both databases

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00.000000

PostgreSQL: ``transfer_records`` and ``transfer_chain`` become ``PARTITION BY RANGE (requested_at)``,
one partition per month of the city's calendar (``transfer_records_2026_12``, ``transfer_chain_2026_12``)
and a ``_default`` partition each for whatever falls outside the months created. The rows are moved
(a one-time copy). A unique key of a partitioned table must hold the partition key, so the record's
primary key is (id, requested_at) and the chain's (seq, requested_at), its entry key (entry_id,
requested_at); ids still come from the one sequence, and an entry's requested_at never changes, so
each stays unique alone. ``platform_hub_record_month(month, zone)`` creates a month's two partitions
(the hub calls it ahead, ``audit.partitions``), moving that month's rows out of a default partition
first. SQLite keeps its single tables; its chain gains the column.
"""

import datetime as dt
import os
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3  # as audit.partitions.MONTHS_AHEAD: the hub keeps them created from then on
TABLES = ("transfer_records", "transfer_chain")

RECORD_INDEXES = {  # as the model names them (0001, 0003, 0004)
    "ix_transfer_records_reception_number": "reception_number",
    "ix_transfer_records_subject": "subject_integrated_number, requested_at",
    "ix_transfer_records_requested_at": "requested_at",
    "ix_transfer_records_interface": "interface_id, requested_at",
    "ix_transfer_records_requesting_unit": "requesting_unit, requested_at",
    "ix_transfer_records_providing_unit": "providing_unit, requested_at",
}

# A month's partition of both tables. SECURITY DEFINER: the serving role, which owns nothing, may ask
# for next month's partitions (the sealer does, ahead of time), and nothing else — the bounds and the
# names are derived here from a first day of a month. Rows of that month already in the default
# partition are moved into the new one (a default partition holding them would refuse the new bound);
# the move deletes from the default inside a purge permit, within this one transaction.
RECORD_MONTH = """
CREATE OR REPLACE FUNCTION platform_hub_record_month(month date, zone text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT SET lock_timeout = '5s' AS $$
DECLARE
    low timestamptz;
    high timestamptz;
    parent text;
    part text;
    created integer := 0;
    moved bigint;
BEGIN
    IF month <> date_trunc('month', month)::date THEN
        RAISE EXCEPTION '% is not the first day of a month', month;
    END IF;
    low := month::timestamp AT TIME ZONE zone;
    high := (month + interval '1 month')::timestamp AT TIME ZONE zone;
    FOREACH parent IN ARRAY ARRAY['transfer_records', 'transfer_chain'] LOOP
        part := parent || '_' || to_char(month, 'YYYY_MM');
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, parent);
        IF to_regclass(parent || '_default') IS NOT NULL THEN
            EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE requested_at >= $1 AND requested_at < $2',
                           part, parent || '_default') USING low, high;
            GET DIAGNOSTICS moved = ROW_COUNT;
            IF moved > 0 THEN
                INSERT INTO audit_purge_permits (id) VALUES (1) ON CONFLICT DO NOTHING;
                EXECUTE format('DELETE FROM %I WHERE requested_at >= $1 AND requested_at < $2',
                               parent || '_default') USING low, high;
                DELETE FROM audit_purge_permits;
            END IF;
        END IF;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       parent, part, low, high);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION platform_hub_append_only()',
                       part || '_no_truncate', part);
        created := created + 1;
    END LOOP;
    RETURN created;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_upgrade()
        return
    # The old tables step aside with their keys, indexes and triggers; the sequence of ids stays.
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
    op.execute("ALTER TABLE transfer_records_unpartitioned DROP CONSTRAINT pk_transfer_records")
    op.execute("ALTER TABLE transfer_chain_unpartitioned DROP CONSTRAINT pk_transfer_chain")
    op.execute("ALTER TABLE transfer_chain_unpartitioned DROP CONSTRAINT uq_transfer_chain_entry_id")
    for name in RECORD_INDEXES:
        op.execute(f"DROP INDEX {name}")

    op.execute(
        "CREATE TABLE transfer_records (LIKE transfer_records_unpartitioned INCLUDING DEFAULTS,"
        " CONSTRAINT pk_transfer_records PRIMARY KEY (id, requested_at)) PARTITION BY RANGE (requested_at)"
    )
    op.execute("ALTER SEQUENCE transfer_records_id_seq OWNED BY transfer_records.id")
    for name, columns in RECORD_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON transfer_records ({columns})")
    op.execute(
        "CREATE TABLE transfer_chain (LIKE transfer_chain_unpartitioned INCLUDING DEFAULTS,"
        " requested_at timestamptz NOT NULL,"
        " CONSTRAINT pk_transfer_chain PRIMARY KEY (seq, requested_at),"
        " CONSTRAINT uq_transfer_chain_entry_id UNIQUE (entry_id, requested_at))"
        " PARTITION BY RANGE (requested_at)"
    )
    op.execute("ALTER SEQUENCE transfer_chain_seq_seq OWNED BY transfer_chain.seq")
    op.execute(RECORD_MONTH)
    op.execute("REVOKE EXECUTE ON FUNCTION platform_hub_record_month(date, text) FROM PUBLIC")
    _partitions_of_the_data()
    for table in TABLES:
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")

    op.execute("INSERT INTO transfer_records SELECT * FROM transfer_records_unpartitioned")
    # A link whose entry is gone (tampered with) keeps its place in the default partition: verification
    # still names it.
    op.execute(
        "INSERT INTO transfer_chain SELECT l.*, coalesce(t.requested_at, l.sealed_at)"
        " FROM transfer_chain_unpartitioned l LEFT JOIN transfer_records t ON t.id = l.entry_id"
    )
    for table in TABLES:
        op.execute(f"DROP TABLE {table}_unpartitioned")
    # Row triggers on a partitioned table are cloned onto every partition, present and future; TRUNCATE
    # of a partition is its own statement, so each partition has its own (the function adds it).
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION platform_hub_append_only()"
        )
        for name in (table, f"{table}_default"):
            op.execute(
                f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
                "FOR EACH STATEMENT EXECUTE FUNCTION platform_hub_append_only()"
            )


def _partitions_of_the_data() -> None:
    """Every month the record holds (before its default partition exists: nothing to move), up to
    ``MONTHS_AHEAD`` past this one, in the city's zone as the hub's ``audit.partitions``."""
    zone_name = os.environ.get("PLATFORM_HUB_TIME_ZONE", "Asia/Tokyo")
    zone = ZoneInfo(zone_name)
    oldest = op.get_bind().scalar(sa.text("SELECT min(requested_at) FROM transfer_records_unpartitioned"))
    now = dt.datetime.now(dt.UTC).astimezone(zone)
    start = (oldest.astimezone(zone) if oldest is not None else now).date().replace(day=1)
    month = start
    last = _add_months(now.date().replace(day=1), MONTHS_AHEAD)
    while month <= last:
        op.get_bind().execute(
            sa.text("SELECT platform_hub_record_month(:month, :zone)"), {"month": month, "zone": zone_name}
        )
        month = _add_months(month, 1)


def _add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def _sqlite_upgrade() -> None:
    # Adding a NOT NULL column copies the table, which loses its triggers: they are made again.
    op.execute("DROP TRIGGER IF EXISTS transfer_chain_no_update")
    op.execute("DROP TRIGGER IF EXISTS transfer_chain_no_delete")
    with op.batch_alter_table("transfer_chain") as batch:
        batch.add_column(sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE transfer_chain SET requested_at = coalesce("
        "(SELECT requested_at FROM transfer_records t WHERE t.id = entry_id), sealed_at)"
    )
    with op.batch_alter_table("transfer_chain") as batch:
        batch.alter_column("requested_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    _sqlite_append_only()


def _sqlite_append_only() -> None:
    """transfer_chain's triggers as 0003 made them."""
    op.execute(
        "CREATE TRIGGER transfer_chain_no_update BEFORE UPDATE ON transfer_chain "
        "BEGIN SELECT RAISE(ABORT, 'transfer_chain is append-only: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER transfer_chain_no_delete BEFORE DELETE ON transfer_chain "
        "WHEN NOT EXISTS (SELECT 1 FROM audit_purge_permits) "
        "BEGIN SELECT RAISE(ABORT, 'transfer_chain is append-only: DELETE refused'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS transfer_chain_no_update")
        op.execute("DROP TRIGGER IF EXISTS transfer_chain_no_delete")
        with op.batch_alter_table("transfer_chain") as batch:
            batch.drop_column("requested_at")
        _sqlite_append_only()
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_partitioned")
    op.execute("ALTER TABLE transfer_records_partitioned DROP CONSTRAINT pk_transfer_records")
    op.execute("ALTER TABLE transfer_chain_partitioned DROP CONSTRAINT pk_transfer_chain")
    op.execute("ALTER TABLE transfer_chain_partitioned DROP CONSTRAINT uq_transfer_chain_entry_id")
    for name in RECORD_INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute(
        "CREATE TABLE transfer_records (LIKE transfer_records_partitioned INCLUDING DEFAULTS,"
        " CONSTRAINT pk_transfer_records PRIMARY KEY (id))"
    )
    op.execute("ALTER SEQUENCE transfer_records_id_seq OWNED BY transfer_records.id")
    op.execute("INSERT INTO transfer_records SELECT * FROM transfer_records_partitioned")
    for name, columns in RECORD_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON transfer_records ({columns})")
    op.execute(
        "CREATE TABLE transfer_chain AS"
        " SELECT seq, entry_id, entry_digest, chain_hash, sealed_at FROM transfer_chain_partitioned"
    )
    for column in ("seq", "entry_id", "entry_digest", "chain_hash", "sealed_at"):
        op.execute(f"ALTER TABLE transfer_chain ALTER COLUMN {column} SET NOT NULL")
    op.execute("ALTER TABLE transfer_chain ALTER COLUMN seq SET DEFAULT nextval('transfer_chain_seq_seq')")
    op.execute("ALTER SEQUENCE transfer_chain_seq_seq OWNED BY transfer_chain.seq")
    op.execute("ALTER TABLE transfer_chain ADD CONSTRAINT pk_transfer_chain PRIMARY KEY (seq)")
    op.execute("ALTER TABLE transfer_chain ADD CONSTRAINT uq_transfer_chain_entry_id UNIQUE (entry_id)")
    for table in TABLES:
        op.execute(f"DROP TABLE {table}_partitioned")  # and every partition with it
    op.execute("DROP FUNCTION platform_hub_record_month(date, text)")
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION platform_hub_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION platform_hub_append_only()"
        )
