"""paper entry comments: a paper form's 意见建议, keyed on the second entry (issue #11)

- ``paper_entry.comments``: {"<campaign_unit_id>": text}, null on the first
  keying; deleted with the entry in the ballot's transaction, as its answers.

Revision ID: 20261126_0021
Revises: 20261126_0018
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0021"
down_revision = "20261126_0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("paper_entry", sa.Column("comments", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("paper_entry", "comments")
