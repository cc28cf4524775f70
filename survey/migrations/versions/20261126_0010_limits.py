"""limits: the application's limits (survey/bundles.py LIMITS) as CHECK constraints

Lengths (SQLite enforces no String(n): ``length(col) <= n``), numeric ranges,
years within 2000-2100 and the characters of codes. A code's characters
(letters, digits, - and _) need a pattern, which the two databases spell
differently: SQLite has GLOB (``code NOT GLOB '*[^A-Za-z0-9_-]*'``) and
PostgreSQL has no GLOB but a regular expression (``code ~ '^[A-Za-z0-9_-]+$'``);
so each dialect gets its own CHECK of the same name (the models use
``CheckConstraint(...).ddl_if(dialect=...)``), rather than a portable
approximation such as ``code NOT LIKE '%/%'`` that lets most bad codes in.

Existing rows are never altered: before adding anything the upgrade counts
the rows that break each new constraint, and if there are any it stops with
a message naming the table, the constraint and the count (fix or delete
those rows, then upgrade again). On SQLite, batch mode rebuilds each table;
foreign keys are switched off for the rebuild so that dropping the old copy
of a table cannot cascade to the rows that refer to it.

Revision ID: 20261126_0010
Revises: 20261126_0009
Create Date: 2026-11-26
"""
from alembic import op
from sqlalchemy import text

revision = "20261126_0010"
down_revision = "20261126_0009"
branch_labels = None
depends_on = None

#: (table, constraint name before the naming convention, condition, dialect or None for both).
CHECKS = [
    ('campaign', 'code_length', 'length(code) BETWEEN 1 AND 64', None),
    ('campaign', 'code_chars', "code NOT GLOB '*[^A-Za-z0-9_-]*'", 'sqlite'),
    ('campaign', 'code_chars', "code ~ '^[A-Za-z0-9_-]+$'", 'postgresql'),
    ('campaign', 'name_length', 'length(name) <= 200', None),
    ('campaign', 'year', 'year BETWEEN 2000 AND 2100', None),
    ('campaign', 'opens_at_year', "opens_at IS NULL OR (opens_at >= '2000-01-01' AND opens_at < '2101-01-01')", None),
    ('campaign', 'closes_at_year', "closes_at IS NULL OR (closes_at >= '2000-01-01' AND closes_at < '2101-01-01')", None),
    ('category', 'code_length', 'length(code) BETWEEN 1 AND 64', None),
    ('category', 'code_chars', "code NOT GLOB '*[^A-Za-z0-9_-]*'", 'sqlite'),
    ('category', 'code_chars', "code ~ '^[A-Za-z0-9_-]+$'", 'postgresql'),
    ('category', 'label_length', 'length(label) <= 200', None),
    ('unit', 'code_length', 'length(code) BETWEEN 1 AND 64', None),
    ('unit', 'code_chars', "code NOT GLOB '*[^A-Za-z0-9_-]*'", 'sqlite'),
    ('unit', 'code_chars', "code ~ '^[A-Za-z0-9_-]+$'", 'postgresql'),
    ('unit', 'name_length', 'length(name) <= 200', None),
    ('evaluator_group', 'code_length', 'length(code) BETWEEN 1 AND 64', None),
    ('evaluator_group', 'code_chars', "code NOT GLOB '*[^A-Za-z0-9_-]*'", 'sqlite'),
    ('evaluator_group', 'code_chars', "code ~ '^[A-Za-z0-9_-]+$'", 'postgresql'),
    ('evaluator_group', 'label_length', 'length(label) <= 200', None),
    ('scale_option', 'code_length', 'length(code) BETWEEN 1 AND 32', None),
    ('scale_option', 'code_chars', "code NOT GLOB '*[^A-Za-z0-9_-]*'", 'sqlite'),
    ('scale_option', 'code_chars', "code ~ '^[A-Za-z0-9_-]+$'", 'postgresql'),
    ('scale_option', 'label_length', 'length(label) <= 100', None),
    ('item', 'code_length', 'length(code) BETWEEN 1 AND 64', None),
    ('item', 'code_chars', "code NOT GLOB '*[^A-Za-z0-9_-]*'", 'sqlite'),
    ('item', 'code_chars', "code ~ '^[A-Za-z0-9_-]+$'", 'postgresql'),
    ('item', 'label_length', 'length(label) <= 200', None),
    ('item', 'weight_max', 'weight <= 1000', None),
    ('campaign_category', 'label_length', 'length(label) <= 200', None),
    ('campaign_unit', 'name_length', 'length(name) <= 200', None),
    ('campaign_group', 'label_length', 'length(label) <= 200', None),
    ('campaign_group', 'weight_max', 'weight <= 1000', None),
    ('campaign_group', 'quota_max', 'quota IS NULL OR quota <= 10000000', None),
    ('margin_target', 'variable_length', 'length(variable) <= 64', None),
    ('margin_target', 'category_length', 'length(category) <= 200', None),
    ('margin_target', 'proportion_max', 'proportion <= 1', None),
    ('objective_score', 'component_length', 'length(component) <= 64', None),
    ('veto', 'reason_length', 'length(reason) <= 2000', None),
    ('veto', 'evidence_length', 'evidence IS NULL OR length(evidence) <= 2000', None),
    ('batch', 'code_length', 'length(code) BETWEEN 1 AND 64', None),
    ('batch', 'code_chars', "code NOT GLOB '*[^A-Za-z0-9_-]*'", 'sqlite'),
    ('batch', 'code_chars', "code ~ '^[A-Za-z0-9_-]+$'", 'postgresql'),
    ('batch', 'issued_max', 'issued IS NULL OR issued <= 10000000', None),
    ('batch', 'opens_at_year', "opens_at IS NULL OR (opens_at >= '2000-01-01' AND opens_at < '2101-01-01')", None),
    ('batch', 'closes_at_year', "closes_at IS NULL OR (closes_at >= '2000-01-01' AND closes_at < '2101-01-01')", None),
    ('ballot', 'public_id_length', 'length(public_id) BETWEEN 1 AND 64', None),
    ('ballot', 'source_length', 'source IS NULL OR length(source) <= 64', None),
    ('ballot', 'submitted_at_year', "submitted_at >= '2000-01-01' AND submitted_at < '2101-01-01'", None),
    ('comment', 'text_length', 'length(text) <= 2000', None),
]


def _checks(dialect: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for table, name, condition, only in CHECKS:
        if only is None or only == dialect:
            out.setdefault(table, []).append((name, condition))
    return out


def upgrade() -> None:
    bind = op.get_bind()
    checks = _checks(bind.dialect.name)
    broken = []
    for table, constraints in checks.items():
        for name, condition in constraints:
            n = bind.execute(text(f"SELECT count(*) FROM {table} WHERE NOT ({condition})")).scalar()
            if n:
                broken.append(f"  {table}: {n} row(s) break ck_{table}_{name} ({condition})")
    if broken:
        raise RuntimeError("现有数据不符合新的约束，升级已停止，未修改任何数据 "
                           "(existing rows break the new constraints; nothing was changed, "
                           "fix or delete them and upgrade again):\n" + "\n".join(broken))
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    for table, constraints in checks.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, condition in constraints:
                batch_op.create_check_constraint(name, condition)
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    for table, constraints in _checks(bind.dialect.name).items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _ in constraints:
                batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
