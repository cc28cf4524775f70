"""Campaign pages for staff: the list, the overview, the return-rate board with its
chart and JSON API, and who has not answered yet."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from survey.campaigns import board, services
from survey.web import batch_or_404, campaign_or_404

bp = Blueprint("campaigns", __name__)




@bp.get("/")
def index() -> ResponseReturnValue:
    """The campaign list, for those who read campaigns; every other role's "/" (the header's link,
    a bookmark) is its own start page, never a refusal."""
    from survey.accounts.routes import home_for
    from survey.policy import READ

    if not READ.admits(current_user.role, "GET"):
        return redirect(home_for(current_user))
    return render_template("campaigns/index.html", campaigns=services.all_campaigns())


@bp.get("/campaigns/<code>")
def overview(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    figures = board.return_board(campaign)
    links = sum(b.invitations or 0 for b in figures.batches)
    used = links - sum(b.unanswered or 0 for b in figures.batches)
    return render_template("campaigns/overview.html", campaign=campaign, figures=figures,
                           links=links, links_used=used)


@bp.get("/campaigns/<code>/returns")
def returns(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return render_template("campaigns/returns.html", campaign=campaign, board=board.return_board(campaign))


@bp.get("/campaigns/<code>/returns.png")
def returns_chart(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return Response(board.returns_chart_png(campaign), mimetype="image/png",
                    headers={"Cache-Control": "no-store"})


@bp.get("/campaigns/<code>/returns/<batch_code>/unanswered")
def unanswered(code: str, batch_code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    batch = batch_or_404(campaign, batch_code)
    names = None if campaign.anonymous else board.unanswered_names(batch)
    count = board.unanswered_count(batch)
    return render_template("campaigns/unanswered.html", campaign=campaign, batch=batch, names=names, count=count)


@bp.get("/api/campaigns/<code>/returns")
def returns_api(code: str) -> ResponseReturnValue:
    return jsonify(board.return_board(campaign_or_404(code)).to_json())

