"""roster management and bulk setup (issue #11)

- ``roster_upload``: a roster file refused for some rows, kept a day so that
  its valid rows can be imported and its skipped rows downloaded;
- ``campaign.is_test``, ``campaign.is_demo``, ``campaign.archived_at``: test
  and demo campaigns are never the default source to copy from; a test
  campaign may be archived (or deleted) before it opens;
- ``item.help``, ``item.help_en``: an item's help text on the form;
- ``replaced_link.kind``: 'resend' where one person's invitation was sent again.

Revision ID: 20261126_0027
Revises: 20261126_0020
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0027"
down_revision = "20261126_0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("table", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"],
                                name=op.f("fk_roster_upload_campaign_id_campaign"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_upload")),
    )
    with op.batch_alter_table("roster_upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_roster_upload_campaign_id"), ["campaign_id"], unique=False)
    # add_column only: no table is rebuilt (a rebuilt campaign table would cascade its deletion).
    op.add_column("campaign", sa.Column("is_test", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("campaign", sa.Column("is_demo", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("campaign", sa.Column("archived_at", sa.DateTime(), nullable=True))
    op.add_column("item", sa.Column("help", sa.Text(), nullable=True))
    op.add_column("replaced_link", sa.Column("kind", sa.String(length=16), nullable=True))
    op.add_column("item", sa.Column("help_en", sa.Text(), nullable=True))
    # The demo campaign, if loaded, is marked as such.
    campaign = sa.table("campaign", sa.column("code", sa.String), sa.column("name", sa.String),
                        sa.column("is_demo", sa.Boolean))
    op.execute(campaign.update().where(campaign.c.code == "2026", campaign.c.name == "2026年度市直机关作风评议")
               .values(is_demo=True))


def downgrade() -> None:
    op.drop_column("replaced_link", "kind")
    op.drop_column("item", "help_en")
    op.drop_column("item", "help")
    op.drop_column("campaign", "archived_at")
    op.drop_column("campaign", "is_demo")
    op.drop_column("campaign", "is_test")
    with op.batch_alter_table("roster_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_roster_upload_campaign_id"))
    op.drop_table("roster_upload")
