"""opinions from outside the ballots (issue #13): ``opinion`` (座谈会、走访、
接访、热线, handed to a unit with a deadline, answered by its liaison, read
back by a lookup code kept as its SHA-256) and, apart, ``opinion_raiser``
(who raised it: personal data).

Revision ID: 20261127_0030
Revises: 20261126_0028
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "20261127_0030"
down_revision = "20261126_0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "opinion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("lookup_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_detail", sa.String(length=200), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("marked_red_at", sa.DateTime(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("source IN ('forum', 'visit', 'reception', 'hotline')", name=op.f("ck_opinion_source")),
        sa.CheckConstraint("status IN ('registered', 'assigned', 'answered', 'closed')",
                           name=op.f("ck_opinion_status")),
        sa.CheckConstraint("length(summary) <= 4000", name=op.f("ck_opinion_summary_length")),
        sa.CheckConstraint("answer IS NULL OR length(answer) <= 4000", name=op.f("ck_opinion_answer_length")),
        sa.ForeignKeyConstraint(["answered_by_id"], ["user_account.id"],
                                name=op.f("fk_opinion_answered_by_id_user_account")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_opinion_campaign_id_campaign"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"],
                                name=op.f("fk_opinion_created_by_id_user_account")),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_opinion_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opinion")),
        sa.UniqueConstraint("lookup_hash", name=op.f("uq_opinion_lookup_hash")),
    )
    op.create_index(op.f("ix_opinion_campaign_id"), "opinion", ["campaign_id"], unique=False)
    op.create_index(op.f("ix_opinion_code"), "opinion", ["code"], unique=False)
    op.create_index(op.f("ix_opinion_unit_id"), "opinion", ["unit_id"], unique=False)
    op.create_table(
        "opinion_raiser",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opinion_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["opinion_id"], ["opinion.id"], name=op.f("fk_opinion_raiser_opinion_id_opinion"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opinion_raiser")),
        sa.UniqueConstraint("opinion_id", name=op.f("uq_opinion_raiser_opinion_id")),
    )


def downgrade() -> None:
    op.drop_table("opinion_raiser")
    op.drop_index(op.f("ix_opinion_unit_id"), table_name="opinion")
    op.drop_index(op.f("ix_opinion_code"), table_name="opinion")
    op.drop_index(op.f("ix_opinion_campaign_id"), table_name="opinion")
    op.drop_table("opinion")
