"""Roster pages: the roster of a campaign, the import form and the downloadable templates."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.file import FileField, FileRequired

from survey import audit
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models import Campaign
from survey.roster import services
from survey.roster.services import RosterRefused
from survey.web import action, campaign_or_404

bp = Blueprint("roster", __name__)


class ImportForm(FlaskForm):
    file = FileField("名单文件（CSV 或 XLSX）", validators=[FileRequired(message="请选择要导入的名单文件")])


def _render(campaign: Campaign, form: ImportForm, problems: list[services.RowProblem] | None = None, filename: str | None = None,
            status: int = 200) -> tuple[str, int]:
    return render_template("roster/roster.html", campaign=campaign, form=form, problems=problems,
                           filename=filename, counts=services.roster_counts(campaign),
                           evaluators=services.roster_page(campaign)), status


@bp.get("/campaigns/<code>/roster")
def roster(code: str) -> ResponseReturnValue:
    return _render(campaign_or_404(code), ImportForm(formdata=None))


@bp.post("/campaigns/<code>/roster")
@action("roster.roster")
def import_roster(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = ImportForm()
    if not form.validate():
        return _render(campaign, form, status=400)
    upload = form.file.data
    filename = upload.filename or "roster.csv"
    try:
        result = services.import_roster(campaign, filename, upload.read())
    except RosterRefused as exc:
        db.session.rollback()
        return _render(campaign, form, problems=exc.problems, filename=filename, status=exc.status_code)
    audit.record("roster.import", f"campaign:{code}", None, {"文件": filename, "人数": result.imported})
    flash(_("已导入 %(n)d 名评议代表（%(groups)s）。", n=result.imported,
            groups="，".join(f"{g} {n} 名" for g, n in result.per_group.items())), "info")
    return redirect(url_for("roster.roster", code=code))


@bp.get("/campaigns/<code>/roster/template.csv")
def template_csv(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return Response(services.template_csv(campaign), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="roster-{campaign.code}.csv"'})


@bp.get("/campaigns/<code>/roster/template.xlsx")
def template_xlsx(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    return Response(services.template_xlsx(campaign),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="roster-{campaign.code}.xlsx"'})
