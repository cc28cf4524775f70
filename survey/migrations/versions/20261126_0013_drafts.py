"""sealed drafts and SQLite's ballot claims (Trust #7)

Drafts were kept in clear, keyed by their invitation; they are now sealed
under the evaluator's token and keyed by an HMAC of it. The clear drafts
cannot be sealed (the tokens are stored nowhere), so they are deleted: an
evaluator who was filling in finds an empty form again. Invitations already
marked used need no claim row (the SQLite claim also refuses a used one).

Revision ID: 20261126_0013
Revises: 20261126_0011
Create Date: 2026-11-26

"""
import sqlalchemy as sa
from alembic import op

revision = "20261126_0013"
down_revision = "20261126_0011"
branch_labels = None
depends_on = None


def _clear_drafts_table() -> None:
    op.create_table(
        "ballot_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_ballot_draft_campaign_id_campaign"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_draft")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_ballot_draft_key_hash")),
    )
    with op.batch_alter_table("ballot_draft", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballot_draft_campaign_id"), ["campaign_id"], unique=False)


def upgrade():
    with op.batch_alter_table("ballot_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballot_draft_campaign_id"))
    op.drop_table("ballot_draft")
    _clear_drafts_table()
    op.create_table(
        "ballot_claim",
        sa.Column("claim_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("pending", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_ballot_claim_campaign_id_campaign"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("claim_hash", name=op.f("pk_ballot_claim")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("ballot_claim", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballot_claim_campaign_id"), ["campaign_id"], unique=False)


def downgrade():
    # Pending marks are lost with the claims: mark nothing used that may not be
    # (a downgrade keeps every ballot; an unmarked invitation is only reminded).
    with op.batch_alter_table("ballot_claim", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballot_claim_campaign_id"))
    op.drop_table("ballot_claim")
    with op.batch_alter_table("ballot_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballot_draft_campaign_id"))
    op.drop_table("ballot_draft")
    op.create_table(
        "ballot_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("comments", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("invitation_id IS NOT NULL OR key_hash IS NOT NULL", name=op.f("ck_ballot_draft_owner")),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_ballot_draft_batch_id_batch"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_ballot_draft_campaign_id_campaign"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitation.id"],
                                name=op.f("fk_ballot_draft_invitation_id_invitation"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_draft")),
        sa.UniqueConstraint("invitation_id", name=op.f("uq_ballot_draft_invitation_id")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_ballot_draft_key_hash")),
    )
    with op.batch_alter_table("ballot_draft", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballot_draft_campaign_id"), ["campaign_id"], unique=False)
