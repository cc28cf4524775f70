"""who holds a running job (issue #15, more than one node): ``job.claimed_by``,
"<host>:<pid>:<claim>" written by each claim, so that a worker whose job was
taken over by another node stops instead of running it beside the new one.

Revision ID: 20261126_0028
Revises: 20261126_0020
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261126_0028"
down_revision = "20261126_0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
