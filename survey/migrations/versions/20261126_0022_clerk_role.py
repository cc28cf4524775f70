"""the data-entry clerk role (issue #11): ``user_account.role`` may be ``clerk``
(纸质表录入 only). The role CHECK is replaced (SQLite rebuilds the table).

Revision ID: 20261126_0022
Revises: 20261126_0021
Create Date: 2026-11-26
"""
from __future__ import annotations

from alembic import op

revision = "20261126_0022"
down_revision = "20261126_0021"
branch_labels = None
depends_on = None

_OLD = "role IN ('admin', 'organizer', 'committee', 'liaison', 'auditor')"
_NEW = "role IN ('admin', 'organizer', 'committee', 'liaison', 'auditor', 'clerk')"


def _replace(condition: str) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_account_role"), type_="check")
        batch_op.create_check_constraint("role", condition)
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    _replace(_NEW)


def downgrade() -> None:
    # A clerk's account is referenced by the paper entries it keyed (and the audit log), so it is
    # kept, signed out for good: an inactive auditor, the least the old schema knows.
    op.execute("UPDATE user_account SET role = 'auditor', active = false WHERE role = 'clerk'")
    _replace(_OLD)
