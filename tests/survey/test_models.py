"""Every invariant the database itself guards: unique codes per campaign, one
ballot per invitation, foreign keys, and the check constraints on weights,
points, statuses and channels. Each case inserts one bad row and expects the
database (not the application) to refuse it."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.exc import IntegrityError

from survey.clock import utcnow
from survey.extensions import db
from survey.models import (
    Ballot,
    Batch,
    Campaign,
    CampaignGroup,
    Invitation,
    Item,
    MarginTarget,
    ObjectiveScore,
    ScaleOption,
    Unit,
    User,
)
from survey.tokens import hash_token, new_token
from tests.factories import make_campaign


def _ballot(c: Campaign, **kw) -> Ballot:
    fields = dict(campaign_id=c.id, batch_id=c.batches[0].id, public_id="x1", position=None,
                  submitted_at=utcnow(), utc_offset_min=480)
    fields.update(kw)
    return Ballot(**fields)


def _invitation(c: Campaign, **kw) -> Invitation:
    fields = dict(campaign_id=c.id, batch_id=c.batches[0].id, token_hash=hash_token(new_token()))
    fields.update(kw)
    return Invitation(**fields)


BAD_ROWS: dict[str, Callable[[Campaign], list[object]]] = {
    "campaign code unique": lambda c: [Campaign(code=c.code, name="x", year=2026)],
    "campaign status": lambda c: [Campaign(code="z", name="x", year=2026, status="finished")],
    "campaign return target": lambda c: [Campaign(code="z", name="x", year=2026, return_target=1.5)],
    "unit code unique": lambda c: [Unit(code="u1", name="重复")],
    "item code unique per campaign": lambda c: [Item(campaign_id=c.id, position=9, code="i0", label="x")],
    "item weight positive": lambda c: [Item(campaign_id=c.id, position=9, code="i9", label="x", weight=0)],
    "option code unique per campaign": lambda c: [ScaleOption(campaign_id=c.id, position=9, code="S", label="x")],
    "option points within 0-100": lambda c: [ScaleOption(campaign_id=c.id, position=9, code="X", label="x",
                                                         points=120)],
    "group weight positive": lambda c: [CampaignGroup(campaign_id=c.id, group_id=c.groups[0].group_id,
                                                      position=9, label="x", weight=-1)],
    "group once per campaign": lambda c: [CampaignGroup(campaign_id=c.id, group_id=c.groups[0].group_id,
                                                        position=9, label="x", weight=1)],
    "margin proportion non-negative": lambda c: [MarginTarget(campaign_group_id=c.groups[0].id,
                                                              variable_position=0, variable="d", position=0,
                                                              category="东区", proportion=-0.1)],
    "batch code unique per campaign": lambda c: [Batch(campaign_id=c.id, campaign_group_id=c.groups[0].id,
                                                       position=9, code="e1", channel="email", issued=1)],
    "batch channel known": lambda c: [Batch(campaign_id=c.id, campaign_group_id=c.groups[0].id, position=9,
                                            code="z", channel="fax", issued=1)],
    "batch issued non-negative": lambda c: [Batch(campaign_id=c.id, campaign_group_id=c.groups[0].id,
                                                  position=9, code="z", channel="email", issued=-1)],
    "batch foreign key": lambda c: [Batch(campaign_id=c.id, campaign_group_id=99999, position=9, code="z",
                                          channel="email", issued=1)],
    "token hash unique": lambda c: [_invitation(c, token_hash=b"\x01" * 32),
                                    _invitation(c, token_hash=b"\x01" * 32)],
    "one invitation per evaluator and campaign": lambda c: [
        _invitation(c, evaluator_id=c._evaluator_id), _invitation(c, evaluator_id=c._evaluator_id)],
    "one ballot per invitation": lambda c: [_ballot(c, public_id="a", invitation_id=c._invitation_id),
                                            _ballot(c, public_id="b", invitation_id=c._invitation_id)],
    "ballot id unique per campaign": lambda c: [_ballot(c, public_id="a"), _ballot(c, public_id="a")],
    "ballot duration non-negative": lambda c: [_ballot(c, duration_s=-3)],
    "ballot batch foreign key": lambda c: [_ballot(c, batch_id=99999)],
    "objective score once per component": lambda c: [
        ObjectiveScore(campaign_unit_id=c.units[0].id, position=0, component="work", score=80),
        ObjectiveScore(campaign_unit_id=c.units[0].id, position=1, component="work", score=81)],
    "objective score within 0-100": lambda c: [
        ObjectiveScore(campaign_unit_id=c.units[0].id, position=0, component="work", score=101)],
    "user role known": lambda c: [User(username="z", display_name="z", password_hash="x", role="boss")],
    "liaison needs a unit": lambda c: [User(username="z", display_name="z", password_hash="x", role="liaison")],
    "only liaisons have a unit": lambda c: [User(username="z", display_name="z", password_hash="x",
                                                 role="organizer", unit_id=c.units[0].unit_id)],
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_database_refuses(ctx, case: str) -> None:
    campaign, _ = make_campaign(invitations=1)
    invitation = db.session.scalar(db.select(Invitation))
    campaign._evaluator_id = invitation.evaluator_id  # type: ignore[attr-defined]
    campaign._invitation_id = invitation.id  # type: ignore[attr-defined]
    rows = BAD_ROWS[case](campaign)
    with pytest.raises(IntegrityError):
        db.session.add_all(rows)
        db.session.flush()
    db.session.rollback()


def test_good_rows_are_accepted(ctx) -> None:
    """The same shapes with valid values go in, so the refusals above are the constraints'."""
    campaign, _ = make_campaign(invitations=1)
    invitation = db.session.scalar(db.select(Invitation))
    db.session.add_all([
        Item(campaign_id=campaign.id, position=9, code="i9", label="x", weight=0.5),
        ScaleOption(campaign_id=campaign.id, position=9, code="X", label="x", points=None),
        _ballot(campaign, public_id="a", invitation_id=invitation.id, duration_s=0),
        _ballot(campaign, public_id="b"),
        ObjectiveScore(campaign_unit_id=campaign.units[0].id, position=0, component="work", score=100),
        User(username="l", display_name="l", password_hash="x", role="liaison",
             unit_id=campaign.units[0].unit_id),
    ])
    db.session.commit()
