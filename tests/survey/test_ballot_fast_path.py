"""The personal link's fast submission path (routes._submit_fast): it reads
the questionnaire as plain rows and keeps what it builds from them per
process, so these tests check that a campaign edit is seen by the very next
submission, and that every request the full form would treat differently
from a plain valid ballot gets the full form's answer."""
from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import delete, func, select

from survey.ballots import eligibility, questionnaire, submission
from survey.extensions import db
from survey.models import Ballot, BallotDraft, Campaign, CampaignUnit, GroupUnit, Invitation, ScaleOption
from tests.factories import make_campaign
from tests.survey.test_ballots import ballot_count, form_fields


def receipt_of(html: str) -> str:
    return re.search(r'data-testid="receipt">([^<]+)<', html).group(1)


def campaign_of(app: Flask) -> Campaign:
    return db.session.scalar(select(Campaign))


def test_unit_renamed_between_submissions_is_seen(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=2, items=1)[1]
    first = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    second = form_fields(client.get(f"/b/{tokens[1]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=first).status_code == 200
    with app.app_context():
        unit = db.session.scalar(select(CampaignUnit).order_by(CampaignUnit.position))
        unit.name = "市第一局（更名）"
        db.session.commit()
    # Leave the renamed unit unanswered: the message names it by its new name.
    del second[next(k for k in second if k.startswith("a_"))]
    refused = client.post(f"/b/{tokens[1]}", data=second)
    assert refused.status_code == 422
    assert "市第一局（更名）" in refused.get_data(as_text=True)


def test_units_a_group_rates_changed_between_submissions_are_seen(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=2, items=1)[1]
    first = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    second = form_fields(client.get(f"/b/{tokens[1]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=first).status_code == 200
    with app.app_context():
        campaign = campaign_of(app)
        batch = campaign.batches[0]
        kept = campaign.units[0]
        db.session.add(GroupUnit(campaign_group_id=batch.campaign_group_id, campaign_unit_id=kept.id))
        db.session.commit()
        kept_id = kept.id
    # The group now rates one unit: answers for the others are refused, not ignored.
    assert client.post(f"/b/{tokens[1]}", data=second).status_code == 422
    assert ballot_count(app) == 1
    only_kept = {k: v for k, v in second.items() if not re.match(r"[ac]_\d+", k) or
                 k.split("_")[1] == str(kept_id)}
    assert client.post(f"/b/{tokens[1]}", data=only_kept).status_code == 200
    with app.app_context():
        ballot = db.session.scalar(select(Ballot).order_by(Ballot.id.desc()))
        assert {a.campaign_unit_id for a in ballot.answers} == {kept_id}


def test_scale_changed_between_submissions_is_seen(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=2, items=1)[1]
    first = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    second = form_fields(client.get(f"/b/{tokens[1]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[0]}", data=first).status_code == 200
    chosen = {v for k, v in second.items() if k.startswith("a_")}
    with app.app_context():
        # The option every answer of the second form chose leaves the scale.
        db.session.execute(delete(ScaleOption).where(ScaleOption.id.in_([int(v) for v in chosen])))
        db.session.commit()
    refused = client.post(f"/b/{tokens[1]}", data=second)
    assert refused.status_code == 422
    assert ballot_count(app) == 1


def test_dissatisfied_cap_set_between_submissions_is_seen(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=2, items=1)[1]
        worst = questionnaire.dissatisfied_option(campaign_of(app)).id
    forms = [form_fields(client.get(f"/b/{t}").get_data(as_text=True)) for t in tokens]
    for fields in forms:
        for name in [k for k in fields if k.startswith("a_")]:
            fields[name] = str(worst)
        for name in [k for k in fields if k.startswith("a_")]:
            fields["c_" + name.split("_")[1]] = "理由"
    assert client.post(f"/b/{tokens[0]}", data=forms[0]).status_code == 200
    with app.app_context():
        campaign_of(app).max_dissatisfied_share_per_ballot = 0.5
        db.session.commit()
    refused = client.post(f"/b/{tokens[1]}", data=forms[1])
    assert refused.status_code == 422
    assert "每票最多" in refused.get_data(as_text=True)


def test_names_the_form_does_not_have_are_not_read_as_answers(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=1, items=1)[1]
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    name = next(k for k in fields if k.startswith("a_"))
    _, unit, item = name.split("_")
    # "a_01_2" is not the field "a_1_2": the answer is missing, as the form says.
    fields[f"a_0{unit}_{item}"] = fields.pop(name)
    answer = client.post(f"/b/{tokens[0]}", data=fields)
    assert answer.status_code == 422
    assert "请为“市第1局”的“总体评价”选择一项" in answer.get_data(as_text=True)
    assert ballot_count(app) == 0


def test_too_long_comment_and_unknown_action_take_the_full_path(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=1, items=1)[1]
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    unit = next(k for k in fields if k.startswith("a_")).split("_")[1]
    too_long = client.post(f"/b/{tokens[0]}", data={**fields, f"c_{unit}": "长" * 2001})
    assert too_long.status_code == 422
    assert "最多 2000 字" in too_long.get_data(as_text=True)
    assert client.post(f"/b/{tokens[0]}", data={**fields, "action": "vote"}).status_code == 422
    assert ballot_count(app) == 0


def test_thank_you_pages_show_each_receipt_and_pending_messages(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=3, items=1)[1]
    receipts = []
    for token in tokens[:2]:
        fields = form_fields(client.get(f"/b/{token}").get_data(as_text=True))
        done = client.post(f"/b/{token}", data=fields)
        assert done.status_code == 200
        receipts.append(receipt_of(done.get_data(as_text=True)))
        assert receipts[-1].replace("-", "") == fields["receipt"].replace("-", "").upper()
    assert receipts[0] != receipts[1]
    # A draft saved (a message flashed) and the ballot sent without reading the
    # page in between: the thank-you page shows the message.
    fields = form_fields(client.get(f"/b/{tokens[2]}").get_data(as_text=True))
    assert client.post(f"/b/{tokens[2]}", data={**fields, "action": "save"}).status_code == 303
    done = client.post(f"/b/{tokens[2]}", data=fields).get_data(as_text=True)
    assert "已保存" in done and receipt_of(done) != receipts[1]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BallotDraft)) == 0
        submission.flush_used()  # SQLite marks them later, several at once
        assert db.session.scalar(select(func.count()).where(Invitation.used.is_(True))) == 3
        # Anonymous campaign: no ballot names its invitation.
        assert db.session.scalar(select(func.count()).where(Ballot.invitation_id.is_not(None))) == 0


def test_csrf_is_checked_on_the_fast_path(app) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=1, items=1)[1]
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    assert fields["csrf_token"]
    assert client.post(f"/b/{tokens[0]}", data={**fields, "csrf_token": "forged"}).status_code == 400
    assert app.test_client().post(f"/b/{tokens[0]}", data=fields).status_code == 400
    assert ballot_count(app) == 0
    assert client.post(f"/b/{tokens[0]}", data=fields).status_code == 200
    assert ballot_count(app) == 1


def test_plain_valid_ballot_takes_the_fast_path(app, client, monkeypatch) -> None:
    """A complete, valid ballot never builds the questionnaire form (that is
    what makes it fast); everything above would pass through the full path too."""
    from survey.ballots import routes

    with app.app_context():
        tokens = make_campaign(invitations=1, items=2, own_unit="u1")[1]
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    fields[next(k for k in fields if k.startswith("a_")).replace("a_", "c_").rsplit("_", 1)[0]] = "好"

    def no_form(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the full path was taken")

    monkeypatch.setattr(routes, "questionnaire_class", no_form)
    done = client.post(f"/b/{tokens[0]}", data=fields)
    assert done.status_code == 200
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert len(ballot.answers) == len([k for k in fields if k.startswith("a_")])
        assert [c.text for c in ballot.comments] == ["好"]
        assert ballot.invitation_id is None


def test_review_and_draft_posts_skip_the_fast_path(app, client, monkeypatch) -> None:
    """Only a submission can be taken by the fast path: a review or a draft
    goes straight to the full form, without the fast path's reads first."""
    with app.app_context():
        tokens = make_campaign(invitations=1, items=1)[1]
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    calls: list[str] = []
    real = eligibility.find_link
    monkeypatch.setattr(eligibility, "find_link", lambda *a: calls.append("fast") or real(*a))
    for action in ("review", "save"):
        assert client.post(f"/b/{tokens[0]}", data={**fields, "action": action}).status_code in (200, 303)
    assert calls == [] and ballot_count(app) == 0
    assert client.post(f"/b/{tokens[0]}", data={**fields, "action": "submit"}).status_code == 200
    assert calls == ["fast"] and ballot_count(app) == 1
