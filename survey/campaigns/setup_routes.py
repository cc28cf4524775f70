"""The organizer's setup pages: a new campaign, its units, groups, questionnaire,
rules and status. Every POST parses a form and calls a service of setup.py
through the request idiom of survey/web.py (`action`: commit once, or roll
back and say why).

The rows of a campaign's setup (categories, units, groups, items, options)
are added, edited and removed the same way: `ROWS` lists them, and one view
of each kind serves them all (endpoints ``setup.add_<kind>``,
``setup.update_<kind>``, ``setup.remove_<kind>``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from survey import audit
from survey.ballots.attributes import batch_gaps, supply_gaps, variables_of
from survey.campaigns import forms, margins, setup
from survey.clock import to_beijing
from survey.errors import UserError
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models import (
    Campaign,
    CampaignCategory,
    CampaignGroup,
    CampaignUnit,
    Item,
    MarginVariable,
    ScaleOption,
)
from survey.models.distribution import OPEN_CHANNELS
from survey.models.lifecycle import Status
from survey.rounds import services as rounds
from survey.web import action, campaign_or_404, unconfirmed

bp = Blueprint("setup", __name__)


def close_due_campaigns() -> None:
    """A campaign closes at its deadline: the first staff request after it records that.
    Evaluators' requests need not (their links check the deadline themselves)."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return
    if setup.close_due_campaigns():
        db.session.commit()


def init_app(app: Flask) -> None:
    """The app-wide behaviour of the setup pages, registered by create_app."""
    app.before_request(close_due_campaigns)


def row_or_404(model: type[Any], row_id: int, campaign: Campaign) -> Any:
    """One setup row of the campaign by its id."""
    row = db.session.get(model, row_id)
    if row is None or row.campaign_id != campaign.id:
        abort(404)
    return row


def _messages(form: FlaskForm) -> list[str]:
    return [e for errors in form.errors.values() for e in errors]


def _copy_choices(form: forms.CampaignForm, round_: bool = False) -> Campaign | None:
    """The campaigns to copy from, a demo, test campaign or round marked as such; returns the
    default source (a round's: the latest round)."""
    sources, default = setup.copy_sources(round_)

    def mark(c: Campaign) -> str:
        kind = _("演示活动") if c.is_demo else _("测试活动") if c.is_test else \
            _("平时考核轮次") if c.state.is_round else ""
        return f"{c.year} · {c.name}" + (f"（{kind}）" if kind else "")

    form.copy_from.choices = [SelectChoice("", _("不复制，从空白开始"))] + [SelectChoice(c.code, mark(c)) for c in sources]
    return default


# --- new campaign, basics, status ---------------------------------------------------


@bp.route("/campaigns/new", methods=["GET", "POST"])
@action("setup.new_campaign")
def new_campaign() -> ResponseReturnValue:
    form = forms.CampaignForm()
    round_ = (request.args.get("kind") if request.method == "GET" else form.kind.data) == "round"
    default = _copy_choices(form, round_)
    if request.method == "GET":
        form.copy_from.data = default.code if default is not None else ""
        form.kind.data = "round" if round_ else "annual"
    if form.validate_on_submit():
        values, code = form.values(), form.code.data.strip()
        try:
            if form.copy_from.data:
                source = setup.find_campaign(form.copy_from.data)
                if source is None:
                    abort(400)
                campaign = setup.copy_campaign(source, code=code, name=values["name"], year=values["year"],
                                               opens_at=values["opens_at"], closes_at=values["closes_at"])
                setup.update_campaign(campaign, **values)
                campaign.is_test = bool(form.is_test.data)
            else:
                campaign = setup.create_campaign(code=code, is_test=bool(form.is_test.data), **values)
            if round_:
                rounds.make_round(campaign, form.held_on.data)
        except UserError as exc:
            db.session.rollback()
            form.code.errors.append(exc.message)
        else:
            audit.record("campaign.create", f"campaign:{campaign.code}", None,
                         {"名称": campaign.name, **values, "测试活动": campaign.is_test,
                          **({"平时考核轮次": campaign.held_on} if round_ else {})})
            flash(_("已创建评议活动“%(name)s”（草稿）。", name=campaign.name), "info")
            return redirect(url_for("setup.basics", code=campaign.code))
    return render_template("campaigns/new.html", form=form, round=round_), 400 if form.errors else 200


