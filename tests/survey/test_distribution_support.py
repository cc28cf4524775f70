"""Helpers of the distribution tests: a campaign with a roster, and a check
that the SMTP test server (tests/smtp.py) works."""
from __future__ import annotations

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Campaign, Evaluator
from tests.factories import bundle


def setup_campaign(*, code: str = "t2026", anonymous: bool = True, status: str = "open",
                   evaluators: int = 3, units: int = 3, items: int = 1) -> Campaign:
    """A campaign (no invitations yet) with `evaluators` people on the roster of group 'client'."""
    campaign = import_bundle(bundle(code, anonymous=anonymous, units=units, items=items), status=status)
    group = campaign.groups[0]
    for k in range(evaluators):
        db.session.add(Evaluator(group_id=group.group_id, name=f"代表{k}", email=f"rep{k}@example.cn",
                                 phone=f"1390000{k:04d}", attributes={}, campaign_id=campaign.id))
    db.session.commit()
    return campaign


def test_smtp_sink_receives_a_message(smtp_server) -> None:
    import smtplib

    handler, port = smtp_server
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail("a@example.cn", ["b@example.cn"], "Subject: hi\r\n\r\nbody\r\n")
    assert [m.rcpt_tos for m in handler.messages] == [["b@example.cn"]]
