"""ballot drafts and the campaign's ballot rules

Revision ID: 20261123_0002
Revises: 20261123_0001
Create Date: 2026-11-23

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261123_0002'
down_revision = '20261123_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ballot_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('key_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('comments', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('invitation_id IS NOT NULL OR key_hash IS NOT NULL', name=op.f('ck_ballot_draft_owner')),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_ballot_draft_batch_id_batch'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_ballot_draft_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitation.id'], name=op.f('fk_ballot_draft_invitation_id_invitation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ballot_draft')),
    sa.UniqueConstraint('invitation_id', name=op.f('uq_ballot_draft_invitation_id')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_ballot_draft_key_hash'))
    )
    with op.batch_alter_table('ballot_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ballot_draft_campaign_id'), ['campaign_id'], unique=False)

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_dissatisfied_share_per_ballot', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('comment_required_for_dissatisfied', sa.Boolean(), nullable=True))
        batch_op.create_check_constraint(
            'max_dissatisfied_share_per_ballot',
            'max_dissatisfied_share_per_ballot IS NULL OR '
            '(max_dissatisfied_share_per_ballot >= 0 AND max_dissatisfied_share_per_ballot <= 1)')


def downgrade():
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_campaign_max_dissatisfied_share_per_ballot'), type_='check')
        batch_op.drop_column('comment_required_for_dissatisfied')
        batch_op.drop_column('max_dissatisfied_share_per_ballot')

    with op.batch_alter_table('ballot_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ballot_draft_campaign_id'))

    op.drop_table('ballot_draft')
