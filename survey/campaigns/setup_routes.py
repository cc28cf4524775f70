"""The organizer's setup pages: a new campaign, its units, groups, questionnaire,
rules and status (each POST parses a form, calls a service in setup.py, commits once)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from survey.accounts.auth import role_required
from survey.campaigns import forms, setup
from survey.campaigns.setup import SetupRefused
from survey.extensions import db
from survey.models import Campaign, CampaignCategory, CampaignGroup, CampaignUnit, Item, ScaleOption

bp = Blueprint("setup", __name__)


@bp.before_app_request
def close_due_campaigns() -> None:
    """A campaign closes at its deadline: the first staff request after it records that.
    Evaluators' requests need not (their links check the deadline themselves)."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return
    if setup.close_due_campaigns():
        db.session.commit()


def _campaign(code: str) -> Campaign:
    campaign = setup.find_campaign(code)
    if campaign is None:
        abort(404)
    return campaign


def _row(model: type, row_id: int, campaign: Campaign) -> Any:
    row = db.session.get(model, row_id)
    if row is None or row.campaign_id != campaign.id:
        abort(404)
    return row


def _refused(exc: SetupRefused) -> None:
    db.session.rollback()
    flash(exc.message, "error")


def _apply(change: Callable[[], Any]) -> bool:
    """Make a change and commit it, or, where the setup rules refuse it, roll
    it back and say why; returns whether it was made."""
    try:
        change()
    except SetupRefused as exc:
        _refused(exc)
        return False
    db.session.commit()
    return True


def _copy_choices(form: forms.CampaignForm) -> None:
    form.copy_from.choices = [SelectChoice("", _("不复制，从空白开始"))] + [
        SelectChoice(c.code, f"{c.year} · {c.name}") for c in db.session.scalars(
            select(Campaign).order_by(Campaign.year.desc(), Campaign.code))]


# --- new campaign, basics, status ---------------------------------------------------


@bp.route("/campaigns/new", methods=["GET", "POST"])
@role_required("organizer")
def new_campaign():
    form = forms.CampaignForm()
    _copy_choices(form)
    if request.method == "GET":
        latest = db.session.scalar(select(Campaign).order_by(Campaign.year.desc(), Campaign.id.desc()).limit(1))
        if latest is not None:
            form.copy_from.data = latest.code
    if form.validate_on_submit():
        values = form.values()
        try:
            if form.copy_from.data:
                source = setup.find_campaign(form.copy_from.data)
                if source is None:
                    abort(400)
                campaign = setup.copy_campaign(source, code=form.code.data.strip(), name=values["name"],
                                               year=values["year"], opens_at=values["opens_at"],
                                               closes_at=values["closes_at"])
                setup.update_campaign(campaign, **values)
            else:
                campaign = setup.create_campaign(code=form.code.data.strip(), **values)
        except SetupRefused as exc:
            db.session.rollback()
            form.code.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("已创建评议活动“%(name)s”（草稿）。", name=campaign.name), "info")
            return redirect(url_for("setup.basics", code=campaign.code))
    return render_template("campaigns/new.html", form=form), 400 if form.errors else 200


@bp.route("/campaigns/<code>/setup", methods=["GET", "POST"])
@role_required("organizer")
def basics(code: str):
    campaign = _campaign(code)
    form = forms.CampaignEditForm(obj=None if request.method == "POST" else campaign)
    if request.method == "GET":
        form.return_target.data = round(campaign.return_target * 100, 2)
        form.opens_at.data = forms.to_local(campaign.opens_at)
        form.closes_at.data = forms.to_local(campaign.closes_at)
    if form.validate_on_submit():
        if _apply(lambda: setup.update_campaign(campaign, **form.values())):
            flash(_("已保存基本信息。"), "info")
        return redirect(url_for("setup.basics", code=code))
    return render_template("campaigns/setup_basics.html", campaign=campaign, form=form, section="basics",
                           status_form=forms.StatusForm(), transitions=campaign.state.organizer_actions(),
                           readiness=setup.readiness_problems(campaign) if campaign.state.is_draft else []), \
        400 if form.errors else 200


