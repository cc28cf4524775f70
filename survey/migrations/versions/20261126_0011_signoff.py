"""signoff: the quorum fixed at 截止, approvals by role, numbered final versions

- ``campaign.quorum``: the approvals needed to finalize, stored when the
  campaign closes. Campaigns already closed, finalized or published get the
  committee's setting, else the number of active committee members now (at
  least 1): the best this upgrade can know of the moment they closed.
- ``approval.role``: the approver's role when approving; existing rows take
  the account's current role (an admin's approval so never counts).
- ``result_snapshot.version`` (0 for the cache; 1, 2, … for the final
  record), unique per campaign and kind, replacing the one-final-per-campaign
  constraint; existing final snapshots become version 1, with the campaign's
  quorum and the class overrides in force now (``quorum``,
  ``overrides_json``), and ``note``.
- ``consequence.cancelled_at`` and ``note``; one live consequence of a kind
  per unit (a partial unique index) instead of one of a kind ever.

On SQLite, batch mode rebuilds each table; foreign keys are switched off for
the rebuild so that dropping the old copy of a table cannot cascade to the
rows that refer to it.

Revision ID: 20261126_0011
Revises: 20261126_0010
Create Date: 2026-11-26
"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

revision = "20261126_0011"
down_revision = "20261126_0010"
branch_labels = None
depends_on = None

RESULTS_READY = "('closed', 'finalized', 'published')"
LIVE = "cancelled_at IS NULL"


def _overrides_json(bind: sa.Connection, campaign_id: int) -> str:
    """The campaign's class overrides as the application stores them in a final snapshot."""
    rows = bind.execute(text(
        "SELECT u.code, o.computed_class, o.new_class, o.reason FROM class_override o "
        "JOIN campaign_unit cu ON cu.id = o.campaign_unit_id JOIN unit u ON u.id = cu.unit_id "
        "WHERE cu.campaign_id = :c ORDER BY cu.position"), {"c": campaign_id}).all()
    doc = [{"unit": code, "computed_class": computed, "new_class": new, "reason": reason}
           for code, computed, new, reason in rows]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")

    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quorum", sa.Integer(), nullable=True))
        batch_op.create_check_constraint("quorum", "quorum IS NULL OR quorum >= 1")
    members = bind.execute(text("SELECT count(*) FROM user_account WHERE role = 'committee' AND active = :t"),
                           {"t": True}).scalar() or 0
    bind.execute(text(
        "UPDATE campaign SET quorum = COALESCE((SELECT s.quorum FROM outcome_settings s "
        f"WHERE s.campaign_id = campaign.id), :m) WHERE status IN {RESULTS_READY}"), {"m": max(1, members)})

    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=True))
    bind.execute(text("UPDATE approval SET role = (SELECT u.role FROM user_account u WHERE u.id = approval.user_id)"))
    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=16), nullable=False)

    with op.batch_alter_table("result_snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("quorum", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("overrides_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    bind.execute(text("UPDATE result_snapshot SET version = CASE WHEN kind = 'final' THEN 1 ELSE 0 END"))
    bind.execute(text("UPDATE result_snapshot SET quorum = (SELECT c.quorum FROM campaign c "
                      "WHERE c.id = result_snapshot.campaign_id) WHERE kind = 'final'"))
    for snap_id, campaign_id in bind.execute(text(
            "SELECT id, campaign_id FROM result_snapshot WHERE kind = 'final'")).all():
        bind.execute(text("UPDATE result_snapshot SET overrides_json = :o WHERE id = :i"),
                     {"o": _overrides_json(bind, campaign_id), "i": snap_id})
    with op.batch_alter_table("result_snapshot", schema=None) as batch_op:
        batch_op.alter_column("version", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint("uq_result_snapshot_campaign_id_kind", type_="unique")
        batch_op.create_unique_constraint("uq_result_snapshot_campaign_id_kind_version",
                                          ["campaign_id", "kind", "version"])
        batch_op.create_check_constraint(
            "version", "(kind = 'cache' AND version = 0) OR (kind = 'final' AND version >= 1)")

    with op.batch_alter_table("consequence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.drop_constraint("uq_consequence_campaign_unit_id_kind", type_="unique")
    op.create_index("uq_consequence_live_kind", "consequence", ["campaign_unit_id", "kind"], unique=True,
                    sqlite_where=text(LIVE), postgresql_where=text(LIVE))

    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")


def downgrade() -> None:
    """Back to one final snapshot per campaign (the latest version is kept) and
    one consequence of a kind per unit (cancelled consequences are deleted)."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")

    op.drop_index("uq_consequence_live_kind", table_name="consequence")
    bind.execute(text("DELETE FROM consequence WHERE cancelled_at IS NOT NULL"))
    with op.batch_alter_table("consequence", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_consequence_campaign_unit_id_kind", ["campaign_unit_id", "kind"])
        batch_op.drop_column("note")
        batch_op.drop_column("cancelled_at")

    bind.execute(text("DELETE FROM result_snapshot WHERE kind = 'final' AND version < (SELECT max(s.version) "
                      "FROM result_snapshot s WHERE s.campaign_id = result_snapshot.campaign_id "
                      "AND s.kind = 'final')"))
    with op.batch_alter_table("result_snapshot", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_result_snapshot_version"), type_="check")
        batch_op.drop_constraint("uq_result_snapshot_campaign_id_kind_version", type_="unique")
        batch_op.create_unique_constraint("uq_result_snapshot_campaign_id_kind", ["campaign_id", "kind"])
        batch_op.drop_column("note")
        batch_op.drop_column("overrides_json")
        batch_op.drop_column("quorum")
        batch_op.drop_column("version")

    with op.batch_alter_table("approval", schema=None) as batch_op:
        batch_op.drop_column("role")

    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_campaign_quorum"), type_="check")
        batch_op.drop_column("quorum")

    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
