"""Schemathesis drives every operation of /api/v1/openapi.json inside the
test process (the Flask app as a WSGI app, the demo campaign's data, a key
of a role the operation admits: the admin's for reading, the organizer's for
writing, the auditor's for the audit log): the document's examples, then
generated valid and invalid requests. No answer is a server error, and
every answer conforms to the document (a declared status, body and headers
as its schema says, invalid input refused with a 4xx)."""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from survey import policy
from survey.bundles import import_bundle
from survey.demo import create_demo
from survey.extensions import db
from tests.api.apikit import bearer, key_for
from tests.factories import bundle

#: Generated requests per operation (the whole test stays well under a minute).
EXAMPLES = 12
#: Requests drawn from an operation's examples, sent first.
FROM_EXAMPLES = 2
#: The roles whose keys drive the operations: the first that the policy admits.
ROLES = ("admin", "organizer", "auditor", "committee")
#: Operations on what exists only once the results are final (consequences, 回头看, 先进):
#: driven last, after the demo campaign is finalized (``_finalize_demo``).
AFTER_FINALIZE = ("assign_consequence", "carry_out_consequence", "record_follow_up", "decide_honour")


def _finalize_demo() -> None:
    """Close and finalize the demo campaign 2026 with u01 满意 (so that it is a
    先进 candidate, the examples' unit), a 回头看 of u01 scheduled (id 1), and
    every 满意 unit a candidate."""
    import datetime as dt

    from sqlalchemy import select

    from survey.models import Campaign, User
    from survey.results import honours, queries, rectification, signoff

    campaign = db.session.scalar(select(Campaign).where(Campaign.code == "2026"))
    member = db.session.scalar(select(User).where(User.role == "committee"))
    campaign.state.close()
    u01 = queries.campaign_unit(campaign, "u01")
    signoff.override_class(campaign, u01, "satisfied", "schemathesis：先进候选", member)
    honours.save_rule(campaign, {"min_score": 0}, member)
    signoff.approve(campaign, member)
    signoff.finalize(campaign, dt.date(2026, 12, 1), member)
    rectification.schedule_follow_up(campaign, u01, dt.date(2027, 3, 1), "")
    db.session.commit()


@pytest.mark.slow
def test_every_operation_conforms_to_the_document(app: Any) -> None:
    with app.app_context():
        create_demo()  # campaign 2026 with units u01…: the document's examples
        # a closed 平时考核 round, the rounds' examples (w2027-01: its ranking, its publication)
        import_bundle(bundle("w2027-01", units=2, extensions={"round": {"date": "2027-03-31"}}), status="closed")
        db.session.commit()
        keys = {role: key_for(role) for role in ROLES}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The key is ours to send (never generated, so never "missing" in a negative case), and
    # query parameters the document does not name are ignored, as docs/api.md says: not negations.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    operations.sort(key=lambda op: AFTER_FINALIZE.index(op.definition.raw["operationId"])
                    if op.definition.raw["operationId"] in AFTER_FINALIZE else -1)
    answered: dict[str, set[int]] = {}

    finalized = False
    for operation in operations:
        if operation.definition.raw["operationId"] in AFTER_FINALIZE and not finalized:
            with app.app_context():
                _finalize_demo()
            finalized = True
        rule = policy.POLICY["api." + operation.definition.raw["operationId"]]
        key = keys[next(role for role in ROLES if rule.admits(role, operation.method.upper()))]
        # A write's valid body may still be refused by what no schema says (a group
        # unknown to the campaign, a phone number taken): a 400, not a 2xx.
        excluded = [positive_data_acceptance] if operation.method.upper() == "POST" else []
        examples = schema.get_strategies_from_examples(operation)
        answered[operation.label] = _drive(st.one_of(*examples), key, excluded, FROM_EXAMPLES) if examples else set()
        answered[operation.label] |= _drive(
            st.one_of(*(operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE))),
            key, excluded, EXAMPLES)
    # The examples reached real data: every operation answered 200 at least once.
    assert {label: 200 in codes for label, codes in answered.items()} == {label: True for label in answered}


def _drive(cases: st.SearchStrategy[Any], key: str, excluded: list[Any], count: int) -> set[int]:
    """Send `count` requests drawn from `cases`, checking each answer; the statuses seen."""
    statuses: set[int] = set()

    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case: Any) -> None:
        statuses.add(case.call_and_validate(headers=bearer(key), excluded_checks=excluded).status_code)

    check()
    return statuses