@bp.post("/campaigns/<code>/status")
@role_required("organizer")
def change_status(code: str):
    campaign = _campaign(code)
    form = forms.StatusForm()
    if form.validate_on_submit():
        if _apply(lambda: setup.change_status(campaign, form.target.data)):
            flash(_("评议活动状态已改为“%(s)s”。", s=campaign.state.label), "info")
    return redirect(url_for("setup.basics", code=code))


# --- categories and units -------------------------------------------------------------


def _unit_forms(campaign: Campaign, category_form: Any = None, unit_form: Any = None) -> dict[str, Any]:
    unit_form = unit_form or forms.UnitForm(formdata=None)
    unit_form.category.choices = [SelectChoice(str(c.id), c.label) for c in campaign.categories]
    return {"category_form": category_form or forms.CategoryForm(formdata=None), "unit_form": unit_form}


def _render_units(campaign: Campaign, status: int = 200, **kw: Any):
    return render_template("campaigns/setup_units.html", campaign=campaign, section="units",
                           delete_form=forms.DeleteForm(), known_units=setup.known_units(),
                           known_categories=setup.known_categories(), **_unit_forms(campaign, **kw)), status


@bp.get("/campaigns/<code>/setup/units")
@role_required("organizer")
def units(code: str):
    return _render_units(_campaign(code))


@bp.post("/campaigns/<code>/setup/categories")
@role_required("organizer")
def add_category(code: str):
    campaign = _campaign(code)
    form = forms.CategoryForm()
    if not form.validate():
        return _render_units(campaign, 400, category_form=form)
    try:
        setup.add_category(campaign, code=form.code.data.strip(), label=(form.label.data or "").strip())
    except SetupRefused as exc:
        db.session.rollback()
        form.code.errors = [exc.message]
        return _render_units(_campaign(code), 400, category_form=form)
    db.session.commit()
    return redirect(url_for("setup.units", code=code))


@bp.post("/campaigns/<code>/setup/categories/<int:row_id>/delete")
@role_required("organizer")
def remove_category(code: str, row_id: int):
    campaign = _campaign(code)
    if forms.DeleteForm().validate_on_submit():
        _apply(lambda: setup.remove_category(campaign, _row(CampaignCategory, row_id, campaign)))
    return redirect(url_for("setup.units", code=code))


@bp.post("/campaigns/<code>/setup/units")
@role_required("organizer")
def add_unit(code: str):
    campaign = _campaign(code)
    form = forms.UnitForm()
    form.category.choices = [SelectChoice(str(c.id), c.label) for c in campaign.categories]
    if not form.validate():
        return _render_units(campaign, 400, unit_form=form)
    category = _row(CampaignCategory, form.category.data, campaign)
    try:
        setup.add_unit(campaign, category=category, code=form.code.data.strip(), name=(form.name.data or "").strip())
    except SetupRefused as exc:
        db.session.rollback()
        form.code.errors = [exc.message]
        return _render_units(_campaign(code), 400, unit_form=form)
    db.session.commit()
    return redirect(url_for("setup.units", code=code))


@bp.post("/campaigns/<code>/setup/units/<int:row_id>/delete")
@role_required("organizer")
def remove_unit(code: str, row_id: int):
    campaign = _campaign(code)
    if forms.DeleteForm().validate_on_submit():
        _apply(lambda: setup.remove_unit(campaign, _row(CampaignUnit, row_id, campaign)))
    return redirect(url_for("setup.units", code=code))


# --- evaluator groups -------------------------------------------------------------------


def _render_groups(campaign: Campaign, status: int = 200, group_form: Any = None, errors: dict | None = None):
    rated = {cg.id: setup.rated_units(cg) for cg in campaign.groups}
    all_units = {cg.id: setup.rates_all_units(cg) for cg in campaign.groups}
    return render_template(
        "campaigns/setup_groups.html", campaign=campaign, section="groups",
        group_form=group_form or forms.GroupForm(formdata=None), delete_form=forms.DeleteForm(),
        edit_form=forms.GroupEditForm(formdata=None), rated=rated, all_units=all_units,
        shares=setup.normalised_weights(campaign), known_groups=setup.known_groups(),
        errors=errors or {}), status


