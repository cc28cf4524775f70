"""The floor route of bench/submit.py: the least a server can do to take a
ballot durably (one INSERT of the whole form as one row, one commit), on the
same server, so that the bench can compare the real submission against it.
Registered only when PINGYI_BENCH_FLOOR=1; its table is outside the schema
and the migrations."""
from __future__ import annotations

import json

from flask import Blueprint, jsonify, request
from sqlalchemy import Column, Integer, MetaData, Table, Text

from survey.extensions import db

bp = Blueprint("bench_floor", __name__)

floor_table = Table("bench_floor", MetaData(), Column("id", Integer, primary_key=True),
                    Column("body", Text, nullable=False))


@bp.record_once
def _create_table(state) -> None:  # noqa: ANN001 (Flask's BlueprintSetupState)
    with state.app.app_context():
        floor_table.create(db.engine, checkfirst=True)


@bp.post("/bench/floor")
def floor():
    body = json.dumps(request.form.to_dict(flat=False), ensure_ascii=False)
    db.session.execute(floor_table.insert().values(body=body))
    db.session.commit()
    return jsonify(saved=True)
