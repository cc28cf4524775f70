"""平时考核 rounds' pages (docs/rounds.md): the list of rounds, a round's
ranking (page and XLSX) and its publication by the organizer, and an annual
campaign's 平时 component with the rounds behind it."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from survey.errors import Conflict, NotFound
from survey.extensions import db
from survey.models import Campaign
from survey.results.i18n import gettext as _
from survey.rounds import services
from survey.web import action, campaign_or_404, render_and_commit

bp = Blueprint("rounds", __name__)


def round_or_404(code: str) -> Campaign:
    campaign = campaign_or_404(code)
    if not campaign.state.is_round:
        raise NotFound(_("没有这个平时考核轮次。"))
    return campaign


@bp.get("/rounds")
def index() -> ResponseReturnValue:
    rows = [(r, services.counts_for(r)) for r in services.rounds()]
    return render_and_commit("rounds/index.html", rows=rows)


@bp.get("/rounds/<code>")
def ranking(code: str) -> ResponseReturnValue:
    from survey.results.queries import ranking as rank
    from survey.results.snapshots import results_for

    round_ = round_or_404(code)
    views = rank(round_, results_for(round_)) if round_.state.results_ready else None
    return render_and_commit("rounds/ranking.html", round=round_, views=views, annual=services.counts_for(round_))


@bp.get("/gongshi/rounds/<code>", endpoint="public_ranking")
def public_ranking(code: str) -> ResponseReturnValue:
    """A published round's ranking as the public reads it (the weekly or monthly
    ranking put online): names, ranks and composites, nothing else; a round
    not published is no page (404)."""
    from survey.results.queries import ranking as rank
    from survey.results.snapshots import results_for

    round_ = round_or_404(code)
    if not round_.state.is_published:
        raise NotFound(_("没有这个平时考核轮次。"))
    return render_and_commit("rounds/public.html", round=round_, views=rank(round_, results_for(round_)))


@bp.get("/rounds/<code>/ranking.xlsx")
def ranking_xlsx(code: str) -> ResponseReturnValue:
    round_ = round_or_404(code)
    if not round_.state.results_ready:
        raise Conflict(_("本轮尚未截止，还没有排名。"))
    data = services.ranking_xlsx(round_)
    db.session.commit()  # what reading wrote (a recomputed results cache)
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={round_.code}-ranking.xlsx"})


@bp.post("/rounds/<code>/publish")
@action("rounds.ranking")
def publish(code: str) -> ResponseReturnValue:
    round_ = round_or_404(code)
    annual = services.publish(round_, None)
    if annual is None:
        flash(_("已发布本轮排名。没有考核期包含 %(d)s 的年度评议：本轮不计入平时考核。",
                d=round_.held_on.isoformat() if round_.held_on else "—"), "error")
    else:
        flash(_("已发布本轮排名，各单位综合得分已计入“%(a)s”的平时考核。", a=annual.name), "info")
    return redirect(url_for("rounds.ranking", code=code))


@bp.get("/campaigns/<code>/pingshi")
def rollup(code: str) -> ResponseReturnValue:
    from survey.results.queries import units_of

    campaign = campaign_or_404(code)
    units = units_of(campaign)
    values = {v.unit.id: v for vs in services.rollup_values(campaign, units).values() for v in vs}
    columns, cells = services.rounds_table(campaign)
    return render_and_commit("rounds/rollup.html", campaign=campaign, component=services.component_of(campaign),
                             units=units, values=values, columns=columns, cells=cells,
                             weight=(campaign.rules or {}).get("objective_components", {}))


@bp.post("/campaigns/<code>/pingshi")
@action("rounds.rollup")
def set_component(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    services.set_component(campaign, request.form.get("code", services.DEFAULT_CODE),
                           request.form.get("label", services.DEFAULT_LABEL))
    flash(_("已保存平时考核项目。"), "info")
    return redirect(url_for("rounds.rollup", code=code))