@bp.get("/campaigns/<code>/setup/groups")
@role_required("organizer")
def groups(code: str):
    return _render_groups(_campaign(code))


@bp.post("/campaigns/<code>/setup/groups")
@role_required("organizer")
def add_group(code: str):
    campaign = _campaign(code)
    form = forms.GroupForm()
    if not form.validate():
        return _render_groups(campaign, 400, group_form=form)
    try:
        setup.add_group(campaign, code=form.code.data.strip(), label=(form.label.data or "").strip(),
                        weight=form.weight.data, quota=form.quota.data)
    except SetupRefused as exc:
        db.session.rollback()
        form.code.errors = [exc.message]
        return _render_groups(_campaign(code), 400, group_form=form)
    db.session.commit()
    return redirect(url_for("setup.groups", code=code))


@bp.post("/campaigns/<code>/setup/groups/<int:row_id>")
@role_required("organizer")
def update_group(code: str, row_id: int):
    campaign = _campaign(code)
    cg = _row(CampaignGroup, row_id, campaign)
    form = forms.GroupEditForm()
    if not form.validate():
        return _render_groups(campaign, 400, errors={cg.id: [e for es in form.errors.values() for e in es]})
    try:
        setup.update_group(campaign, cg, label=(form.label.data or "").strip(), weight=form.weight.data,
                           quota=form.quota.data)
    except SetupRefused as exc:
        _refused(exc)
    else:
        db.session.commit()
        flash(_("已保存评议主体“%(label)s”。", label=cg.label), "info")
    return redirect(url_for("setup.groups", code=code))


@bp.post("/campaigns/<code>/setup/groups/<int:row_id>/units")
@role_required("organizer")
def rated_units(code: str, row_id: int):
    campaign = _campaign(code)
    cg = _row(CampaignGroup, row_id, campaign)
    form = forms.RatedUnitsForm()
    form.units.choices = [SelectChoice(str(u.id), u.name) for u in campaign.units]
    if form.validate():
        if _apply(lambda: setup.set_rated_units(campaign, cg, set(form.units.data or []))):
            flash(_("已保存“%(label)s”评议的单位。", label=cg.label), "info")
    else:
        flash(_("所选单位不属于本次评议。"), "error")
    return redirect(url_for("setup.groups", code=code))


@bp.post("/campaigns/<code>/setup/groups/<int:row_id>/delete")
@role_required("organizer")
def remove_group(code: str, row_id: int):
    campaign = _campaign(code)
    if forms.DeleteForm().validate_on_submit():
        _apply(lambda: setup.remove_group(campaign, _row(CampaignGroup, row_id, campaign)))
    return redirect(url_for("setup.groups", code=code))


# --- questionnaire: items and the scale ---------------------------------------------------


def _render_questionnaire(campaign: Campaign, status: int = 200, item_form: Any = None, option_form: Any = None,
                          errors: dict | None = None):
    return render_template(
        "campaigns/setup_questionnaire.html", campaign=campaign, section="questionnaire",
        item_form=item_form or forms.ItemForm(formdata=None), option_form=option_form or forms.OptionForm(formdata=None),
        item_edit=forms.ItemEditForm(formdata=None), option_edit=forms.OptionEditForm(formdata=None),
        delete_form=forms.DeleteForm(), errors=errors or {}), status


@bp.get("/campaigns/<code>/setup/questionnaire")
@role_required("organizer")
def questionnaire(code: str):
    return _render_questionnaire(_campaign(code))


@bp.post("/campaigns/<code>/setup/items")
@role_required("organizer")
def add_item(code: str):
    campaign = _campaign(code)
    form = forms.ItemForm()
    if not form.validate():
        return _render_questionnaire(campaign, 400, item_form=form)
    try:
        setup.add_item(campaign, code=form.code.data.strip(), label=form.label.data.strip(), weight=form.weight.data)
    except SetupRefused as exc:
        db.session.rollback()
        form.code.errors = [exc.message]
        return _render_questionnaire(_campaign(code), 400, item_form=form)
    db.session.commit()
    return redirect(url_for("setup.questionnaire", code=code))


