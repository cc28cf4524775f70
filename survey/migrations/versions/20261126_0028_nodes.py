"""more than one node (issue #15): who holds a running job (``job.claimed_by``,
"<host>:<pid>:<claim>" written by each claim, so that a worker whose job was
taken over by another node stops instead of running it beside the new one);
the ballots' batch index also holds the id (``ix_ballot_batch_id`` on
batch_id, id): PostgreSQL finds a batch's newest ballot (the results'
fingerprint) from the index alone, as SQLite already did.

Revision ID: 20261126_0028
Revises: 20261126_0025
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261126_0028"
down_revision = "20261126_0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
    op.drop_index("ix_ballot_batch_id", table_name="ballot")
    op.create_index("ix_ballot_batch_id", "ballot", ["batch_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ballot_batch_id", table_name="ballot")
    op.create_index("ix_ballot_batch_id", "ballot", ["batch_id"])
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
