"""The admin's page for staff accounts (/admin/users): create accounts, switch them off
and on, reset a password, change a role. Every change is in the audit log (never a password)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length, Regexp

from survey import audit
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models import ROLES, Unit, User
from survey.models.account import ROLE_LABELS
from survey.web import action

bp = Blueprint("admin", __name__)


class UserForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[
        InputRequired(message=_l("请填写用户名")), Length(max=64),
        Regexp(r"^[A-Za-z0-9_.@-]+$", message=_l("用户名只能由字母、数字和 _ . @ - 组成"))])
    display_name = StringField(_l("姓名"), validators=[InputRequired(message=_l("请填写姓名")), Length(max=100)])
    role = SelectField(_l("角色"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES])
    unit = SelectField(_l("所在单位（仅单位联络员填写）"), choices=[])
    component = StringField(_l("考核项目代码（仅专项考核部门填写）"), validators=[
        Length(max=64), Regexp(r"^[A-Za-z0-9_-]*$", message=_l("考核项目代码只能由字母、数字、- 和 _ 组成"))])
    password = PasswordField(_l("初始密码"), validators=[
        InputRequired(message=_l("请设置初始密码")), Length(min=8, message=_l("密码至少 8 位"))])
    confirm = PasswordField(_l("再次输入密码"), validators=[EqualTo("password", message=_l("两次输入的密码不一致"))])

    def validate_username(self, field: Any) -> None:
        if db.session.scalar(select(User.id).where(User.username == field.data.strip())) is not None:
            raise ValidationError(_l("用户名 %(u)s 已存在", u=field.data.strip()))

    def validate_unit(self, field: Any) -> None:
        if self.role.data == "liaison" and not field.data:
            raise ValidationError(_l("单位联络员必须选择所在单位"))
        if self.role.data != "liaison" and field.data:
            raise ValidationError(_l("只有单位联络员才选择所在单位"))

    def validate_component(self, field: Any) -> None:
        if self.role.data == "assessor" and not (field.data or "").strip():
            raise ValidationError(_l("专项考核部门必须填写考核项目代码"))
        if self.role.data != "assessor" and (field.data or "").strip():
            raise ValidationError(_l("只有专项考核部门才填写考核项目代码"))


class ToggleForm(FlaskForm):
    """A bare POST with its CSRF token."""


class ResetForm(FlaskForm):
    password = PasswordField(_l("新密码"), validators=[
        InputRequired(message=_l("请设置新密码")), Length(min=8, message=_l("密码至少 8 位"))])


class RoleForm(FlaskForm):
    role = SelectField(_l("角色"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES])
    unit = SelectField(_l("所在单位（仅单位联络员填写）"), choices=[])
    component = UserForm.component

    validate_unit = UserForm.validate_unit
    validate_component = UserForm.validate_component


def _units() -> list[SelectChoice]:
    return [SelectChoice("", _("（无）"))] + [
        SelectChoice(u.code, f"{u.code} {u.name}") for u in db.session.scalars(select(Unit).order_by(Unit.code))]


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _render(form: UserForm, status: int = 200) -> tuple[str, int]:
    users = db.session.scalars(select(User).order_by(User.role, User.username)).all()
    role_form = RoleForm()
    role_form.unit.choices = form.unit.choices
    return render_template("accounts/users.html", form=form, users=users, toggle=ToggleForm(),
                           reset=ResetForm(), role_form=role_form), status


def _form() -> UserForm:
    form = UserForm()
    form.unit.choices = _units()
    return form


@bp.get("/admin/users")
def users() -> ResponseReturnValue:
    return _render(_form())


@bp.post("/admin/users")
@action("admin.users")
def create_user() -> ResponseReturnValue:
    form = _form()
    if not form.validate():
        return _render(form, 400)
    unit = db.session.scalar(select(Unit).where(Unit.code == form.unit.data)) if form.unit.data else None
    user = User(username=form.username.data.strip(), display_name=form.display_name.data.strip(),
                role=form.role.data, unit=unit, active=True, component=(form.component.data or "").strip() or None)
    user.set_password(form.password.data)
    db.session.add(user)
    audit.record("user.create", f"user:{user.username}", None, {"role": user.role, "unit": form.unit.data or None,
                                                                "component": user.component})
    flash(_("已创建账号 %(u)s（%(role)s）。", u=user.username, role=_(ROLE_LABELS[user.role])), "info")
    return redirect(url_for("admin.users"))


@bp.post("/admin/users/<int:user_id>/active")
@action("admin.users")
def toggle_user(user_id: int) -> ResponseReturnValue:
    user = _user_or_404(user_id)
    if ToggleForm().validate_on_submit():
        if user.id == current_user.id:
            flash(_("不能停用自己的账号。"), "error")
        else:
            user.active = not user.active
            audit.record("user.active", f"user:{user.username}", {"active": not user.active}, {"active": user.active})
            flash(_("账号 %(u)s 已%(state)s。", u=user.username, state=_("启用") if user.active else _("停用")), "info")
    return redirect(url_for("admin.users"))


@bp.post("/admin/users/<int:user_id>/password")
@action("admin.users")
def reset_password(user_id: int) -> ResponseReturnValue:
    """Set a new password for an account (the member changes it after signing in)."""
    user = _user_or_404(user_id)
    form = ResetForm()
    if not form.validate():
        flash(_("未能重置 %(u)s 的密码：%(why)s", u=user.username,
                why="；".join(str(e) for e in form.password.errors) or _("请重试")), "error")
        return redirect(url_for("admin.users"))
    user.set_password(form.password.data)
    audit.record("user.password_reset", f"user:{user.username}", None, {"password": "已重置"})
    flash(_("已重置账号 %(u)s 的密码，请告知本人登录后修改。", u=user.username), "info")
    return redirect(url_for("admin.users"))


@bp.post("/admin/users/<int:user_id>/role")
@action("admin.users")
def change_role(user_id: int) -> ResponseReturnValue:
    """Change an account's role (and a liaison's unit)."""
    user = _user_or_404(user_id)
    form = RoleForm()
    form.unit.choices = _units()
    if user.id == current_user.id:
        flash(_("不能修改自己的角色（以免失去账号管理权限）。"), "error")
        return redirect(url_for("admin.users"))
    if not form.validate():
        flash(_("未能修改 %(u)s 的角色：%(why)s", u=user.username, why="；".join(
            str(e) for errors in form.errors.values() for e in errors)), "error")
        return redirect(url_for("admin.users"))
    before = {"role": user.role, "unit": user.unit.code if user.unit else None, "component": user.component}
    user.role = form.role.data
    user.unit = db.session.scalar(select(Unit).where(Unit.code == form.unit.data)) if form.unit.data else None
    user.component = (form.component.data or "").strip() or None
    audit.record("user.role", f"user:{user.username}", before, {"role": user.role, "unit": form.unit.data or None,
                                                                "component": user.component})
    flash(_("账号 %(u)s 的角色已改为 %(role)s。", u=user.username, role=_(ROLE_LABELS[user.role])), "info")
    return redirect(url_for("admin.users"))
