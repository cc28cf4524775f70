"""consequences carried out: owner, state, proof, red mark; 回头看 findings; 先进

- ``consequence``: ``owner``, ``state`` (pending → executed / received),
  ``proof``, ``amount``, ``percent``, ``persons``, ``done_by_id``,
  ``marked_red_at`` and ``rule`` (the escalation rule that made it);
  existing rows are pending, or executed where ``done_at`` was set.
- ``follow_up``: ``outcome`` (closed / reopened / noted), ``done_by_id``, ``new_due``.
- ``outcome_settings.honours``: the positive tier's rule and star bands.
- ``honour``: the committee's decision on a 先进 candidate, with title and amount.

Revision ID: 20261126_0024
Revises: 20261126_0023
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0024"
down_revision = "20261126_0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consequence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("state", sa.String(length=16), server_default="pending", nullable=False))
        batch_op.add_column(sa.Column("proof", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("amount", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("percent", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("persons", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("done_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("marked_red_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("rule", sa.String(length=100), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_consequence_done_by_id_user_account"), "user_account",
                                    ["done_by_id"], ["id"])
    op.execute("UPDATE consequence SET state = 'executed' WHERE done_at IS NOT NULL")
    with op.batch_alter_table("consequence", schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f("ck_consequence_state"),
                                         "state IN ('pending', 'executed', 'received')")
        batch_op.create_check_constraint(batch_op.f("ck_consequence_done"), "(state = 'pending') = (done_at IS NULL)")
        batch_op.create_check_constraint(batch_op.f("ck_consequence_amount"), "amount IS NULL OR amount >= 0")
        batch_op.create_check_constraint(batch_op.f("ck_consequence_percent"),
                                         "percent IS NULL OR (percent >= 0 AND percent <= 100)")
    with op.batch_alter_table("follow_up", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("done_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("new_due", sa.Date(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_follow_up_done_by_id_user_account"), "user_account",
                                    ["done_by_id"], ["id"])
    # Plain ADD/DROP COLUMN here (no SQLite table rebuild, which would turn 0019's column CHECKs
    # into table CHECKs that its downgrade cannot drop).
    op.add_column("outcome_settings", sa.Column("honours", sa.JSON(), nullable=True))
    op.create_table(
        "honour",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_unit_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("decision IN ('awarded', 'declined')", name=op.f("ck_honour_decision")),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name=op.f("ck_honour_amount")),
        sa.CheckConstraint("decision = 'awarded' OR amount IS NULL", name=op.f("ck_honour_declined_no_amount")),
        sa.ForeignKeyConstraint(["campaign_unit_id"], ["campaign_unit.id"],
                                name=op.f("fk_honour_campaign_unit_id_campaign_unit"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"],
                                name=op.f("fk_honour_decided_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_honour")),
        sa.UniqueConstraint("campaign_unit_id", name=op.f("uq_honour_campaign_unit_id")),
    )


def downgrade() -> None:
    op.drop_table("honour")
    op.drop_column("outcome_settings", "honours")
    with op.batch_alter_table("follow_up", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_follow_up_done_by_id_user_account"), type_="foreignkey")
        batch_op.drop_column("new_due")
        batch_op.drop_column("done_by_id")
        batch_op.drop_column("outcome")
    with op.batch_alter_table("consequence", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_consequence_percent"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_consequence_amount"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_consequence_done"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_consequence_state"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_consequence_done_by_id_user_account"), type_="foreignkey")
        for name in ("rule", "marked_red_at", "done_by_id", "persons", "percent", "amount", "proof", "state",
                     "owner"):
            batch_op.drop_column(name)
