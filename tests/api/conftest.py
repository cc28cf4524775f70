"""Fixtures of the API's tests: a campaign with known results (the
committee's, tests/survey/test_results_support.py) and a key for each role."""
from __future__ import annotations

from typing import Any

import pytest

from survey.api import keys
from survey.extensions import db
from tests.factories import make_user
from tests.survey.test_results_support import make_committee_campaign

ROLES = ("admin", "organizer", "committee", "liaison", "auditor")


def key_for(role: str, *, username: str | None = None, unit_code: str | None = None) -> str:
    """A new account of `role` (a liaison of unit u1 by default) and a key issued to it."""
    user = make_user(role, username=username, unit_code=unit_code or ("u1" if role == "liaison" else None))
    _row, key = keys.issue(user, f"{role} 测试密钥")
    db.session.commit()
    return key


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


@pytest.fixture
def role_keys(app: Any) -> dict[str, str]:
    """Campaign t2026 (closed: results computed, not finalized) and a key per role."""
    with app.app_context():
        make_committee_campaign()
        return {role: key_for(role) for role in ROLES}
