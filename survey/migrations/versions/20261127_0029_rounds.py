"""平时考核 rounds (issue #13, docs/rounds.md):

- ``campaign.kind`` ('annual' or 'round') and ``campaign.held_on`` (a round's day);
- ``round_component`` (an annual campaign's 平时 component: code and label);
- ``round_score`` (a published round's composite per unit of the annual
  campaign it counts for).

Plain add_column on campaign (never a rebuild of the table on SQLite).

Revision ID: 20261127_0029
Revises: 20261127_0030
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_0029"
down_revision = "20261127_0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaign", sa.Column("kind", sa.String(length=16), server_default="annual", nullable=False))
    op.add_column("campaign", sa.Column("held_on", sa.Date(), nullable=True))
    op.create_table(
        "round_component",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.CheckConstraint("length(code) BETWEEN 1 AND 64", name=op.f("ck_round_component_code_length")),
        sa.CheckConstraint("length(label) <= 200", name=op.f("ck_round_component_label_length")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_round_component_campaign_id_campaign"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_component")),
        sa.UniqueConstraint("campaign_id", name=op.f("uq_round_component_campaign_id")),
    )
    op.create_table(
        "round_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("campaign_unit_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("round_code", sa.String(length=64), nullable=False),
        sa.Column("round_name", sa.String(length=200), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("composite", sa.Float(), nullable=True),
        sa.CheckConstraint("composite IS NULL OR (composite >= 0 AND composite <= 100)",
                           name=op.f("ck_round_score_composite")),
        sa.CheckConstraint("length(round_code) BETWEEN 1 AND 64", name=op.f("ck_round_score_round_code_length")),
        sa.CheckConstraint("length(round_name) <= 200", name=op.f("ck_round_score_round_name_length")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_round_score_campaign_id_campaign"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["campaign_unit_id"], ["campaign_unit.id"],
                                name=op.f("fk_round_score_campaign_unit_id_campaign_unit"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["round_id"], ["campaign.id"],
                                name=op.f("fk_round_score_round_id_campaign"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_score")),
        sa.UniqueConstraint("campaign_unit_id", "round_code", name=op.f("uq_round_score_campaign_unit_id_round_code")),
    )
    op.create_index(op.f("ix_round_score_campaign_id"), "round_score", ["campaign_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_round_score_campaign_id"), table_name="round_score")
    op.drop_table("round_score")
    op.drop_table("round_component")
    op.drop_column("campaign", "held_on")
    op.drop_column("campaign", "kind")
