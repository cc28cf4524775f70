"""result artifacts: charts and rendered tables kept beside the snapshot they
are drawn from, so that every process serves them as stored

Revision ID: 20261123_0008
Revises: 20261123_0007
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "20261123_0008"
down_revision = "20261123_0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "result_artifact",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("results_sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_result_artifact_campaign_id_campaign"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_result_artifact")),
    )
    with op.batch_alter_table("result_artifact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_result_artifact_campaign_id"), ["campaign_id"], unique=False)


def downgrade():
    with op.batch_alter_table("result_artifact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_artifact_campaign_id"))
    op.drop_table("result_artifact")
