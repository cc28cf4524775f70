"""The public page (公示) and the committee's options for it (issue #12,
"Results out"): scores and ranks or classes only, the issuing office, a
contact, the appeal deadline and how to appeal; printable (print.css); all
text escaped. (Publication and its period: test_outcome.py.)"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select

from survey.clock import today
from survey.errors import Forbidden
from survey.extensions import db
from survey.models import AuditEntry, User
from survey.results import ResultsError, publication, queries, snapshots
from survey.results.queries import unit_result
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign

pytestmark = pytest.mark.db

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'

#: The rest of the settings form, as its defaults.
SETTINGS = {"min_group_ballots": "5", "self_examination_days": "15", "self_examination": "y",
            "criticism_notice": "y", "media_list": "y", "bonus_linkage": "y", "leader_handling": "诫勉谈话",
            "escalate_bottom_two_years": "y", "public_detail": "classes"}


def _settings(client: Any, code: str, **values: str) -> str:
    response = client.post(f"/results/{code}/settings", data={**SETTINGS, **values}, follow_redirects=True)
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def _published(client: Any, *, before_finalizing: Any = None, **options: str) -> Any:
    """A published campaign (public period around today) with the committee signed in
    and the public page's options set through the settings form."""
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    if before_finalizing is not None:
        before_finalizing(campaign)
    client.post(f"/results/{campaign.code}/approve")
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    assert campaign.state.is_finalized
    if options:
        _settings(client, campaign.code, **options)
    day = today()
    client.post(f"/results/{campaign.code}/publish", data={
        "public": "y", "public_from": (day - dt.timedelta(days=1)).isoformat(),
        "public_until": (day + dt.timedelta(days=6)).isoformat(), "confirmed": "1"})
    assert campaign.state.is_published
    return campaign


def _public(client: Any, code: str) -> str:
    client.post("/logout")  # what anybody sees
    response = client.get(f"/public/{code}")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def _units_in_order(page: str) -> list[str]:
    return re.findall(r'data-unit="(\w+)"', page)


def test_classes_only_by_default_hides_scores_and_ranks(client, app, ctx):
    campaign = _published(client)
    results = snapshots.results_for(campaign)
    page = _public(client, campaign.code)
    assert 'data-detail="classes"' in page and 'data-detail="scores"' not in page
    assert "名次" not in page and "综合得分" not in page and 'data-testid="rank-' not in page
    for code in ("u1", "u2", "u3"):
        r = unit_result(results, code)
        assert f"{r['score']:.2f}" not in page and f"{r['score']:.1f}" not in page
        assert f'data-unit="{code}"' in page
    assert "不满意" in page and "基本满意" in page
    # the public page offers no JSON (nor a link to the committee's results JSON)
    assert ".json" not in page and "application/json" not in page
    # the issuing office: the PINGYI_OFFICE_NAME setting; the appeal deadline: the end of the period
    office = app.config["PINGYI_OFFICE_NAME"]
    assert f'<span data-testid="office">{office}</span>' in page
    until = queries.settings_for(campaign).public_until
    assert f'<strong data-testid="appeal-until">{until.isoformat()}</strong>' in page
    assert "由本单位联络员登录本系统提出申诉" in page and 'data-testid="contact"' not in page


def test_scores_and_ranks_when_the_committee_chooses_them(client, ctx):
    campaign = _published(client, public_detail="scores")
    assert queries.settings_for(campaign).public_scores is True
    results = snapshots.results_for(campaign)
    page = _public(client, campaign.code)
    assert 'data-detail="scores"' in page and "名次" in page and "综合得分" in page
    for code in ("u1", "u2", "u3"):
        r = unit_result(results, code)
        assert f'data-testid="score-{code}">{r["score"]:.2f}</td>' in page
        assert f'data-testid="rank-{code}">{r["rank"]}</td>' in page
    # and back to classes only: the figures go again
    login(client, "committee")
    _settings(client, campaign.code, public_detail="classes")
    page = _public(client, campaign.code)
    assert 'data-testid="score-' not in page and 'data-testid="rank-' not in page and "综合得分" not in page


def test_with_classes_only_the_order_does_not_tell_the_ranks(client, ctx):
    """Category law: u1 (ranked 1st) and u3 (2nd), both 满意 after the
    committee's override, u3 placed first in the campaign's order of units."""

    def arrange(campaign: Any) -> None:
        units = {cu.code: cu for cu in campaign.units}
        units["u3"].position, units["u1"].position = units["u1"].position - 1, units["u1"].position
        db.session.commit()
        client.post(f"/results/{campaign.code}/override",
                    data={"unit": "u3", "new_class": "satisfied", "reason": "整改成效显著"})

    campaign = _published(client, before_finalizing=arrange)
    results = snapshots.results_for(campaign)
    assert unit_result(results, "u1")["rank"] < unit_result(results, "u3")["rank"]
    page = _public(client, campaign.code)
    assert _units_in_order(page)[:2] == ["u3", "u1"]  # by class, then the campaign's order
    login(client, "committee")
    _settings(client, campaign.code, public_detail="scores")
    assert _units_in_order(_public(client, campaign.code))[:2] == ["u1", "u3"]  # ranked


