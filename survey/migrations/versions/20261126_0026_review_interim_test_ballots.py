"""rectification review (退回修改 with a comment), interim results, test ballots

rectification: returned_at, returned_by_id and review_comment (the
committee's word with 退回修改 or 验收, which the liaison reads);
outcome_settings.interim_results (results shown while the campaign is open,
marked 中间结果); test_ballot: ballots submitted through the preview before
开始评议, kept apart from ballot and purged when the campaign opens.

Revision ID: 20261126_0026
Revises: 20261126_0020
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0026"
down_revision = "20261126_0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rectification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("returned_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("returned_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("review_comment", sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_rectification_returned_by_id_user_account"),
                                    "user_account", ["returned_by_id"], ["id"])
    with op.batch_alter_table("outcome_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interim_results", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "test_ballot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("campaign_group_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_test_ballot_campaign_id_campaign"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["campaign_group_id"], ["campaign_group.id"],
                                name=op.f("fk_test_ballot_campaign_group_id_campaign_group"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_test_ballot_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_ballot")),
    )
    with op.batch_alter_table("test_ballot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_test_ballot_campaign_id"), ["campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("test_ballot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_ballot_campaign_id"))
    op.drop_table("test_ballot")
    with op.batch_alter_table("outcome_settings", schema=None) as batch_op:
        batch_op.drop_column("interim_results")
    with op.batch_alter_table("rectification", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_rectification_returned_by_id_user_account"), type_="foreignkey")
        batch_op.drop_column("review_comment")
        batch_op.drop_column("returned_by_id")
        batch_op.drop_column("returned_at")