@bp.post("/campaigns/<code>/setup/items/<int:row_id>")
@role_required("organizer")
def update_item(code: str, row_id: int):
    campaign = _campaign(code)
    item = _row(Item, row_id, campaign)
    form = forms.ItemEditForm()
    if not form.validate():
        return _render_questionnaire(campaign, 400, errors={("item", item.id): [
            e for es in form.errors.values() for e in es]})
    _apply(lambda: setup.update_item(campaign, item, label=form.label.data.strip(), weight=form.weight.data))
    return redirect(url_for("setup.questionnaire", code=code))


@bp.post("/campaigns/<code>/setup/items/<int:row_id>/delete")
@role_required("organizer")
def remove_item(code: str, row_id: int):
    campaign = _campaign(code)
    if forms.DeleteForm().validate_on_submit():
        _apply(lambda: setup.remove_item(campaign, _row(Item, row_id, campaign)))
    return redirect(url_for("setup.questionnaire", code=code))


@bp.post("/campaigns/<code>/setup/options")
@role_required("organizer")
def add_option(code: str):
    campaign = _campaign(code)
    form = forms.OptionForm()
    if not form.validate():
        return _render_questionnaire(campaign, 400, option_form=form)
    try:
        setup.add_option(campaign, code=form.code.data.strip(), label=form.label.data.strip(), points=form.points.data)
    except SetupRefused as exc:
        db.session.rollback()
        form.code.errors = [exc.message]
        return _render_questionnaire(_campaign(code), 400, option_form=form)
    db.session.commit()
    return redirect(url_for("setup.questionnaire", code=code))


@bp.post("/campaigns/<code>/setup/options/<int:row_id>")
@role_required("organizer")
def update_option(code: str, row_id: int):
    campaign = _campaign(code)
    option = _row(ScaleOption, row_id, campaign)
    form = forms.OptionEditForm()
    if not form.validate():
        return _render_questionnaire(campaign, 400, errors={("option", option.id): [
            e for es in form.errors.values() for e in es]})
    _apply(lambda: setup.update_option(campaign, option, label=form.label.data.strip(), points=form.points.data))
    return redirect(url_for("setup.questionnaire", code=code))


@bp.post("/campaigns/<code>/setup/options/<int:row_id>/delete")
@role_required("organizer")
def remove_option(code: str, row_id: int):
    campaign = _campaign(code)
    if forms.DeleteForm().validate_on_submit():
        _apply(lambda: setup.remove_option(campaign, _row(ScaleOption, row_id, campaign)))
    return redirect(url_for("setup.questionnaire", code=code))


# --- scoring rules --------------------------------------------------------------------------


@bp.route("/campaigns/<code>/setup/rules", methods=["GET", "POST"])
@role_required("organizer")
def rules(code: str):
    campaign = _campaign(code)
    form = forms.RulesForm()
    form.overall_item.choices = [SelectChoice("", _("第一个指标（默认）"))] + [
        SelectChoice(i.code, i.label) for i in campaign.items]
    if request.method == "GET":
        form.fill(setup.current_rules(campaign))
    elif form.validate():
        rules = form.rules()
        problems = setup.rules_problems(campaign, rules)
        for key, reason in problems:
            field = {"thresholds": form.basic, "bottom": form.bottom_n,
                     "bootstrap": form.replicates}.get(key) or getattr(form, key, None) or form.ballot_share
            field.errors = [*field.errors, reason]
        if not problems:
            if _apply(lambda: setup.set_rules(campaign, rules)):
                flash(_("已保存计分规则。"), "info")
            return redirect(url_for("setup.rules", code=code))
    return render_template("campaigns/setup_rules.html", campaign=campaign, form=form, section="rules"), \
        400 if form.errors or any(f.errors for f in form) else 200
