"""Campaign pages for staff: the list, the overview, the return-rate board with its
chart and JSON API, and who has not answered yet."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from survey.accounts.auth import role_required
from survey.campaigns import board, services
from survey.web import batch_or_404, campaign_or_404

bp = Blueprint("campaigns", __name__)


#: Staff who may see a campaign's figures.
STAFF = ("organizer", "committee", "auditor")


@bp.get("/")
@role_required(*STAFF)
def index() -> ResponseReturnValue:
    return render_template("campaigns/index.html", campaigns=services.all_campaigns())


@bp.get("/campaigns/<code>")
@role_required(*STAFF)
def overview(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    figures = board.return_board(campaign)
    links = sum(b.invitations or 0 for b in figures.batches)
    used = links - sum(b.unanswered or 0 for b in figures.batches)
    return render_template("campaigns/overview.html", campaign=campaign, figures=figures,
                           links=links, links_used=used)


@bp.get("/campaigns/<code>/returns")
@role_required(*STAFF)
def returns(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return render_template("campaigns/returns.html", campaign=campaign, board=board.return_board(campaign))


@bp.get("/campaigns/<code>/returns.png")
@role_required(*STAFF)
def returns_chart(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return Response(board.returns_chart_png(campaign), mimetype="image/png",
                    headers={"Cache-Control": "no-store"})


@bp.get("/campaigns/<code>/returns/<batch_code>/unanswered")
@role_required(*STAFF)
def unanswered(code: str, batch_code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    batch = batch_or_404(campaign, batch_code)
    names = None if campaign.anonymous else board.unanswered_names(batch)
    count = board.unanswered_count(batch)
    return render_template("campaigns/unanswered.html", campaign=campaign, batch=batch, names=names, count=count)


def api_role_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Like role_required, but answers in JSON: 401 for anonymous callers, 403 for other roles."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return jsonify(error="unauthorized", message=_("请先登录")), 401
            if not current_user.has_role(*roles):
                return jsonify(error="forbidden", message=_("您的角色无权查看")), 403
            return view(*args, **kwargs)

        return wrapped

    return decorator


@bp.get("/api/campaigns/<code>/returns")
@api_role_required(*STAFF)
def returns_api(code: str) -> ResponseReturnValue:
    return jsonify(board.return_board(campaign_or_404(code)).to_json())

