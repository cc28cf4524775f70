"""on the spot (issue #14): a batch's units on the form (``batch_unit``),
现场测评 sessions (``field_session`` with its units and its groups' batches),
and the campaign's option to let evaluators leave units unanswered
(``campaign.allow_unanswered``).

Revision ID: 20261126_0025
Revises: 20261126_0024
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0025"
down_revision = "20261126_0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaign", sa.Column("allow_unanswered", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.create_table(
        "batch_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("campaign_unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_batch_unit_batch_id_batch"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["campaign_unit_id"], ["campaign_unit.id"],
                                name=op.f("fk_batch_unit_campaign_unit_id_campaign_unit"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_unit")),
        sa.UniqueConstraint("batch_id", "campaign_unit_id", name=op.f("uq_batch_unit_batch_id_campaign_unit_id")),
    )
    op.create_index(op.f("ix_batch_unit_batch_id"), "batch_unit", ["batch_id"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    code_chars = ("code NOT GLOB '*[^A-Za-z0-9_-]*'" if sqlite else "code ~ '^[A-Za-z0-9_-]+$'")
    op.create_table(
        "field_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("starts_at", sa.DateTime(), nullable=True),
        sa.Column("announce", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(code) BETWEEN 1 AND 24", name=op.f("ck_field_session_code_length")),
        sa.CheckConstraint(code_chars, name=op.f("ck_field_session_code_chars")),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=op.f("ck_field_session_name_length")),
        sa.CheckConstraint("place IS NULL OR length(place) <= 200", name=op.f("ck_field_session_place_length")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_field_session_campaign_id_campaign"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_session")),
        sa.UniqueConstraint("campaign_id", "code", name=op.f("uq_field_session_campaign_id_code")),
    )
    op.create_index(op.f("ix_field_session_campaign_id"), "field_session", ["campaign_id"])
    op.create_table(
        "field_session_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("campaign_unit_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["field_session.id"],
                                name=op.f("fk_field_session_unit_session_id_field_session"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["campaign_unit_id"], ["campaign_unit.id"],
                                name=op.f("fk_field_session_unit_campaign_unit_id_campaign_unit"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_session_unit")),
        sa.UniqueConstraint("session_id", "campaign_unit_id", name=op.f("uq_field_session_unit_session_id_campaign_unit_id")),
    )
    op.create_index(op.f("ix_field_session_unit_session_id"), "field_session_unit", ["session_id"])
    op.create_table(
        "field_session_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.CheckConstraint("expected >= 0 AND expected <= 100000", name=op.f("ck_field_session_batch_expected")),
        sa.ForeignKeyConstraint(["session_id"], ["field_session.id"],
                                name=op.f("fk_field_session_batch_session_id_field_session"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_field_session_batch_batch_id_batch"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_session_batch")),
        sa.UniqueConstraint("batch_id", name=op.f("uq_field_session_batch_batch_id")),
    )
    op.create_index(op.f("ix_field_session_batch_session_id"), "field_session_batch", ["session_id"])


def downgrade() -> None:
    op.drop_table("field_session_batch")
    op.drop_table("field_session_unit")
    op.drop_table("field_session")
    op.drop_table("batch_unit")
    op.drop_column("campaign", "allow_unanswered")
