"""english labels: optional English labels of a campaign's categories, units, items and options

The ballot shows them when the evaluator switches to English (Trust, item 2:
organizer data is never looked up in the catalogue any more). Null, as for
every existing row, shows the Chinese label. Each column has the length
CHECK of its Chinese column, given in ADD COLUMN (SQLite and PostgreSQL both
take it there, so no table is rebuilt).

Revision ID: 20261126_0015
Revises: 20261126_0014
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0015"
down_revision = "20261126_0014"
branch_labels = None
depends_on = None

#: (table, column, longest)
COLUMNS = (
    ("campaign_category", "label_en", 200),
    ("campaign_unit", "name_en", 200),
    ("item", "label_en", 200),
    ("scale_option", "label_en", 100),
)


def upgrade() -> None:
    for table, column, longest in COLUMNS:
        op.add_column(table, sa.Column(
            column, sa.String(length=longest),
            sa.CheckConstraint(f"{column} IS NULL OR length({column}) <= {longest}",
                               name=op.f(f"ck_{table}_{column}_length")),
            nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): no table rebuild, whose copy would
    # lose other CHECKs or, with foreign keys on, cascade to the rows.
    for table, column, _longest in reversed(COLUMNS):
        op.drop_column(table, column)
