"""sending: a campaign's own message texts, reminder schedules per batch, links
replaced by a reminder, and jobs that wait for their time

`message_template` holds a campaign's wording of the invitation and reminder
per channel; `reminder_schedule` the batch page's "截止前N天, 每M天";
`replaced_link` the SHA-256 of a link a reminder replaced (so its holder is
told so, not just "链接无效"); `job.run_after` the time before which a job
is not claimed (the schedule's next reminder). `job.run_after` is added with
a plain ADD COLUMN (no table rebuild on SQLite).

Revision ID: 20261126_0018
Revises: 20261126_0017
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261126_0018'
down_revision = '20261126_0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('message_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f('ck_message_template_channel')),
    sa.CheckConstraint("kind IN ('invite', 'reminder')", name=op.f('ck_message_template_kind')),
    sa.CheckConstraint('length(body) BETWEEN 1 AND 4000', name=op.f('ck_message_template_body_length')),
    sa.CheckConstraint('subject IS NULL OR length(subject) <= 200', name=op.f('ck_message_template_subject_length')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_message_template_campaign_id_campaign'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_template')),
    sa.UniqueConstraint('campaign_id', 'kind', 'channel', name=op.f('uq_message_template_campaign_id_kind_channel'))
    )
    op.create_table('reminder_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('days_before', sa.Float(), nullable=False),
    sa.Column('every_days', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('days_before > 0 AND days_before <= 365', name=op.f('ck_reminder_schedule_days_before')),
    sa.CheckConstraint('every_days > 0 AND every_days <= 365', name=op.f('ck_reminder_schedule_every_days')),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_reminder_schedule_batch_id_batch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_schedule')),
    sa.UniqueConstraint('batch_id', name=op.f('uq_reminder_schedule_batch_id'))
    )
    op.create_table('replaced_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('replaced_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_replaced_link_batch_id_batch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replaced_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_replaced_link_token_hash'))
    )
    with op.batch_alter_table('replaced_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_replaced_link_batch_id'), ['batch_id'], unique=False)

    op.add_column('job', sa.Column('run_after', sa.DateTime(), nullable=True))



def downgrade():
    op.drop_column('job', 'run_after')

    with op.batch_alter_table('replaced_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replaced_link_batch_id'))

    op.drop_table('replaced_link')
    op.drop_table('reminder_schedule')
    op.drop_table('message_template')
