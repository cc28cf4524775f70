"""margin variables: raking that works in anonymous campaigns (issue #12)

- ``margin_variable``: per group and raked variable, how ballots get its
  value (``supply``: a question on the form, or a roster column under the
  k rule), the question's wording, the proportions' source and the
  fallback category (其他). Existing margins get one row per variable,
  supplied by the roster (what they meant until now), labelled by name.
- ``campaign.attribute_k`` (default 5, at least 5): the k of the k rule.
- ``invitation.attributes``: the roster attributes an anonymous ballot of
  the link carries, decided per batch when it is issued.
- ``batch.attribute_release``: what the k rule released in the batch.
- ``paper_entry.attributes``: a clerk's keying of the margin questions.

Columns are added with their CHECKs in ADD COLUMN (SQLite and PostgreSQL
both take them there, so no table is rebuilt).

Revision ID: 20261126_0017
Revises: 20261126_0019
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0017"
down_revision = "20261126_0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "margin_variable",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_group_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("variable", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("fallback", sa.String(length=200), nullable=True),
        sa.Column("supply", sa.String(length=16), nullable=False),
        sa.CheckConstraint("supply IN ('question', 'roster')", name=op.f("ck_margin_variable_supply")),
        sa.CheckConstraint("length(variable) BETWEEN 1 AND 64", name=op.f("ck_margin_variable_variable_length")),
        sa.CheckConstraint("length(label) <= 200", name=op.f("ck_margin_variable_label_length")),
        sa.CheckConstraint("label_en IS NULL OR length(label_en) <= 200",
                           name=op.f("ck_margin_variable_label_en_length")),
        sa.CheckConstraint("source IS NULL OR length(source) <= 200", name=op.f("ck_margin_variable_source_length")),
        sa.CheckConstraint("fallback IS NULL OR length(fallback) <= 200",
                           name=op.f("ck_margin_variable_fallback_length")),
        sa.ForeignKeyConstraint(["campaign_group_id"], ["campaign_group.id"],
                                name=op.f("fk_margin_variable_campaign_group_id_campaign_group"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_margin_variable")),
        sa.UniqueConstraint("campaign_group_id", "variable",
                            name=op.f("uq_margin_variable_campaign_group_id_variable")),
    )
    with op.batch_alter_table("margin_variable", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_margin_variable_campaign_group_id"), ["campaign_group_id"], unique=False)
    op.execute(
        "INSERT INTO margin_variable (campaign_group_id, position, variable, label, supply) "
        "SELECT campaign_group_id, MIN(variable_position), variable, variable, 'roster' "
        "FROM margin_target GROUP BY campaign_group_id, variable")
    op.add_column("campaign", sa.Column(
        "attribute_k", sa.Integer(),
        sa.CheckConstraint("attribute_k >= 5 AND attribute_k <= 10000000", name=op.f("ck_campaign_attribute_k")),
        nullable=False, server_default="5"))
    op.add_column("invitation", sa.Column("attributes", sa.JSON(), nullable=True))
    op.add_column("batch", sa.Column("attribute_release", sa.JSON(), nullable=True))
    op.add_column("paper_entry", sa.Column("attributes", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+): no table rebuild, whose copy would
    # lose other CHECKs or, with foreign keys on, cascade to the rows.
    op.drop_column("paper_entry", "attributes")
    op.drop_column("batch", "attribute_release")
    op.drop_column("invitation", "attributes")
    op.drop_column("campaign", "attribute_k")
    with op.batch_alter_table("margin_variable", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_margin_variable_campaign_group_id"))
    op.drop_table("margin_variable")
