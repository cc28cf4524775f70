"""publication options: what the public page (公示) shows

The committee chooses whether the page shows each unit's score and rank or
its class only (false, as every page did before), the issuing office (null:
the PINGYI_OFFICE_NAME setting), a contact, the appeal deadline (null: the
end of the public period) and how to appeal (null: the default text). Each
text column has its length CHECK given in ADD COLUMN (SQLite and PostgreSQL
both take it there, so no table is rebuilt).

Revision ID: 20261126_0019
Revises: 20261126_0016
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0019"
down_revision = "20261126_0016"
branch_labels = None
depends_on = None

TABLE = "outcome_settings"
#: (column, type, longest)
TEXTS = (
    ("public_office", sa.String(length=200), 200),
    ("public_contact", sa.Text(), 1000),
    ("appeal_how", sa.Text(), 2000),
)


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("public_scores", sa.Boolean(), server_default=sa.false(), nullable=False))
    for column, type_, longest in TEXTS:
        op.add_column(TABLE, sa.Column(
            column, type_,
            sa.CheckConstraint(f"{column} IS NULL OR length({column}) <= {longest}",
                               name=op.f(f"ck_{TABLE}_{column}_length")),
            nullable=True))
    op.add_column(TABLE, sa.Column("appeal_until", sa.Date(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): no table rebuild, whose copy would
    # lose other CHECKs or, with foreign keys on, cascade to the rows.
    op.drop_column(TABLE, "appeal_until")
    for column, _type, _longest in reversed(TEXTS):
        op.drop_column(TABLE, column)
    op.drop_column(TABLE, "public_scores")
