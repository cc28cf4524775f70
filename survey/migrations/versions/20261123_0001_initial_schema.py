"""initial schema

Revision ID: 20261123_0001
Revises: 
Create Date: 2026-11-23

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261123_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('return_target', sa.Float(), nullable=False),
    sa.Column('opens_at', sa.DateTime(), nullable=True),
    sa.Column('closes_at', sa.DateTime(), nullable=True),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'open', 'closed', 'finalized', 'published')", name=op.f('ck_campaign_status')),
    sa.CheckConstraint('return_target > 0 AND return_target <= 1', name=op.f('ck_campaign_return_target')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign')),
    sa.UniqueConstraint('code', name=op.f('uq_campaign_code'))
    )
    op.create_table('category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_category')),
    sa.UniqueConstraint('code', name=op.f('uq_category_code'))
    )
    op.create_table('evaluator_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluator_group')),
    sa.UniqueConstraint('code', name=op.f('uq_evaluator_group_code'))
    )
    op.create_table('unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit')),
    sa.UniqueConstraint('code', name=op.f('uq_unit_code'))
    )
    op.create_table('campaign_category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_campaign_category_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['category_id'], ['category.id'], name=op.f('fk_campaign_category_category_id_category')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_category')),
    sa.UniqueConstraint('campaign_id', 'category_id', name=op.f('uq_campaign_category_campaign_id_category_id'))
    )
    op.create_table('campaign_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=True),
    sa.CheckConstraint('quota IS NULL OR quota >= 0', name=op.f('ck_campaign_group_quota')),
    sa.CheckConstraint('weight > 0', name=op.f('ck_campaign_group_weight')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_campaign_group_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['evaluator_group.id'], name=op.f('fk_campaign_group_group_id_evaluator_group')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_group')),
    sa.UniqueConstraint('campaign_id', 'group_id', name=op.f('uq_campaign_group_campaign_id_group_id'))
    )
    op.create_table('evaluator',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('organisation', sa.String(length=200), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('own_unit_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['evaluator_group.id'], name=op.f('fk_evaluator_group_id_evaluator_group')),
    sa.ForeignKeyConstraint(['own_unit_id'], ['unit.id'], name=op.f('fk_evaluator_own_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluator'))
    )
    op.create_table('item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.CheckConstraint('weight > 0', name=op.f('ck_item_weight')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_item_campaign_id_campaign'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item')),
    sa.UniqueConstraint('campaign_id', 'code', name=op.f('uq_item_campaign_id_code'))
    )
    op.create_table('scale_option',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('points', sa.Float(), nullable=True),
    sa.CheckConstraint('points IS NULL OR (points >= 0 AND points <= 100)', name=op.f('ck_scale_option_points')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_scale_option_campaign_id_campaign'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scale_option')),
    sa.UniqueConstraint('campaign_id', 'code', name=op.f('uq_scale_option_campaign_id_code'))
    )
    op.create_table('batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('campaign_group_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('issued', sa.Integer(), nullable=True),
    sa.Column('opens_at', sa.DateTime(), nullable=True),
    sa.Column('closes_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("channel IN ('online', 'email', 'sms', 'paper', 'qr', 'public')", name=op.f('ck_batch_channel')),
    sa.CheckConstraint('closes_at IS NULL OR opens_at IS NULL OR closes_at >= opens_at', name=op.f('ck_batch_period')),
    sa.CheckConstraint('issued IS NULL OR issued >= 0', name=op.f('ck_batch_issued')),
    sa.ForeignKeyConstraint(['campaign_group_id'], ['campaign_group.id'], name=op.f('fk_batch_campaign_group_id_campaign_group'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_batch_campaign_id_campaign'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch')),
    sa.UniqueConstraint('campaign_id', 'code', name=op.f('uq_batch_campaign_id_code'))
    )
    op.create_table('campaign_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('campaign_category_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['campaign_category_id'], ['campaign_category.id'], name=op.f('fk_campaign_unit_campaign_category_id_campaign_category'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_campaign_unit_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_campaign_unit_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_unit')),
    sa.UniqueConstraint('campaign_id', 'unit_id', name=op.f('uq_campaign_unit_campaign_id_unit_id'))
    )
    op.create_table('margin_target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_group_id', sa.Integer(), nullable=False),
    sa.Column('variable_position', sa.Integer(), nullable=False),
    sa.Column('variable', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=200), nullable=False),
    sa.Column('proportion', sa.Float(), nullable=False),
    sa.CheckConstraint('proportion >= 0', name=op.f('ck_margin_target_proportion')),
    sa.ForeignKeyConstraint(['campaign_group_id'], ['campaign_group.id'], name=op.f('fk_margin_target_campaign_group_id_campaign_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_margin_target')),
    sa.UniqueConstraint('campaign_group_id', 'variable', 'category', name=op.f('uq_margin_target_campaign_group_id_variable_category'))
    )
    op.create_table('invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('evaluator_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('serial', sa.String(length=32), nullable=True),
    sa.Column('used', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_invitation_batch_id_batch'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_invitation_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['evaluator_id'], ['evaluator.id'], name=op.f('fk_invitation_evaluator_id_evaluator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitation')),
    sa.UniqueConstraint('campaign_id', 'evaluator_id', name=op.f('uq_invitation_campaign_id_evaluator_id')),
    sa.UniqueConstraint('campaign_id', 'serial', name=op.f('uq_invitation_campaign_id_serial')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitation_token_hash'))
    )
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitation_batch_id'), ['batch_id'], unique=False)

    op.create_table('objective_score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_unit_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('component', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.CheckConstraint('score >= 0 AND score <= 100', name=op.f('ck_objective_score_score')),
    sa.ForeignKeyConstraint(['campaign_unit_id'], ['campaign_unit.id'], name=op.f('fk_objective_score_campaign_unit_id_campaign_unit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objective_score')),
    sa.UniqueConstraint('campaign_unit_id', 'component', name=op.f('uq_objective_score_campaign_unit_id_component'))
    )
    op.create_table('veto',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_unit_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_unit_id'], ['campaign_unit.id'], name=op.f('fk_veto_campaign_unit_id_campaign_unit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_veto'))
    )
    op.create_table('ballot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('utc_offset_min', sa.Integer(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=True),
    sa.Column('receipt_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('duration_s IS NULL OR duration_s >= 0', name=op.f('ck_ballot_duration')),
    sa.CheckConstraint('utc_offset_min IS NULL OR (utc_offset_min > -1440 AND utc_offset_min < 1440)', name=op.f('ck_ballot_utc_offset')),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_ballot_batch_id_batch'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_ballot_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitation.id'], name=op.f('fk_ballot_invitation_id_invitation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ballot')),
    sa.UniqueConstraint('campaign_id', 'public_id', name=op.f('uq_ballot_campaign_id_public_id')),
    sa.UniqueConstraint('campaign_id', 'receipt_hash', name=op.f('uq_ballot_campaign_id_receipt_hash')),
    sa.UniqueConstraint('invitation_id', name=op.f('uq_ballot_invitation_id'))
    )
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ballot_batch_id'), ['batch_id'], unique=False)

    op.create_table('answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ballot_id', sa.Integer(), nullable=False),
    sa.Column('campaign_unit_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['ballot_id'], ['ballot.id'], name=op.f('fk_answer_ballot_id_ballot'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_unit_id'], ['campaign_unit.id'], name=op.f('fk_answer_campaign_unit_id_campaign_unit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_answer_item_id_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['option_id'], ['scale_option.id'], name=op.f('fk_answer_option_id_scale_option'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answer')),
    sa.UniqueConstraint('ballot_id', 'campaign_unit_id', 'item_id', name=op.f('uq_answer_ballot_id_campaign_unit_id_item_id'))
    )
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_ballot_id'), ['ballot_id'], unique=False)

    op.create_table('comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ballot_id', sa.Integer(), nullable=False),
    sa.Column('campaign_unit_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['ballot_id'], ['ballot.id'], name=op.f('fk_comment_ballot_id_ballot'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_unit_id'], ['campaign_unit.id'], name=op.f('fk_comment_campaign_unit_id_campaign_unit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comment')),
    sa.UniqueConstraint('ballot_id', 'campaign_unit_id', name=op.f('uq_comment_ballot_id_campaign_unit_id'))
    )
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_ballot_id'), ['ballot_id'], unique=False)



def downgrade():
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comment_ballot_id'))

    op.drop_table('comment')
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_ballot_id'))

    op.drop_table('answer')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ballot_batch_id'))

    op.drop_table('ballot')
    op.drop_table('veto')
    op.drop_table('objective_score')
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitation_batch_id'))

    op.drop_table('invitation')
    op.drop_table('margin_target')
    op.drop_table('campaign_unit')
    op.drop_table('batch')
    op.drop_table('scale_option')
    op.drop_table('item')
    op.drop_table('evaluator')
    op.drop_table('campaign_group')
    op.drop_table('campaign_category')
    op.drop_table('unit')
    op.drop_table('evaluator_group')
    op.drop_table('category')
    op.drop_table('campaign')
