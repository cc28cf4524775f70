"""Fixtures of the API's tests: a campaign with known results (the
committee's, tests/survey/test_results_support.py) and a key for each role."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.apikit import ROLES, key_for
from tests.survey.test_results_support import make_committee_campaign


@pytest.fixture
def role_keys(app: Any) -> dict[str, str]:
    """Campaign t2026 (closed: results computed, not finalized) and a key per role."""
    with app.app_context():
        make_committee_campaign()
        return {role: key_for(role) for role in ROLES}
