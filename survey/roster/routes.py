"""Roster pages: the roster of a campaign (searched), one person (edited,
deleted, their invitation sent again), the import form with the import of a
refused file's valid rows, and the downloadable templates."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length

from survey import audit
from survey.distribution import services as distribution
from survey.errors import UserError
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models import Campaign, Evaluator, Invitation, RosterUpload
from survey.roster import services
from survey.roster.services import RosterRefused
from survey.web import action, campaign_or_404, unconfirmed

bp = Blueprint("roster", __name__)


class ImportForm(FlaskForm):
    file = FileField("名单文件（CSV 或 XLSX）", validators=[FileRequired(message="请选择要导入的名单文件")])


def _longest(n: int) -> Length:
    return Length(max=n, message=_l("最多 %(n)d 个字符", n=n))


class PersonForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[InputRequired(_l("请填写姓名")), _longest(100)])
    phone = StringField(_l("手机"), validators=[_longest(32)])
    email = StringField(_l("邮箱"), validators=[_longest(254)])
    organisation = StringField(_l("工作单位"), validators=[_longest(200)])
    #: Checked by the service (roster.services.update_person), which says which group is unknown.
    group = SelectField(_l("评议主体"), choices=[], validate_choice=False)
    own_unit = StringField(_l("所在单位代码（可空）"), validators=[_longest(64)])


def _render(campaign: Campaign, form: ImportForm, problems: list[services.RowProblem] | None = None,
            filename: str | None = None, status: int = 200, partial: services.Partial | None = None,
            upload_id: int | None = None) -> tuple[str, int]:
    q, group = request.args.get("q", "")[:100], request.args.get("group", "")[:64]
    total, evaluators = services.search(campaign, q, group)
    return render_template("roster/roster.html", campaign=campaign, form=form, problems=problems,
                           filename=filename, counts=services.roster_counts(campaign), partial=partial,
                           upload_id=upload_id, uploads=services.recent_uploads(campaign),
                           evaluators=evaluators, total=total, q=q, group=group), status


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
        partial = services.partial_import(exc.problems, exc.valid) if exc.table is not None else None
        kept = None
        if partial is not None and exc.table is not None:
            kept = services.keep_upload(campaign, filename, exc.table).id
            db.session.commit()
        return _render(campaign, form, problems=exc.problems, filename=filename, status=exc.status_code,
                       partial=partial, upload_id=kept)
    audit.record("roster.import", f"campaign:{code}", None, {"文件": filename, "人数": result.imported})
    flash(_("已导入 %(n)d 名评议代表（%(groups)s）。", n=result.imported,
            groups="，".join(f"{g} {n} 名" for g, n in result.per_group.items())), "info")
    return redirect(url_for("roster.roster", code=code))


def _upload_or_404(campaign: Campaign, upload_id: int) -> RosterUpload:
    upload = services.upload_of(campaign, upload_id)
    if upload is None:
        abort(404)
    return upload


@bp.post("/campaigns/<code>/roster/uploads/<int:upload_id>/import")
@action("roster.roster")
def import_valid(code: str, upload_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    upload = _upload_or_404(campaign, upload_id)
    try:
        expected = int(request.form.get("expected", ""))
    except ValueError:
        raise UserError(_("缺少要导入的行数")) from None
    result, skipped = services.import_valid_rows(campaign, upload, expected)
    audit.record("roster.import_valid", f"campaign:{code}", None,
                 {"文件": upload.filename, "人数": result.imported, "未导入行数": skipped})
    flash(_("已导入文件“%(f)s”中的 %(n)d 名评议代表，%(m)d 行有问题未导入（可在下方下载这些行，改好后重新导入）。",
            f=upload.filename, n=result.imported, m=skipped), "info")
    return redirect(url_for("roster.roster", code=code))


@bp.get("/campaigns/<code>/roster/uploads/<int:upload_id>/skipped.csv")
def skipped_rows(code: str, upload_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    upload = _upload_or_404(campaign, upload_id)
    return Response(services.skipped_rows_csv(campaign, upload), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="roster-{campaign.code}-skipped-{upload.id}.csv"'})


# --- one person -------------------------------------------------------------------------


def _person_or_404(campaign: Campaign, evaluator_id: int) -> Evaluator:
    evaluator = services.person_or_none(campaign, evaluator_id)
    if evaluator is None:
        abort(404)
    return evaluator


def _person_page(campaign: Campaign, evaluator: Evaluator, form: PersonForm, status: int = 200) -> tuple[str, int]:
    invitations = services.invitations_of(evaluator)
    return render_template("roster/person.html", campaign=campaign, person=evaluator, form=form,
                           invitations=[(i, *distribution.shown_delivery(i), distribution.resend_refusal(i))
                                        for i in invitations]), status


def _person_form(campaign: Campaign, evaluator: Evaluator | None = None) -> PersonForm:
    form = PersonForm(formdata=None if evaluator is not None else request.form)
    form.group.choices = [(g.code, g.label) for g in campaign.groups]
    if evaluator is not None:
        form.name.data, form.phone.data, form.email.data = evaluator.name, evaluator.phone, evaluator.email
        form.organisation.data, form.group.data = evaluator.organisation, evaluator.group.code
        form.own_unit.data = evaluator.own_unit.code if evaluator.own_unit else ""
    return form


@bp.get("/campaigns/<code>/roster/<int:evaluator_id>")
def person(code: str, evaluator_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    evaluator = _person_or_404(campaign, evaluator_id)
    return _person_page(campaign, evaluator, _person_form(campaign, evaluator))


@bp.post("/campaigns/<code>/roster/<int:evaluator_id>")
@action("roster.person")
def update_person(code: str, evaluator_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    evaluator = _person_or_404(campaign, evaluator_id)
    form = _person_form(campaign)
    if not form.validate():
        return _person_page(campaign, evaluator, form, 400)
    try:
        changed = services.update_person(
            campaign, evaluator, name=form.name.data or "", phone=form.phone.data or "",
            email=form.email.data or "", organisation=form.organisation.data or "",
            group_code=form.group.data or "", own_unit_code=form.own_unit.data or "")
    except UserError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _person_page(campaign, services.person_or_none(campaign, evaluator_id) or evaluator, form, 400)
    if changed:
        labels = services.PERSON_FIELDS
        audit.record("roster.edit", f"campaign:{code}/evaluator:{evaluator.id}",
                     {labels[k]: v[0] for k, v in changed.items()}, {labels[k]: v[1] for k, v in changed.items()})
        flash(_("已保存 %(name)s 的信息。", name=evaluator.name), "info")
    else:
        flash(_("没有修改。"), "info")
    return redirect(url_for("roster.person", code=code, evaluator_id=evaluator.id))


@bp.post("/campaigns/<code>/roster/<int:evaluator_id>/delete")
@action("roster.person")
def delete_person(code: str, evaluator_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    evaluator = _person_or_404(campaign, evaluator_id)
    ask = unconfirmed(
        str(_("删除评议代表 %(name)s", name=evaluator.name)),
        str(_("此人从名单中删除，不能撤销。已发给此人的个人链接随即失效；此人若已提交评议表，评议表保留并照常计入（评议表与本人没有任何关联）。")),
        cancel=url_for("roster.person", code=code, evaluator_id=evaluator.id), button=str(_("删除")))
    if ask is not None:
        return ask
    name, group = evaluator.name, evaluator.group.code
    kept = services.delete_person(campaign, evaluator)
    audit.record("roster.delete", f"campaign:{code}/evaluator:{evaluator_id}",
                 {services.NAME: name, services.GROUP: group}, {"保留的发放记录": kept})
    flash(_("已从名单中删除 %(name)s。", name=name), "info")
    return redirect(url_for("roster.roster", code=code))


@bp.post("/campaigns/<code>/roster/<int:evaluator_id>/invitations/<int:invitation_id>/resend")
@action("roster.person")
def resend(code: str, evaluator_id: int, invitation_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    evaluator = _person_or_404(campaign, evaluator_id)
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.evaluator_id != evaluator.id:
        abort(404)
    problem = distribution.resend_refusal(invitation)
    if problem is not None:
        raise UserError(problem)
    address = evaluator.email if invitation.batch.channel == "email" else evaluator.phone
    ask = unconfirmed(
        str(_("重发邀请给 %(name)s", name=evaluator.name)),
        str(_("系统向 %(address)s 发送一个新的个人链接。此前发给此人的链接立即失效，不能撤销；持有旧链接的人打开时会看到链接已被替换。",
              address=address)),
        cancel=url_for("roster.person", code=code, evaluator_id=evaluator.id), button=str(_("重发")))
    if ask is not None:
        return ask
    distribution.resend_invitation(invitation)
    audit.record("roster.resend", f"campaign:{code}/batch:{invitation.batch.code}/evaluator:{evaluator.id}",
                 None, {services.NAME: evaluator.name, "批次": invitation.batch.code, "地址": address})
    flash(_("已安排向 %(address)s 重发邀请（新链接）。", address=address), "info")
    return redirect(url_for("roster.person", code=code, evaluator_id=evaluator.id))


# --- templates ---------------------------------------------------------------------------


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
