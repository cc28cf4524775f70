"""The organizer's 现场测评 pages: the sessions of a campaign, one session
(open, close, its batches' times), its numbered slips, the projector page
and its live JSON, the session's sub-bundle."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from survey import audit
from survey.clock import format_beijing, from_beijing
from survey.distribution import services as distribution
from survey.distribution.forms import ActionForm
from survey.distribution.routes import qr_svg
from survey.models import Campaign, FieldSession
from survey.sessions import services
from survey.sessions.forms import SessionForm
from survey.web import action, campaign_or_404, unconfirmed

bp = Blueprint("sessions", __name__)


def session_or_404(campaign: Campaign, scode: str) -> FieldSession:
    session = services.session_by_code(campaign, scode)
    if session is None:
        abort(404)
    return session


@bp.route("/distribution/<code>/sessions", methods=["GET", "POST"])
@action("sessions.index")
def index(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = SessionForm(expected=[None] * len(campaign.groups))
    form.units.choices = [SelectChoice(u.id, u.name) for u in campaign.units]
    while len(form.expected.entries) < len(campaign.groups):  # one attendance field per group, always
        form.expected.append_entry()
    if not form.validate_on_submit():
        return render_template("sessions/index.html", campaign=campaign, form=form,
                               groups=list(zip(campaign.groups, form.expected.entries, strict=False)),
                               sessions=[(s, services.state_of(s)) for s in services.sessions_of(campaign)],
                               labels=services.STATE_LABELS), 422 if form.is_submitted() else 200
    groups = [(g, int(entry.data)) for g, entry in zip(campaign.groups, form.expected.entries, strict=False)
              if entry.data]
    session = services.create_session(
        campaign, code=form.code.data, name=form.name.data, place=form.place.data,
        starts_at=from_beijing(form.starts_at.data), unit_ids=form.units.data or [], groups=groups,
        announce=bool(form.announce.data))
    audit.record("session.create", f"campaign:{code}/session:{session.code}", None,
                 {"名称": session.name, "应到": sum(n for _g, n in groups)})
    flash(_("已创建场次 %(name)s", name=session.name), "success")
    return redirect(url_for(".session_page", code=code, scode=session.code))


@bp.get("/distribution/<code>/sessions/<scode>")
def session_page(code: str, scode: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    session = session_or_404(campaign, scode)
    state = services.state_of(session)
    return render_template("sessions/session.html", campaign=campaign, session=session, state=state,
                           label=services.STATE_LABELS[state], counts=services.live_counts(session),
                           action=ActionForm(), starts=format_beijing(session.starts_at),
                           times=[(sb, format_beijing(sb.batch.opens_at), format_beijing(sb.batch.closes_at))
                                  for sb in session.batches],
                           breakdown=services.campaign_breakdown(session),
                           scored=[o for o in campaign.scale if o.points is not None])


def _toggle(code: str, scode: str, opening: bool) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    session = session_or_404(campaign, scode)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not opening:
        page = unconfirmed(str(_("结束场次")), str(_("结束后本场次不再接受评议票；如需补投，可再次开始。")),
                           cancel=url_for(".session_page", code=code, scode=scode))
        if page is not None:
            return page
    (services.open_session if opening else services.close_session)(session)
    audit.record("session.open" if opening else "session.close", f"campaign:{code}/session:{scode}", None, None)
    flash(_("场次已开始，现在接受评议票") if opening else _("场次已结束"), "success")
    return redirect(url_for(".session_page", code=code, scode=scode))


@bp.post("/distribution/<code>/sessions/<scode>/open")
@action("sessions.session_page")
def open_session(code: str, scode: str) -> ResponseReturnValue:
    return _toggle(code, scode, True)


@bp.post("/distribution/<code>/sessions/<scode>/close")
@action("sessions.session_page")
def close_session(code: str, scode: str) -> ResponseReturnValue:
    return _toggle(code, scode, False)


@bp.get("/distribution/<code>/sessions/<scode>/slips")
def slips(code: str, scode: str) -> ResponseReturnValue:
    """Numbered slips: serial, group and the personal link's QR (and the link
    itself, small, for whoever types it), while the batch is not marked printed."""
    campaign = campaign_or_404(code)
    session = session_or_404(campaign, scode)
    rows = [(batch, [(inv, distribution.link_for(inv.pending_token or ""),
                      qr_svg(distribution.link_for(inv.pending_token or ""), scale=3)) for inv in forms])
            for batch, forms in services.slips(session)]
    return render_template("sessions/slips.html", campaign=campaign, session=session, rows=rows,
                           starts=format_beijing(session.starts_at))


@bp.get("/distribution/<code>/sessions/<scode>/projector")
def projector(code: str, scode: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    session = session_or_404(campaign, scode)
    return render_template("sessions/projector.html", campaign=campaign, session=session,
                           live=_live(session))


def _live(session: FieldSession) -> dict[str, object]:
    state = services.state_of(session)
    counts = services.live_counts(session)
    out: dict[str, object] = {
        "state": state, "label": _(services.STATE_LABELS[state]),
        "returned": sum(c.returned for c in counts), "expected": sum(c.expected for c in counts),
        "groups": [{"batch": c.batch, "group": c.group, "expected": c.expected, "returned": c.returned}
                   for c in counts],
        "tally": None,
    }
    if state == services.CLOSED and session.announce:
        out["tally"] = services.tally(session).to_json()
    return out


@bp.get("/distribution/<code>/sessions/<scode>/live")
def live(code: str, scode: str) -> ResponseReturnValue:
    """The projector's figures: the count against attendance; once closed, where 当场公布 is on, the tally."""
    session = session_or_404(campaign_or_404(code), scode)
    response = jsonify(_live(session))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/distribution/<code>/sessions/<scode>/bundle.json")
def sub_bundle(code: str, scode: str) -> ResponseReturnValue:
    """The session's sub-bundle: `python -m analysis evaluate` on it gives the tally."""
    session = session_or_404(campaign_or_404(code), scode)
    text = json.dumps(services.sub_bundle(session), ensure_ascii=False, indent=1)
    return Response(text, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{code}-{scode}.json"'})
