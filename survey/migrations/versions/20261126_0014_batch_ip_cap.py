"""batch ip cap: an open batch's own cap of ballots from one address in 24 hours

``batch.ip_cap``: null (every existing batch) takes the PINGYI_PUBLIC_IP_CAP
setting (200 unless set), 0 means no cap, n caps at n. A column CHECK keeps
it within 0..10 000 000 (SQLite and PostgreSQL both take a CHECK in ADD
COLUMN, so no table is rebuilt).

Revision ID: 20261126_0014
Revises: 20261126_0013
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0014"
down_revision = "20261126_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batch", sa.Column(
        "ip_cap", sa.Integer(),
        sa.CheckConstraint("ip_cap IS NULL OR (ip_cap >= 0 AND ip_cap <= 10000000)", name=op.f("ck_batch_ip_cap")),
        nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): no table rebuild, whose copy would
    # lose other CHECKs or, with foreign keys on, cascade to the batch's rows.
    op.drop_column("batch", "ip_cap")
