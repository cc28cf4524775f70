"""Batches by channel: invitations made with their tokens in one go,
``issued`` recorded, the channel rules, and who may open each page."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from survey.distribution import services
from survey.extensions import db
from survey.models import Batch, Invitation
from tests.factories import login, make_user
from tests.survey.test_distribution_support import setup_campaign


def test_email_batch_creates_one_invitation_per_person(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=4)
        group = campaign.groups[0]
        people = services.eligible_evaluators(campaign, group, "email")
        assert len(people) == 4
        batch = services.create_batch(campaign, group, "email", evaluators=[p.id for p in people])
        db.session.commit()
        assert (batch.code, batch.channel, batch.issued) == ("email1", "email", 4)
        rows = db.session.scalars(select(Invitation).where(Invitation.batch_id == batch.id)).all()
        assert sorted(r.evaluator_id for r in rows) == sorted(p.id for p in people)
        for r in rows:
            # Only the hash identifies the link; the clear token waits for delivery.
            assert r.token_hash == hashlib.sha256(r.pending_token.encode()).digest()
            assert (r.delivery, r.pending_kind, r.used, r.serial) == ("queued", "invite", False, None)
        assert services.eligible_evaluators(campaign, group, "email") == []
        with pytest.raises(services.DistributionError, match="不能加入本批次"):
            services.create_batch(campaign, group, "sms", evaluators=[people[0].id])


def test_paper_batches_anonymous_and_named(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=2)
        group = campaign.groups[0]
        batch = services.create_batch(campaign, group, "paper", count=12, code="P1")
        db.session.commit()
        serials = db.session.scalars(select(Invitation.serial).where(Invitation.batch_id == batch.id)
                                     .order_by(Invitation.id)).all()
        assert batch.issued == 12 and serials[0] == "P1-0001" and serials[-1] == "P1-0012"
        assert db.session.scalar(select(func.count()).where(Invitation.batch_id == batch.id,
                                                            Invitation.evaluator_id.is_not(None))) == 0
        ids = [e.id for e in services.eligible_evaluators(campaign, group, "paper")]
        with pytest.raises(services.DistributionError, match="匿名评议的纸质表只能按份数"):
            services.create_batch(campaign, group, "paper", evaluators=ids)
        named = setup_campaign(code="n2026", anonymous=False, evaluators=2)
        g = named.groups[0]
        ids = [e.id for e in services.eligible_evaluators(named, g, "paper")]
        nb = services.create_batch(named, g, "paper", evaluators=ids)
        assert nb.issued == 2
        assert db.session.scalar(select(func.count()).where(Invitation.batch_id == nb.id,
                                                            Invitation.evaluator_id.in_(ids))) == 2


@pytest.mark.parametrize("channel, kwargs, message", [
    ("paper", {}, "请填写纸质表的份数"),
    ("email", {"count": 5}, "按名单发放"),
    ("public", {"count": 5}, "不预先发放"),
    ("fax", {}, "未知的发放渠道"),
])
def test_channel_rules(app, channel, kwargs, message) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0)
        with pytest.raises(services.DistributionError, match=message):
            services.create_batch(campaign, campaign.groups[0], channel, **kwargs)


def test_closed_campaign_and_taken_codes_refused(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(status="closed", evaluators=0)
        with pytest.raises(services.DistributionError, match="已截止"):
            services.create_batch(campaign, campaign.groups[0], "paper", count=1)
        campaign.status = "open"
        with pytest.raises(services.DistributionError, match="已被使用"):
            services.create_batch(campaign, campaign.groups[0], "paper", count=1, code="e1")


def test_open_batches_have_a_public_code_and_no_invitations(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0)
        batch = services.create_batch(campaign, campaign.groups[1], "qr")
        db.session.commit()
        assert batch.issued is None and len(batch.public_code) >= 8
        assert services.open_batch_by_public_code(batch.public_code).id == batch.id
        assert db.session.scalar(select(func.count()).where(Invitation.batch_id == batch.id)) == 0


def test_organizer_creates_batches_on_the_page(app, client) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=3)
        group_id = campaign.groups[0].id
        make_user("organizer")
    login(client, "organizer")
    page = client.get("/distribution/t2026/batches")
    assert page.status_code == 200 and "新建批次" in page.get_data(as_text=True)
    done = client.post("/distribution/t2026/batches", data={"group": group_id, "channel": "email"})
    assert done.status_code == 302 and done.location.endswith("/distribution/t2026/batches/email1")
    refused = client.post("/distribution/t2026/batches", data={"group": group_id, "channel": "paper"})
    assert refused.status_code == 422 and "请填写纸质表的份数" in refused.get_data(as_text=True)
    paper = client.post("/distribution/t2026/batches", data={"group": group_id, "channel": "paper",
                                                             "count": "5", "named": "count"})
    assert paper.status_code == 302
    with app.app_context():
        issued = dict(db.session.execute(select(Batch.code, Batch.issued)).all())
    assert issued["email1"] == 3 and issued["paper1"] == 5
    detail = client.get("/distribution/t2026/batches/paper1").get_data(as_text=True)
    assert 'data-testid="issued">5<' in detail and "打印评议表" in detail


PAGES = [
    ("get", "/distribution/"),
    ("get", "/distribution/t2026/batches"),
    ("post", "/distribution/t2026/batches"),
    ("get", "/distribution/t2026/batches/e1"),
    ("post", "/distribution/t2026/batches/e1/send"),
    ("post", "/distribution/t2026/batches/e1/retry"),
    ("post", "/distribution/t2026/batches/e1/remind"),
    ("post", "/distribution/t2026/batches/e1/printed"),
    ("post", "/distribution/t2026/batches/e1/issued"),
    ("get", "/distribution/t2026/batches/paper1/print"),
    ("get", "/distribution/t2026/batches/p1x/poster"),
    ("get", "/distribution/t2026/paper"),
    ("post", "/distribution/t2026/paper"),
    ("get", "/distribution/t2026/paper/conflicts"),
    ("post", "/distribution/t2026/paper/conflicts"),
    ("get", "/distribution/t2026/flags"),
    ("get", "/distribution/jobs/1"),
]


@pytest.mark.parametrize("method, url", PAGES)
def test_every_page_is_for_organizers(app, client, method, url) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0)
        services.create_batch(campaign, campaign.groups[1], "paper", count=1)
        services.create_batch(campaign, campaign.groups[1], "qr", code="p1x")
        db.session.commit()
        for role in ("committee", "auditor", "admin"):
            make_user(role)
    anonymous = getattr(client, method)(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    for role in ("committee", "auditor"):
        login(client, role)
        assert getattr(client, method)(url).status_code == 403, role
        client.post("/logout")
    login(client, "admin")  # the admin reads every staff page, and acts on none but accounts (survey/policy.py)
    response = getattr(client, method)(url)
    if method == "get":
        assert response.status_code != 403 and "/login" not in (response.location or "")
    else:
        assert response.status_code == 403


def test_open_batches_from_elsewhere_get_a_public_code_too(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0)  # a bundle import: e1 (e-mail), p1 (public)
        codes = {b.code: b.public_code for b in campaign.batches}
        assert codes["e1"] is None and len(codes["p1"]) >= 8


def test_a_paper_batch_prints_at_most_the_groups_quota_or_the_system_limit(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0)
        group = campaign.groups[0]
        app.config["PINGYI_MAX_BATCH_FORMS"] = 50
        with pytest.raises(services.DistributionError, match="最多 50 份"):
            services.create_batch(campaign, group, "paper", count=51)
        group.quota = 20
        with pytest.raises(services.DistributionError, match="最多 20 份.*名额"):
            services.create_batch(campaign, group, "paper", count=21)
        assert services.create_batch(campaign, group, "paper", count=20, code="p20").issued == 20
