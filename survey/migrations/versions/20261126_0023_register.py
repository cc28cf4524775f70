"""the supervision register and departmental scores (issue #13)

- ``supervision_case`` (with ``case_attachment`` and, apart, ``complainant``),
  ``register_component`` and ``deduction_rule`` (a campaign's derived
  components), ``register_publication`` (the monthly 公示);
- ``campaign.period_start``/``period_end`` (the assessment period) and
  ``inputs_cutoff``;
- ``objective_score.raw``/``full_marks``/``evidence``/``assessed_on``;
- ``user_account.component`` and the roles ``handler`` and ``assessor`` (the
  role CHECK is replaced; SQLite rebuilds the table).

Revision ID: 20261126_0023
Revises: 20261126_0027
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = '20261126_0023'
down_revision = "20261126_0027"
branch_labels = None
depends_on = None


_OLD_ROLES = "role IN ('admin', 'organizer', 'committee', 'liaison', 'auditor', 'clerk')"
_NEW_ROLES = ("role IN ('admin', 'organizer', 'committee', 'liaison', 'auditor', 'clerk', 'handler', "
              "'assessor')")


def upgrade() -> None:
    op.create_table('register_component',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('base', sa.Float(), nullable=False),
    # a code's characters: GLOB on SQLite, a regular expression on PostgreSQL (base.code_checks)
    sa.CheckConstraint("code NOT GLOB '*[^A-Za-z0-9_-]*'" if op.get_bind().dialect.name == "sqlite"
                       else "code ~ '^[A-Za-z0-9_-]+$'", name=op.f('ck_register_component_code_chars')),
    sa.CheckConstraint('base > 0 AND base <= 100000', name=op.f('ck_register_component_base')),
    sa.CheckConstraint('length(code) BETWEEN 1 AND 64', name=op.f('ck_register_component_code_length')),
    sa.CheckConstraint('length(label) <= 200', name=op.f('ck_register_component_label_length')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_register_component_campaign_id_campaign'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_component')),
    sa.UniqueConstraint('campaign_id', 'code', name=op.f('uq_register_component_campaign_id_code'))
    )
    op.create_table('deduction_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('component_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Float(), nullable=False),
    sa.CheckConstraint("kind IN ('complaint', 'petition', 'hotline', 'e_supervision', 'inspection')", name=op.f('ck_deduction_rule_kind')),
    sa.CheckConstraint("verdict IN ('founded', 'partly', 'unfounded')", name=op.f('ck_deduction_rule_verdict')),
    sa.CheckConstraint('points >= 0 AND points <= 100000', name=op.f('ck_deduction_rule_points')),
    sa.ForeignKeyConstraint(['component_id'], ['register_component.id'], name=op.f('fk_deduction_rule_component_id_register_component'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deduction_rule')),
    sa.UniqueConstraint('component_id', 'kind', 'verdict', name=op.f('uq_deduction_rule_component_id_kind_verdict'))
    )
    op.create_table('register_publication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('length(month) = 7', name=op.f('ck_register_publication_month')),
    sa.ForeignKeyConstraint(['published_by_id'], ['user_account.id'], name=op.f('fk_register_publication_published_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_publication')),
    sa.UniqueConstraint('month', name=op.f('uq_register_publication_month'))
    )
    op.create_table('supervision_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('points', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reject_reason', sa.Text(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('assigned_at', sa.DateTime(), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('replied_at', sa.DateTime(), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('marked_red_at', sa.DateTime(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('rectification_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('complaint', 'petition', 'hotline', 'e_supervision', 'inspection')", name=op.f('ck_supervision_case_kind')),
    sa.CheckConstraint("status IN ('registered', 'accepted', 'rejected', 'assigned', 'replied', 'verified', 'closed')", name=op.f('ck_supervision_case_status')),
    sa.CheckConstraint("verdict IS NULL OR verdict IN ('founded', 'partly', 'unfounded')", name=op.f('ck_supervision_case_verdict')),
    sa.CheckConstraint('length(summary) <= 4000', name=op.f('ck_supervision_case_summary_length')),
    sa.CheckConstraint('points IS NULL OR (points >= 0 AND points <= 1000)', name=op.f('ck_supervision_case_points')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_supervision_case_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_supervision_case_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['rectification_id'], ['rectification.id'], name=op.f('fk_supervision_case_rectification_id_rectification'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_supervision_case_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_case'))
    )
    with op.batch_alter_table('supervision_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_case_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_case_code'), ['code'], unique=False)

    op.create_table('case_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('length(filename) <= 200', name=op.f('ck_case_attachment_filename_length')),
    sa.ForeignKeyConstraint(['case_id'], ['supervision_case.id'], name=op.f('fk_case_attachment_case_id_supervision_case'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_attachment'))
    )
    with op.batch_alter_table('case_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_attachment_case_id'), ['case_id'], unique=False)

    op.create_table('complainant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('contact', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['supervision_case.id'], name=op.f('fk_complainant_case_id_supervision_case'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complainant')),
    sa.UniqueConstraint('case_id', name=op.f('uq_complainant_case_id'))
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    # The campaign table is not rebuilt (plain ADD COLUMN): a SQLite rebuild turns the column CHECKs of
    # earlier revisions into table CHECKs, and their downgrades could then no longer drop them. On
    # SQLite the period's CHECK goes with period_end's column, on PostgreSQL it is added after.
    period = "period_start IS NULL OR period_end IS NULL OR period_start <= period_end"
    op.add_column('campaign', sa.Column('period_start', sa.Date(), nullable=True))
    if sqlite:
        op.add_column('campaign', sa.Column('period_end', sa.Date(), sa.CheckConstraint(
            period, name=op.f("ck_campaign_period")), nullable=True))
    else:
        op.add_column('campaign', sa.Column('period_end', sa.Date(), nullable=True))
        op.create_check_constraint(op.f("ck_campaign_period"), "campaign", period)
    op.add_column('campaign', sa.Column('inputs_cutoff', sa.Date(), nullable=True))

    with op.batch_alter_table('objective_score', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('full_marks', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('evidence', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('assessed_on', sa.Date(), nullable=True))
        batch_op.create_check_constraint("full_marks", "full_marks IS NULL OR full_marks > 0")

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('component', sa.String(length=64), nullable=True))
        batch_op.drop_constraint(op.f("ck_user_account_role"), type_="check")
        batch_op.create_check_constraint("role", _NEW_ROLES)
        batch_op.create_check_constraint("assessor_component", "(role = 'assessor') = (component IS NOT NULL)")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")



def downgrade() -> None:
    op.execute("DELETE FROM user_account WHERE role IN ('handler', 'assessor')")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_account_assessor_component"), type_="check")
        batch_op.drop_constraint(op.f("ck_user_account_role"), type_="check")
        batch_op.create_check_constraint("role", _OLD_ROLES)
        batch_op.drop_column('component')

    with op.batch_alter_table('objective_score', schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_objective_score_full_marks"), type_="check")
        batch_op.drop_column('assessed_on')
        batch_op.drop_column('evidence')
        batch_op.drop_column('full_marks')
        batch_op.drop_column('raw')

    if not sqlite:
        op.drop_constraint(op.f("ck_campaign_period"), "campaign", type_="check")
    op.drop_column('campaign', 'inputs_cutoff')
    op.drop_column('campaign', 'period_end')  # on SQLite with its CHECK, which names period_start
    op.drop_column('campaign', 'period_start')
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")

    op.drop_table('complainant')
    with op.batch_alter_table('case_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_attachment_case_id'))

    op.drop_table('case_attachment')
    with op.batch_alter_table('supervision_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_case_code'))
        batch_op.drop_index(batch_op.f('ix_supervision_case_campaign_id'))

    op.drop_table('supervision_case')
    op.drop_table('register_publication')
    op.drop_table('deduction_rule')
    op.drop_table('register_component')
