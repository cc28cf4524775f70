"""Merge the branches of the first schema: ballot drafts, accounts, campaign
setup, distribution and outcomes, written side by side from the initial schema.

Revision ID: 20261123_0007
Revises: 20261123_0002, 20261123_0004, 20261123_0005, 20261123_0006
Create Date: 2026-11-23
"""

revision = "20261123_0007"
# 0003 (accounts) comes before 0006.
down_revision = ("20261123_0002", "20261123_0004", "20261123_0005", "20261123_0006")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
