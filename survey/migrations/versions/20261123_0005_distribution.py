"""distribution: delivery state of invitations, public codes of open batches,
persisted jobs, double entry of paper forms

Revision ID: 20261123_0005
Revises: 20261123_0001
Create Date: 2026-11-23

"""
import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261123_0005'
down_revision = '20261123_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_code', sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_batch_public_code'), ['public_code'])
    # Open batches made before this revision get their public address too.
    batch = sa.table('batch', sa.column('id', sa.Integer), sa.column('issued', sa.Integer),
                     sa.column('public_code', sa.String))
    connection = op.get_bind()
    for (batch_id,) in connection.execute(sa.select(batch.c.id).where(batch.c.issued.is_(None))).all():
        connection.execute(batch.update().where(batch.c.id == batch_id)
                           .values(public_code=secrets.token_urlsafe(6)))

    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pending_kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('delivery', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('send_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('message_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('reminders', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(
            'delivery',
            "delivery IS NULL OR delivery IN ('queued', 'sending', 'sent', 'failed', 'printed')")
        batch_op.create_check_constraint(
            'pending_kind', "pending_kind IS NULL OR pending_kind IN ('invite', 'reminder')")

    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('error_text', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_job_state')),
    sa.CheckConstraint('done >= 0 AND (total IS NULL OR done <= total)', name=op.f('ck_job_progress')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job'))
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_state'), ['state'], unique=False)

    op.create_table('paper_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=False),
    sa.Column('entry_no', sa.Integer(), nullable=False),
    sa.Column('clerk_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('entry_no IN (1, 2)', name=op.f('ck_paper_entry_entry_no')),
    sa.ForeignKeyConstraint(['clerk_id'], ['user_account.id'], name=op.f('fk_paper_entry_clerk_id_user_account')),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitation.id'], name=op.f('fk_paper_entry_invitation_id_invitation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_entry')),
    sa.UniqueConstraint('invitation_id', 'clerk_id', name=op.f('uq_paper_entry_invitation_id_clerk_id')),
    sa.UniqueConstraint('invitation_id', 'entry_no', name=op.f('uq_paper_entry_invitation_id_entry_no'))
    )
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_entry_invitation_id'), ['invitation_id'], unique=False)


def downgrade():
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_entry_invitation_id'))
    op.drop_table('paper_entry')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_state'))
    op.drop_table('job')
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_invitation_pending_kind'), type_='check')
        batch_op.drop_constraint(op.f('ck_invitation_delivery'), type_='check')
        for column in ('reminders', 'message_id', 'sent_at', 'last_error', 'send_attempts',
                       'delivery', 'pending_kind', 'pending_token'):
            batch_op.drop_column(column)
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_batch_public_code'), type_='unique')
        batch_op.drop_column('public_code')
