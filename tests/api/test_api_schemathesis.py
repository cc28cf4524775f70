"""Schemathesis drives every operation of /api/v1/openapi.json inside the
test process (the Flask app as a WSGI app, the demo campaign's data, an
admin's key): the document's examples, then generated valid and invalid
requests. No answer is a server error, and every answer conforms to the
document (a declared status, body and headers as its schema says, invalid
input refused with a 4xx)."""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from survey.demo import create_demo
from survey.extensions import db
from tests.api.apikit import bearer, key_for

#: Generated requests per operation (the whole test stays well under a minute).
EXAMPLES = 15


@pytest.mark.slow
def test_every_operation_conforms_to_the_document(app: Any) -> None:
    with app.app_context():
        create_demo()  # campaign 2026 with units u01…: the document's examples
        db.session.commit()
        key = key_for("admin")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    answered: dict[str, set[int]] = {}

    for operation in operations:
        strategies = [*schema.get_strategies_from_examples(operation),
                      *(operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE))]
        answered[operation.label] = _drive(st.one_of(*strategies), key)
    # The examples reached real data: every operation answered 200 at least once.
    assert {label: 200 in codes for label, codes in answered.items()} == {label: True for label in answered}


def _drive(cases: st.SearchStrategy[Any], key: str) -> set[int]:
    """Send EXAMPLES requests drawn from `cases`, checking each answer; the statuses seen."""
    statuses: set[int] = set()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case: Any) -> None:
        statuses.add(case.call_and_validate(headers=bearer(key)).status_code)

    check()
    return statuses
