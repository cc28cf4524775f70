"""Campaign lookups the staff pages share (the return figures live in board.py)."""
from __future__ import annotations

from sqlalchemy import select

from survey.extensions import db
from survey.models import Campaign


def all_campaigns() -> list[Campaign]:
    return list(db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.code)))
