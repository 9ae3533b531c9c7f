"""統合宛名 as the Digital Agency defines it: a 団体内統合宛名番号 only with a 個人番号 (how each person
came by theirs), 名寄せ proposals an operator accepts or rejects, and the 宛名 items beyond the
基本4情報 (氏・名, 外国人 names, 通称, 旧氏, 生年月日不詳, 町字コード, DV等支援措置, 住基ネット source)

Numbers issued before this revision went to every person, with a 個人番号 or not. They are kept —
a number once issued is never taken back nor reused, and the records name the person by it — as
``issued`` where the person holds a 個人番号, ``migrated`` where they do not.

Revision ID: 0018
Revises: 0017
Create Date: 2027-02-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite recreates the table: it keeps AUTOINCREMENT (an id, so a person id, is never reused).
    with op.batch_alter_table("persons", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column("integrated_number", existing_type=sa.String(length=15), nullable=True)
        batch_op.add_column(sa.Column("integrated_number_basis", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("support_measure", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
    with op.batch_alter_table("person_versions") as batch_op:
        for name, length in _VERSION_TEXTS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        batch_op.add_column(
            sa.Column("birth_date_unknown", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.create_index("ix_person_versions_birth_family", ["birth_date", "family_key"], unique=False)
        batch_op.create_index("ix_person_versions_birth_given", ["birth_date", "given_key"], unique=False)
    versions = sa.table("person_versions", sa.column("birth_date"), sa.column("birth_date_unknown"))
    op.execute(versions.update().where(versions.c.birth_date.like("%-00")).values(birth_date_unknown=True))
    persons = sa.table("persons", sa.column("my_number_hash"), sa.column("integrated_number_basis"))
    op.execute(
        persons.update().values(
            integrated_number_basis=sa.case(
                (persons.c.my_number_hash.is_(None), sa.literal("migrated")), else_=sa.literal("issued")
            )
        )
    )
    op.create_table(
        "person_merge_proposals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("into_person_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("merge_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["into_person_id"], ["persons.id"], name=op.f("fk_person_merge_proposals_into_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["merge_id"], ["person_merges.id"], name=op.f("fk_person_merge_proposals_merge_id_person_merges")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_person_merge_proposals_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_merge_proposals")),
    )
    with op.batch_alter_table("person_merge_proposals") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_merge_proposals_into_person_id"), ["into_person_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_person_merge_proposals_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_person_merge_proposals_status", ["status", "id"], unique=False)


_VERSION_TEXTS = (
    ("family_name", 50),
    ("given_name", 50),
    ("family_name_kana", 50),
    ("given_name_kana", 50),
    ("foreign_name_alphabet", 100),
    ("foreign_name_kanji", 100),
    ("alias", 100),
    ("alias_kana", 100),
    ("former_surname", 50),
    ("former_surname_kana", 50),
    ("birth_date_notation", 50),
    ("town_code", 7),
    ("jukinet_purpose", 16),
    ("family_key", 50),
    ("given_key", 50),
)


def downgrade() -> None:
    with op.batch_alter_table("person_versions") as batch_op:
        batch_op.drop_index("ix_person_versions_birth_given")
        batch_op.drop_index("ix_person_versions_birth_family")
        batch_op.drop_column("birth_date_unknown")
        for name, _ in reversed(_VERSION_TEXTS):
            batch_op.drop_column(name)
    op.drop_table("person_merge_proposals")
    # Persons without a number since 0018 are given none back: a downgrade needs every one numbered.
    with op.batch_alter_table("persons", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("support_measure")
        batch_op.drop_column("integrated_number_basis")
        batch_op.alter_column("integrated_number", existing_type=sa.String(length=15), nullable=False)
