"""The organizer's preview of the real ballot form (预览与测试): the page with
the form of a group in a phone-sized frame and a desktop frame, and the
framed form itself, rendered by the evaluator's route's own render functions
(``pages.render_form``, ``routes._render_review``) from the group's
questionnaire, so that what the organizer sees is what evaluators will see.

Submitting the framed form records a test ballot (survey.ballots.test_ballots):
never a ballot, so it counts nowhere; only before 开始评议, which purges
them. Drafts are not kept in the preview."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, jsonify, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from survey import security
from survey.ballots import pages, test_ballots
from survey.ballots.questionnaire import check_ballot, count_answered, load_questionnaire
from survey.ballots.routes import FormContext, _render_review
from survey.extensions import db
from survey.models import Batch, Campaign, CampaignGroup
from survey.web import campaign_or_404

bp = Blueprint("preview", __name__)

#: The two forms a group's evaluators meet: a personal link's, and an open channel's (QR, public).
CHANNELS = ("personal", "open")


@dataclass
class PreviewContext(FormContext):
    """A form context with no batch or invitation behind it: the preview's."""

    channel: str = "personal"

    @property
    def open_channel(self) -> bool:
        return self.channel == "open"


def _group_or_404(campaign: Campaign, group_code: str) -> CampaignGroup:
    for group in campaign.groups:
        if group.code == group_code:
            return group
    abort(404)


def _channel() -> str:
    channel = request.args.get("channel", "personal")
    if channel not in CHANNELS:
        abort(404)
    return channel


def _context(campaign: Campaign, group: CampaignGroup, channel: str) -> PreviewContext:
    # A transient batch (never added to the session) stands for the group's.
    batch = Batch(campaign_id=campaign.id, campaign_group_id=group.id)
    url = url_for("preview.form", code=campaign.code, group_code=group.code, channel=channel)
    return PreviewContext(campaign=campaign, batch=batch, own_unit_id=None,
                          questionnaire=load_questionnaire(db.session.connection(), campaign.id, group.id),
                          url=url, channel=channel,
                          draft_url=url_for("preview.draft", code=campaign.code, group_code=group.code,
                                            channel=channel))


def _framed(body: str, status: int = 200) -> Response:
    """The form as the preview page frames it: framable by this site only."""
    response = make_response(body, status)
    security.allow_same_origin_frame(response)
    return response


@bp.get("/campaigns/<code>/preview")
def page(code: str) -> ResponseReturnValue:
    """The preview of one group's form (``?group=``, else the first) in a phone and a desktop frame."""
    campaign = campaign_or_404(code)
    groups = list(campaign.groups)
    chosen = _group_or_404(campaign, request.args["group"]) if request.args.get("group") else (
        groups[0] if groups else None)
    channel = _channel()
    return render_template("campaigns/preview.html", campaign=campaign, section="preview", groups=groups,
                           group=chosen, channel=channel, tests=test_ballots.of(campaign),
                           group_names={g.id: g.label for g in groups})


@bp.route("/campaigns/<code>/preview/<group_code>/form", methods=["GET", "POST"])
def form(code: str, group_code: str) -> ResponseReturnValue:
    """The real form of the group, framed; a submission is a test ballot."""
    campaign = campaign_or_404(code)
    group = _group_or_404(campaign, group_code)
    b = _context(campaign, group, _channel())
    form_class = b.form_class()
    if request.method == "GET":
        return _framed(pages.render_form(form_class(), b.shown(), {}))
    posted = form_class()
    if not posted.validate():
        return _framed(pages.render_form(posted, b.shown(), posted.parsed.answers), 422)
    parsed = posted.parsed
    answers, comments, margins = parsed.answers, parsed.comments, parsed.margin_answers
    units, foreign = b.form_units, set(parsed.foreign_unit_ids)
    if b.open_channel and posted.own_unit.data:
        own = int(posted.own_unit.data)
        units = [u for u in units if u.id != own]
        if own in answers or own in comments:
            foreign.add(own)
            answers.pop(own, None)
            comments.pop(own, None)
    action = posted.action.data or "submit"
    if action in ("save", "edit"):
        return _framed(pages.render_form(posted, b.shown(), answers))
    problems = check_ballot(b.questionnaire, b.rules, units, answers, comments, margin_answers=margins,
                            foreign_unit_ids=foreign)
    if problems:
        return _framed(pages.render_form(posted, b.shown(), answers, problems=problems), 422)
    if action == "review":
        return _framed(_render_review(posted, b, units, answers, comments, margins))
    if not campaign.state.allows_test_ballots:
        return _framed(render_template("campaigns/preview_done.html", campaign=campaign, recorded=False,
                                       again=b.url), 409)
    test_ballots.record(campaign, group, answers, comments, margins, current_user)
    db.session.commit()
    return _framed(render_template("campaigns/preview_done.html", campaign=campaign, recorded=True, again=b.url))


@bp.post("/campaigns/<code>/preview/<group_code>/draft")
def draft(code: str, group_code: str) -> ResponseReturnValue:
    """The form script's autosave, answered as the real one is; nothing is kept."""
    campaign = campaign_or_404(code)
    b = _context(campaign, _group_or_404(campaign, group_code), _channel())
    posted = b.form_class()()
    if not posted.validate():
        return jsonify(saved=False, errors={name or "form": e for name, e in posted.errors.items()}), 422
    units = b.form_units
    return jsonify(saved=True, preview=True, answered=count_answered(units, b.questionnaire.items,
                                                                     posted.parsed.answers), total=len(units))
