"""Sign-in and sign-out for staff, each role's start page, and the own password."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from survey import audit, policy
from survey.accounts import throttle
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models import Campaign
from survey.models.account import User

bp = Blueprint("accounts", __name__)

#: Where each role starts after signing in (the liaison's own unit's page, the clerk's paper entry, …).
HOMES = {"admin": "admin.users", "organizer": "campaigns.index", "committee": "results.index",
         "liaison": "results.my_index", "auditor": "results.audit_log", "clerk": "accounts.paper_home",
         "handler": "register.index", "assessor": "register.assess_index"}


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[InputRequired(message="请输入用户名")])
    password = PasswordField("密码", validators=[InputRequired(message="请输入密码")])
    remember = BooleanField("在这台电脑上保持登录")


class PasswordForm(FlaskForm):
    current = PasswordField(_l("当前密码"), validators=[InputRequired(message=_l("请输入当前密码"))])
    password = PasswordField(_l("新密码"), validators=[
        InputRequired(message=_l("请设置新密码")), Length(min=8, message=_l("密码至少 8 位"))])
    confirm = PasswordField(_l("再次输入新密码"), validators=[EqualTo("password", message=_l("两次输入的密码不一致"))])


def home_for(user: User) -> str:
    """The role's own start page."""
    return url_for(HOMES[user.role])


def _admitted(path: str, user: User) -> bool:
    """Whether the authorization table lets the user GET this path of the app."""
    try:
        endpoint, _args = current_app.url_map.bind("").match(path, method="GET")
    except HTTPException:
        return False
    rule = policy.rule_for(str(endpoint))
    return rule is not None and rule.admits(user.role, "GET")


def _safe_next(target: str | None, user: User) -> str:
    """Only same-site paths the user may open: never redirect a signed-in user to
    another host, nor to a page their role is refused; the site's front page ("/") is no
    destination either (everyone is sent to sign in from it). Otherwise the role's start page."""
    # Browsers read "\" as "/" and drop tabs and newlines: "/\evil.example" is another host.
    if (target and target != "/" and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc
            and not any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target)
            and _admitted(urlsplit(target).path, user)):
        return target
    return home_for(user)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        username, address = form.username.data, request.remote_addr or ""
        if throttle.throttled(username, address):
            # Throttled before any password is checked; the member may sign in from elsewhere.
            form.password.errors.append(_("登录失败次数过多，请 15 分钟后再试；如忘记密码，请联系系统管理员。"))
            return render_template("accounts/login.html", form=form), 429
        user = throttle.authenticate(username, form.password.data)
        if user is None:
            # One message for every failure: do not tell which usernames exist.
            throttle.record_failure(username, address)
            db.session.commit()
            form.password.errors.append(_("用户名或密码不正确"))
        else:
            throttle.forget_account_failures(username, address)
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next"), user))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    flash(_("您已退出登录。"), "info")
    return redirect(url_for("accounts.login"))


@bp.get("/home")
def home() -> ResponseReturnValue:
    """The signed-in user's start page, by role."""
    return redirect(home_for(current_user))


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> ResponseReturnValue:
    """Change the own password: the current one is required, and the sign-in
    throttle counts wrong ones (so this form cannot be used to guess it)."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        user: User = current_user
        address = request.remote_addr or ""
        if throttle.throttled(user.username, address):
            form.current.errors.append(_("密码错误次数过多，请 15 分钟后再试。"))
            return render_template("accounts/password.html", form=form), 429
        if throttle.authenticate(user.username, form.current.data) is None:
            throttle.record_failure(user.username, address)
            db.session.commit()
            form.current.errors.append(_("当前密码不正确"))
            status = 400
        else:
            throttle.forget_account_failures(user.username, address)
            user.set_password(form.password.data)
            audit.record("user.password_change", f"user:{user.username}", None, {"password": "已修改"})
            db.session.commit()
            login_user(current_user._get_current_object())  # this session goes on under the new password; every other one is signed out
            flash(_("密码已修改。"), "info")
            return redirect(home_for(user))
    elif form.is_submitted():
        status = 400
    return render_template("accounts/password.html", form=form), status


@bp.get("/paper")
def paper_home() -> ResponseReturnValue:
    """The clerk's start page: the campaigns whose paper forms are being keyed."""
    campaigns: list[Any] = [c for c in db.session.scalars(select(Campaign).order_by(Campaign.code))
                            if c.state.takes_paper_entries]
    return render_template("accounts/paper_home.html", campaigns=campaigns)