@bp.route("/campaigns/<code>/setup", methods=["GET", "POST"])
@action("setup.basics")
def basics(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = forms.CampaignEditForm(obj=None if request.method == "POST" else campaign)
    form.previous_closes_at = campaign.closes_at
    if request.method == "GET":
        form.return_target.data = round(campaign.return_target * 100, 2)
        form.opens_at.data = campaign.opens_at and to_beijing(campaign.opens_at)
        form.closes_at.data = campaign.closes_at and to_beijing(campaign.closes_at)
    if form.validate_on_submit():
        setup.update_campaign(campaign, **form.values())
        audit.record("campaign.basics", f"campaign:{code}", None, form.values())
        flash(_("已保存基本信息。"), "info")
        return redirect(url_for("setup.basics", code=code))
    return render_template("campaigns/setup_basics.html", campaign=campaign, form=form, section="basics",
                           status_form=forms.StatusForm(), transitions=[(t, words, _status_question(campaign, t))
                                                                    for t, words in campaign.state.organizer_actions()],
                           readiness=setup.readiness_problems(campaign) if campaign.state.is_draft else [],
                           raking_gaps=[gap for g in campaign.groups for gap in _margin_gaps(campaign, g)]
                           if campaign.state.is_draft else []), \
        400 if form.errors else 200


def _status_question(campaign: Campaign, target: str) -> tuple[str, str] | None:
    """The transitions that ask first: their title and what cannot be undone (none
    where the transition would be refused anyway: the refusal says why at once)."""
    if target == Status.OPEN and campaign.state.is_draft and not setup.readiness_problems(campaign):
        return str(_("开始评议")), str(_("开始评议后，评议链接即可提交；不能再删除单位、指标或选项，也不能修改分值，"
                                         "活动不能回到草稿。此操作不能撤销。"))
    if target == Status.CLOSED and campaign.state.is_open:
        after = _("评议办随即可以在“排名与发布”页查看并发布本轮排名。") if campaign.state.is_round else \
            _("评议领导小组随即可以审定结果。")
        return str(_("截止评议")), str(_("截止后，所有评议链接和扫码表单立即停止接受提交，正在填写的评议代表将无法提交；")) + str(after)
    return None


@bp.post("/campaigns/<code>/status")
@action("setup.basics")
def change_status(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = forms.StatusForm()
    if form.validate_on_submit():
        question = _status_question(campaign, form.target.data)
        page = question and unconfirmed(*question, cancel=url_for("setup.basics", code=code))
        if page:
            return page  # nothing changed yet: the confirmation page asks first
        setup.change_status(campaign, form.target.data)
        audit.record("campaign.status", f"campaign:{code}", None, {"状态": campaign.state.label})
        flash(_("评议活动状态已改为“%(s)s”。", s=campaign.state.label), "info")
    return redirect(url_for("setup.basics", code=code))


@bp.post("/campaigns/<code>/archive")
@action("setup.basics")
def archive(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    setup.archive_campaign(campaign)
    audit.record("campaign.archive", f"campaign:{code}", None, {"名称": campaign.name})
    flash(_("已归档测试活动“%(name)s”：它不再出现在活动列表中（可在列表底部恢复）。", name=campaign.name), "info")
    return redirect(url_for("campaigns.index"))


@bp.post("/campaigns/<code>/restore")
@action("campaigns.index")
def restore(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    setup.restore_campaign(campaign)
    audit.record("campaign.restore", f"campaign:{code}", None, {"名称": campaign.name})
    flash(_("已恢复测试活动“%(name)s”。", name=campaign.name), "info")
    return redirect(url_for("setup.basics", code=code))


@bp.post("/campaigns/<code>/delete")
@action("setup.basics")
def delete_campaign(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    campaign.state.require_discardable()
    page = unconfirmed(str(_("删除测试活动“%(name)s”", name=campaign.name)),
                       str(_("测试活动连同它的单位、评议主体、指标、名单、发放批次和链接全部删除，不能撤销。")),
                       cancel=url_for("setup.basics", code=code), button=str(_("删除")))
    if page:
        return page
    name = setup.delete_campaign(campaign)
    audit.record("campaign.delete", f"campaign:{code}", {"名称": name}, None)
    flash(_("已删除测试活动“%(name)s”。", name=name), "info")
    return redirect(url_for("campaigns.index"))


# --- bulk setup: many categories and units at once, items and options in order --------


@bp.post("/campaigns/<code>/setup/units/bulk")
@action("setup.units")
def bulk_units(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = forms.BulkUnitsForm()
    if not form.validate():
        return _render_units(campaign, 400, bulk_form=form)
    upload = form.file.data
    try:
        if upload is not None and bool(getattr(upload, "filename", None)):
            from survey.roster.services import RosterRefused, read_table

            source = upload.filename
            try:
                table = read_table(source, upload.read())
            except RosterRefused as exc:
                raise setup.BulkRefused(source, [(p.row, p.column, p.reason) for p in exc.problems]) from None
        elif (form.text.data or "").strip():
            source, table = str(_("粘贴的列表")), setup.pasted_table(form.text.data)
        else:
            form.text.errors = [*form.text.errors, _("请粘贴单位列表或选择文件")]
            return _render_units(campaign, 400, bulk_form=form)
        added, units = setup.bulk_units(campaign, source, table)
    except setup.BulkRefused as exc:
        db.session.rollback()
        return _render_units(campaign_or_404(code), 400, bulk_form=form, bulk_problems=exc)
    audit.record("setup.bulk_units", f"campaign:{code}", None,
                 {"来源": source, "新增类别": [f"{c.code} {c.label}" for c in added], "新增单位数": units})
    flash(_("已添加 %(n)d 个单位（新增类别 %(m)d 个%(codes)s）。", n=units, m=len(added),
            codes="：" + "、".join(f"{c.label}（代码 {c.code}）" for c in added) if added else ""), "info")
    return redirect(url_for("setup.units", code=code))


def _move_view(kind: str, model: type[Any], rows_of: Callable[[Campaign], list[Any]]) -> Callable[..., ResponseReturnValue]:
    def move(code: str, row_id: int) -> ResponseReturnValue:
        """Move an item or option up or down (a plain form: works without JavaScript)."""
        campaign = campaign_or_404(code)
        row = row_or_404(model, row_id, campaign)
        form = forms.MoveForm()
        if form.validate():
            step = -1 if form.direction.data == "up" else 1
            if setup.move_row(campaign, rows_of(campaign), row, step):
                audit.record("setup.reorder", f"campaign:{code}/{kind}:{row.code}", None,
                             {"顺序": [r.code for r in rows_of(campaign)]})
        return redirect(url_for("setup.questionnaire", code=code) + f"#{kind}-{row.id}")

    return move


for _kind, _model, _rows_of in (("item", Item, lambda c: c.items), ("option", ScaleOption, lambda c: c.scale)):
    _view = _move_view(_kind, _model, _rows_of)
    _view.__name__ = _view.__qualname__ = f"move_{_kind}"
    bp.add_url_rule(f"/campaigns/<code>/setup/{_kind}s/<int:row_id>/move", f"move_{_kind}",
                    action("setup.questionnaire")(_view), methods=["POST"])


# --- the pages that list a campaign's rows ----------------------------------------------

Page = Callable[..., tuple[str, int]]


def _render_units(campaign: Campaign, status: int = 200, category_form: FlaskForm | None = None,
                  unit_form: FlaskForm | None = None, bulk_form: FlaskForm | None = None,
                  bulk_problems: setup.BulkRefused | None = None) -> tuple[str, int]:
    unit_form = unit_form or forms.UnitForm(formdata=None)
    _category_choices(unit_form, campaign)
    return render_template("campaigns/setup_units.html", campaign=campaign, section="units",
                           delete_form=forms.DeleteForm(), known_units=setup.known_units(),
                           known_categories=setup.known_categories(),
                           category_form=category_form or forms.CategoryForm(formdata=None),
                           unit_form=unit_form, bulk_form=bulk_form or forms.BulkUnitsForm(formdata=None),
                           bulk_problems=bulk_problems), status


def _render_groups(campaign: Campaign, status: int = 200, group_form: FlaskForm | None = None,
                   errors: dict[Any, list[str]] | None = None) -> tuple[str, int]:
    rated = {cg.id: setup.rated_units(cg) for cg in campaign.groups}
    all_units = {cg.id: setup.rates_all_units(cg) for cg in campaign.groups}
    return render_template(
        "campaigns/setup_groups.html", campaign=campaign, section="groups",
        group_form=group_form or forms.GroupForm(formdata=None), delete_form=forms.DeleteForm(),
        edit_form=forms.GroupEditForm(formdata=None), rated=rated, all_units=all_units,
        shares=setup.normalised_weights(campaign), known_groups=setup.known_groups(),
        errors=errors or {}), status


def _render_questionnaire(campaign: Campaign, status: int = 200, item_form: FlaskForm | None = None,
                          option_form: FlaskForm | None = None,
                          errors: dict[Any, list[str]] | None = None) -> tuple[str, int]:
    return render_template(
        "campaigns/setup_questionnaire.html", campaign=campaign, section="questionnaire",
        item_form=item_form or forms.ItemForm(formdata=None), option_form=option_form or forms.OptionForm(formdata=None),
        item_edit=forms.ItemEditForm(formdata=None), option_edit=forms.OptionEditForm(formdata=None),
        delete_form=forms.DeleteForm(), errors=errors or {}), status


@bp.get("/campaigns/<code>/setup/units")
def units(code: str) -> ResponseReturnValue:
    return _render_units(campaign_or_404(code))


@bp.get("/campaigns/<code>/setup/groups")
def groups(code: str) -> ResponseReturnValue:
    return _render_groups(campaign_or_404(code))


@bp.get("/campaigns/<code>/setup/questionnaire")
def questionnaire(code: str) -> ResponseReturnValue:
    return _render_questionnaire(campaign_or_404(code))


# --- the rows: categories, units, groups, items, options -----------------------------


def _category_choices(form: FlaskForm, campaign: Campaign) -> None:
    form.category.choices = [SelectChoice(str(c.id), c.label) for c in campaign.categories]


def _add_unit(campaign: Campaign, *, category: int, code: str, name: str, name_en: str = "") -> object:
    return setup.add_unit(campaign, category=row_or_404(CampaignCategory, category, campaign), code=code, name=name,
                          name_en=name_en)


@dataclass(frozen=True)
class Rows:
    """One kind of setup row: its model, the page that lists it, its forms and services."""

    kind: str
    path: str
    model: type[Any]
    page: str
    render: Page
    add_form: type[forms.RowForm]
    add: Callable[..., object]
    remove: Callable[[Campaign, Any], object]
    edit_form: type[forms.RowForm] | None = None
    update: Callable[..., object] | None = None
    saved: Callable[[Any], str] | None = None
    prepare: Callable[[FlaskForm, Campaign], None] | None = None

    def errors_key(self, row: Any) -> Any:
        """How the page finds a row's edit errors (groups by id, the questionnaire's by kind and id)."""
        return row.id if self.kind == "group" else (self.kind, row.id)


ROWS = (
    Rows("category", "categories", CampaignCategory, "setup.units", _render_units, forms.CategoryForm,
         setup.add_category, setup.remove_category),
    Rows("unit", "units", CampaignUnit, "setup.units", _render_units, forms.UnitForm,
         _add_unit, setup.remove_unit, prepare=_category_choices),
    Rows("group", "groups", CampaignGroup, "setup.groups", _render_groups, forms.GroupForm,
         setup.add_group, setup.remove_group, forms.GroupEditForm, setup.update_group,
         saved=lambda cg: _("已保存评议主体“%(label)s”。", label=cg.label)),
    Rows("item", "items", Item, "setup.questionnaire", _render_questionnaire, forms.ItemForm,
         setup.add_item, setup.remove_item, forms.ItemEditForm, setup.update_item),
    Rows("option", "options", ScaleOption, "setup.questionnaire", _render_questionnaire, forms.OptionForm,
         setup.add_option, setup.remove_option, forms.OptionEditForm, setup.update_option),
)


def _add_view(rows: Rows) -> Callable[..., ResponseReturnValue]:
    def add(code: str) -> ResponseReturnValue:
        """Add a row; bad input or a refusal show the page again (400), the reason by the form."""
        campaign = campaign_or_404(code)
        form = rows.add_form()
        if rows.prepare is not None:
            rows.prepare(form, campaign)
        if form.validate():
            try:
                rows.add(campaign, **form.values())
            except UserError as exc:
                db.session.rollback()
                form.code.errors = [exc.message]
            else:
                audit.record("setup.add", f"campaign:{code}/{rows.kind}", None, form.values())
                return redirect(url_for(rows.page, code=code))
        return rows.render(campaign, 400, **{f"{rows.kind}_form": form})

    return add


def _update_view(rows: Rows) -> Callable[..., ResponseReturnValue]:
    assert rows.edit_form is not None and rows.update is not None
    edit_form, update = rows.edit_form, rows.update

    def update_row(code: str, row_id: int) -> ResponseReturnValue:
        campaign = campaign_or_404(code)
        row = row_or_404(rows.model, row_id, campaign)
        form = edit_form()
        if not form.validate():
            return rows.render(campaign, 400, errors={rows.errors_key(row): _messages(form)})
        audit.record("setup.update", f"campaign:{code}/{rows.kind}:{row_id}", None, form.values())
        update(campaign, row, **form.values())
        if rows.saved is not None:
            flash(rows.saved(row), "info")
        return redirect(url_for(rows.page, code=code))

    return update_row


def _remove_view(rows: Rows) -> Callable[..., ResponseReturnValue]:
    def remove(code: str, row_id: int) -> ResponseReturnValue:
        campaign = campaign_or_404(code)
        if forms.DeleteForm().validate_on_submit():
            audit.record("setup.remove", f"campaign:{code}/{rows.kind}:{row_id}", None, None)
            rows.remove(campaign, row_or_404(rows.model, row_id, campaign))
        return redirect(url_for(rows.page, code=code))

    return remove


def _register(rule: str, endpoint: str, rows: Rows, view: Callable[..., ResponseReturnValue]) -> None:
    view.__name__ = view.__qualname__ = endpoint
    bp.add_url_rule(rule, endpoint, action(rows.page)(view), methods=["POST"])


for _rows in ROWS:
    _base = f"/campaigns/<code>/setup/{_rows.path}"
    _register(_base, f"add_{_rows.kind}", _rows, _add_view(_rows))
    _register(f"{_base}/<int:row_id>/delete", f"remove_{_rows.kind}", _rows, _remove_view(_rows))
    if _rows.edit_form is not None:
        _register(f"{_base}/<int:row_id>", f"update_{_rows.kind}", _rows, _update_view(_rows))


@bp.post("/campaigns/<code>/setup/groups/<int:row_id>/units")
@action("setup.groups")
def rated_units(code: str, row_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    cg = row_or_404(CampaignGroup, row_id, campaign)
    form = forms.RatedUnitsForm()
    form.units.choices = [SelectChoice(str(u.id), u.name) for u in campaign.units]
    if form.validate():
        setup.set_rated_units(campaign, cg, set(form.units.data or []))
        audit.record("setup.rated_units", f"campaign:{code}/group:{cg.code}", None, {"单位": sorted(form.units.data or [])})
        flash(_("已保存“%(label)s”评议的单位。", label=cg.label), "info")
    else:
        flash(_("所选单位不属于本次评议。"), "error")
    return redirect(url_for("setup.groups", code=code))


# --- scoring rules --------------------------------------------------------------------------


@bp.route("/campaigns/<code>/setup/rules", methods=["GET", "POST"])
@action("setup.rules")
def rules(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
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
            setup.set_rules(campaign, rules)
            audit.record("setup.rules", f"campaign:{code}", None, rules)
            flash(_("已保存计分规则。"), "info")
            return redirect(url_for("setup.rules", code=code))
    return render_template("campaigns/setup_rules.html", campaign=campaign, form=form, section="rules"), \
        400 if form.errors or any(f.errors for f in form) else 200


# --- raking margins (加权边际) ------------------------------------------------------------

#: A margins page form's key: ("add", group id) or ("edit", variable id).
MarginKey = tuple[str, int]


def _margin_gaps(campaign: Campaign, group: CampaignGroup) -> list[str]:
    """Where the group's channels cannot supply its roster variables: each issued
    batch, or (none issued yet) every channel."""
    batches = [b for b in campaign.batches if b.campaign_group_id == group.id]
    if batches:
        return list(dict.fromkeys(gap for b in batches for gap in batch_gaps(b)))
    channels = [("email", True), (OPEN_CHANNELS[0], False), ("paper", not campaign.anonymous)]
    return list(dict.fromkeys(gap for channel, named in channels
                              for gap in supply_gaps(campaign, group, channel, named=named)))


def _render_margins(campaign: Campaign, status: int = 200,
                    posted: dict[MarginKey, FlaskForm] | None = None) -> tuple[str, int]:
    posted = posted or {}
    groups = []
    for g in campaign.groups:
        rows = []
        for v, targets in variables_of(g):
            form = posted.get(("edit", v.id)) or forms.MarginForm(formdata=None, data=margins.form_values(v, targets))
            rows.append({"row": v, "targets": targets, "shares": margins.shares(targets), "form": form})
        groups.append({"group": g, "variables": rows, "gaps": _margin_gaps(campaign, g),
                       "add_form": posted.get(("add", g.id)) or forms.MarginForm(formdata=None)})
    k_form = posted.get(("k", 0)) or forms.AttributeKForm(formdata=None, data={"attribute_k": campaign.attribute_k})
    return render_template("campaigns/setup_margins.html", campaign=campaign, section="margins", groups=groups,
                           k_form=k_form, delete_form=forms.DeleteForm(), posted=posted,
                           roster_columns=margins.roster_columns(campaign)), status


@bp.get("/campaigns/<code>/setup/margins")
def margins_page(code: str) -> ResponseReturnValue:
    return _render_margins(campaign_or_404(code))


def _save_margin(campaign: Campaign, group: CampaignGroup, key: MarginKey,
                 row: MarginVariable | None) -> ResponseReturnValue:
    form = forms.MarginForm()
    if form.validate():
        try:
            saved = margins.save_variable(campaign, group, row=row, **form.values())
        except margins.MarginRefused as exc:
            db.session.rollback()
            for problem in exc.problems:
                form[problem.field].errors = [*form[problem.field].errors, problem.message]
        except UserError as exc:
            db.session.rollback()
            form.variable.errors = [*form.variable.errors, exc.message]
        else:
            audit.record("setup.margins", f"campaign:{campaign.code}/group:{group.code}", None, {"变量": saved.variable})
            flash(_("已保存“%(group)s”的边际变量“%(variable)s”。", group=group.label, variable=saved.variable), "info")
            return redirect(url_for("setup.margins_page", code=campaign.code) + f"#group-{group.id}")
    return _render_margins(campaign, 400, {key: form})


@bp.post("/campaigns/<code>/setup/groups/<int:row_id>/margins")
@action("setup.margins_page")
def add_margin(code: str, row_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    group = row_or_404(CampaignGroup, row_id, campaign)
    return _save_margin(campaign, group, ("add", group.id), None)


def _margin_or_404(campaign: Campaign, row_id: int) -> MarginVariable:
    row = db.session.get(MarginVariable, row_id)
    if row is None or row.campaign_group.campaign_id != campaign.id:
        abort(404)
    return row


@bp.post("/campaigns/<code>/setup/margins/<int:row_id>")
@action("setup.margins_page")
def update_margin(code: str, row_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    row = _margin_or_404(campaign, row_id)
    return _save_margin(campaign, row.campaign_group, ("edit", row.id), row)


@bp.post("/campaigns/<code>/setup/margins/<int:row_id>/delete")
@action("setup.margins_page")
def remove_margin(code: str, row_id: int) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    row = _margin_or_404(campaign, row_id)
    if forms.DeleteForm().validate_on_submit():
        variable, group = row.variable, row.campaign_group.label
        margins.remove_variable(campaign, row)
        audit.record("setup.margins", f"campaign:{code}", {"变量": variable}, None)
        flash(_("已删除“%(group)s”的边际变量“%(variable)s”。", group=group, variable=variable), "info")
    return redirect(url_for("setup.margins_page", code=code))


@bp.post("/campaigns/<code>/setup/margins/k")
@action("setup.margins_page")
def attribute_k(code: str) -> ResponseReturnValue:
    campaign = campaign_or_404(code)
    form = forms.AttributeKForm()
    if not form.validate():
        return _render_margins(campaign, 400, {("k", 0): form})
    margins.set_attribute_k(campaign, form.attribute_k.data)
    audit.record("setup.attribute_k", f"campaign:{code}", None, {"k": campaign.attribute_k})
    flash(_("已保存 k = %(k)d。", k=campaign.attribute_k), "info")
    return redirect(url_for("setup.margins_page", code=code))
