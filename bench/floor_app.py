"""The server bench/submit.py measures: the app of ``create_app()`` plus the
floor route, the least a server can do to take a ballot durably (one INSERT
of the whole posted form as one row, one commit), so that the bench compares
the real submission against it on the same server. Served with the settings
of ``survey.serving``:

    gunicorn -c python:survey.serving 'bench.floor_app:app'

Its table is outside the schema and the migrations; nothing of it is in the app."""
from __future__ import annotations

import json

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Column, Integer, MetaData, Table, Text

from survey import create_app, policy
from survey.extensions import db

bp = Blueprint("bench_floor", __name__)

floor_table = Table("bench_floor", MetaData(), Column("id", Integer, primary_key=True),
                    Column("body", Text, nullable=False))


@bp.post("/bench/floor")
def floor() -> ResponseReturnValue:
    body = json.dumps(request.form.to_dict(flat=False), ensure_ascii=False)
    db.session.execute(floor_table.insert().values(body=body))
    db.session.commit()
    return jsonify(saved=True)


app = create_app()
app.register_blueprint(bp)
# Declared like every endpoint (survey/policy.py refuses undeclared ones): open, as the evaluator's POST is.
policy.POLICY["bench_floor.floor"] = policy.PUBLIC
with app.app_context():
    floor_table.create(db.engine, checkfirst=True)
