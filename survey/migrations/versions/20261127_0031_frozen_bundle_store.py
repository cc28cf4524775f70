"""the frozen bundle store (issue #15): a final snapshot's bundle is kept as
gzip-compressed pieces in ``bundle_chunk`` (any size; backups carry it) and
counted in ``result_snapshot.bundle_chunks``; snapshots that hold their
bundle inline (``bundle_json``) stay as they are and are still read. The
final-has-bundle CHECK accepts either (SQLite rebuilds result_snapshot).

Revision ID: 20261127_0031
Revises: 20261127_0029
Create Date: 2026-11-27
"""
from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import op

revision = "20261127_0031"
down_revision = "20261127_0029"
branch_labels = None
depends_on = None

_OLD = "kind = 'cache' OR bundle_json IS NOT NULL"
_NEW = "kind = 'cache' OR bundle_json IS NOT NULL OR bundle_chunks IS NOT NULL"


def _foreign_keys(on: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def upgrade() -> None:
    op.create_table(
        "bundle_chunk",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_bundle_chunk_campaign_id_campaign"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "bundle_sha256", "seq", name=op.f("pk_bundle_chunk")),
    )
    _foreign_keys(False)
    with op.batch_alter_table("result_snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bundle_chunks", sa.Integer(), nullable=True))
        batch_op.drop_constraint(op.f("ck_result_snapshot_final_has_bundle"), type_="check")
        batch_op.create_check_constraint("final_has_bundle", _NEW)
    _foreign_keys(True)


def downgrade() -> None:
    """The frozen pieces are put back inline (a bundle that large cannot go back: it stays refused)."""
    bind = op.get_bind()
    for snap_id, campaign_id, sha in bind.execute(sa.text(
            "SELECT id, campaign_id, bundle_sha256 FROM result_snapshot WHERE bundle_chunks IS NOT NULL")).all():
        inflate = zlib.decompressobj(31)
        parts = [inflate.decompress(bytes(data)) for (data,) in bind.execute(sa.text(
            "SELECT data FROM bundle_chunk WHERE campaign_id = :c AND bundle_sha256 = :s ORDER BY seq"),
            {"c": campaign_id, "s": sha})]
        parts.append(inflate.flush())
        bind.execute(sa.text("UPDATE result_snapshot SET bundle_json = :t WHERE id = :i"),
                     {"t": b"".join(parts).decode("utf-8"), "i": snap_id})
    _foreign_keys(False)
    with op.batch_alter_table("result_snapshot", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_result_snapshot_final_has_bundle"), type_="check")
        batch_op.create_check_constraint("final_has_bundle", _OLD)
        batch_op.drop_column("bundle_chunks")
    _foreign_keys(True)
    op.drop_table("bundle_chunk")
