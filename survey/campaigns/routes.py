"""Campaign overview pages (the organizer's pages grow here)."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import select

from survey.accounts.auth import role_required
from survey.campaigns import services
from survey.extensions import db
from survey.models import Campaign

bp = Blueprint("campaigns", __name__)


#: Staff who may see a campaign's figures.
STAFF = ("organizer", "committee", "auditor")


@bp.get("/")
@role_required(*STAFF)
def index():
    return render_template("campaigns/index.html", campaigns=services.all_campaigns())


@bp.get("/campaigns/<code>")
@role_required(*STAFF)
def overview(code: str):
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == code))
    if campaign is None:
        abort(404)
    return render_template("campaigns/overview.html", campaign=campaign,
                           figures=services.return_figures(campaign))


@bp.app_errorhandler(404)
def not_found(error):
    return render_template("404.html"), 404


@bp.app_errorhandler(403)
def forbidden(error):
    return render_template("403.html"), 403