def test_office_contact_and_appeal_options_appear_escaped(client, ctx):
    office = "市纪委监委" + SCRIPT
    contact = "电话：0755-12345678\n电子邮箱：pingyi@example.gov.cn" + IMG
    how = "请于截止日期前将书面申诉材料寄送至市评议办。" + SCRIPT
    until = today() + dt.timedelta(days=10)
    campaign = _published(client, public_office=office, public_contact=contact, appeal_until=until.isoformat(),
                          appeal_how=how)
    page = _public(client, campaign.code)
    assert SCRIPT not in page and "<img src=x" not in page
    assert f'<span data-testid="office">{escape(office)}</span>' in page
    assert f'data-testid="contact">{escape(contact)}</p>' in page  # line breaks kept (white-space: pre-line)
    assert f'data-testid="appeal-how">{escape(how)}</p>' in page
    assert f'<strong data-testid="appeal-until">{until.isoformat()}</strong>' in page
    assert "由本单位联络员登录本系统提出申诉" not in page  # the committee's text instead of the default
    assert page.count(str(escape(office))) == 2  # the issuer line and the signature
    # once the period has ended the contact is still there; the results and the appeal are not
    settings = queries.settings_for(campaign)
    settings.public_from, settings.public_until = today() - dt.timedelta(days=9), today() - dt.timedelta(days=2)
    db.session.commit()
    page = _public(client, campaign.code)
    assert 'data-testid="ended"' in page and str(escape(contact)) in page
    assert 'data-testid="appeal"' not in page and "data-unit=" not in page
    # the committee's page and the settings form show them escaped too
    login(client, "committee")
    for url in (f"/results/{campaign.code}/settings", f"/results/{campaign.code}"):
        text = client.get(url).get_data(as_text=True)
        assert SCRIPT not in text and "<img src=x" not in text
    assert str(escape(office)) in client.get(f"/results/{campaign.code}/settings").get_data(as_text=True)


def test_the_page_is_printable(client, ctx):
    campaign = _published(client)
    page = _public(client, campaign.code)
    assert re.search(r'<link rel="stylesheet" href="/static/print\.css" media="print">', page)
    assert '<nav class="staff">' not in page
    with client.get("/static/print.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        text = css.get_data(as_text=True)
    assert "@page { size: A4" in text
    assert re.search(r"header\.site, nav[^{]*\{ display: none", text)
    assert re.search(r"section\.category \{ break-inside: avoid", text)  # a category's table on one page if it fits
    assert "thead { display: table-header-group; }" in text  # else its header on every page
    assert re.search(r"tr, td, th \{ break-inside: avoid", text)  # and no row cut in two


def test_bad_options_are_refused_with_nothing_saved(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    settings = queries.settings_for(campaign)
    settings.public_from = dt.date(2026, 12, 10)
    db.session.commit()
    page = _settings(client, campaign.code, min_group_ballots="7", appeal_until="2026-12-01",
                     public_contact="电话 12345")
    assert "申诉截止日期（2026-12-01）不能早于公示开始日期（2026-12-10）" in page
    page = _settings(client, campaign.code, min_group_ballots="7", public_office="办" * 201)
    assert "发布单位" in page and "最多 200 个字" in page
    db.session.expire_all()
    settings = queries.settings_for(campaign)
    assert (settings.min_group_ballots, settings.appeal_until, settings.public_contact, settings.public_office) == (
        5, None, None, None)
    # the publication refuses a deadline before the period too
    _settings(client, campaign.code, appeal_until="2026-12-12")
    client.post(f"/results/{campaign.code}/approve")
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    assert campaign.state.is_finalized
    response = client.post(f"/results/{campaign.code}/publish", data={
        "public": "y", "public_from": "2026-12-15", "public_until": "2026-12-31", "confirmed": "1"},
        follow_redirects=True)
    assert "申诉截止日期（2026-12-12）不能早于公示开始日期（2026-12-15）" in response.get_data(as_text=True)
    assert not campaign.state.is_published


def test_only_the_committee_sets_them_and_each_change_is_audited(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    organizer = make_user("organizer")
    values = {"public_scores": True, "public_office": "  市评议办 ", "public_contact": "", "appeal_until": None,
              "appeal_how": None}
    with pytest.raises(Forbidden):
        publication.save_public_options(campaign, values, organizer)
    committee = db.session.scalar(select(User).where(User.role == "committee"))
    publication.save_public_options(campaign, values, committee)
    db.session.commit()
    settings = queries.settings_for(campaign)
    assert (settings.public_scores, settings.public_office, settings.public_contact) == (True, "市评议办", None)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "publication.options"))
    assert entry.before["public_scores"] is False and entry.after["public_office"] == "市评议办"
    publication.save_public_options(campaign, values, committee)  # nothing changed: no second entry
    db.session.commit()
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "publication.options")).all()) == 1
    with pytest.raises(ResultsError):
        settings.public_from = dt.date(2026, 12, 10)
        publication.save_public_options(campaign, {**values, "appeal_until": dt.date(2026, 12, 9)}, committee)


def test_the_page_reads_the_committee_settings_once(client, ctx, count_queries):
    """Anybody may load the public page during 公示: it reads the campaign's settings once, not per part."""
    campaign = _published(client, public_contact="电话 12345")
    _public(client, campaign.code)  # the results parsed and kept
    with count_queries() as statements:
        page = _public(client, campaign.code)
    assert "电话 12345" in page
    reads = [s for s in statements if "FROM outcome_settings" in s]
    assert len(reads) == 1, reads
