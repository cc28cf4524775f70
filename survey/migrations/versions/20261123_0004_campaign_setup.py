"""campaign setup: which units each group rates; evaluators linked to the campaign whose roster brought them

Revision ID: 20261123_0004
Revises: 20261123_0001
Create Date: 2026-11-23

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261123_0004'
down_revision = '20261123_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('campaign_group_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_group_id', sa.Integer(), nullable=False),
    sa.Column('campaign_unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_group_id'], ['campaign_group.id'], name=op.f('fk_campaign_group_unit_campaign_group_id_campaign_group'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_unit_id'], ['campaign_unit.id'], name=op.f('fk_campaign_group_unit_campaign_unit_id_campaign_unit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_group_unit')),
    sa.UniqueConstraint('campaign_group_id', 'campaign_unit_id', name=op.f('uq_campaign_group_unit_campaign_group_id_campaign_unit_id'))
    )
    with op.batch_alter_table('campaign_group_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_group_unit_campaign_group_id'), ['campaign_group_id'], unique=False)

    with op.batch_alter_table('evaluator', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_evaluator_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_evaluator_campaign_id_campaign'), 'campaign', ['campaign_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('evaluator', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evaluator_campaign_id_campaign'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_evaluator_campaign_id'))
        batch_op.drop_column('campaign_id')

    with op.batch_alter_table('campaign_group_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_group_unit_campaign_group_id'))

    op.drop_table('campaign_group_unit')
