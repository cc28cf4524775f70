"""Sign-in and sign-out for staff."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import InputRequired

from survey.accounts import throttle
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models.account import User

bp = Blueprint("accounts", __name__)


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[InputRequired(message="请输入用户名")])
    password = PasswordField("密码", validators=[InputRequired(message="请输入密码")])
    remember = BooleanField("在这台电脑上保持登录")


def _safe_next(target: str | None, user: User) -> str:
    """Only same-site paths: never redirect a signed-in user to another host.
    Without one, each role lands on its own start page."""
    # Browsers read "\" as "/" and drop tabs and newlines: "/\evil.example" is another host.
    if (target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc
            and not any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target)):
        return target
    if user.role == "liaison":
        return url_for("results.my_index")
    return url_for("campaigns.index")


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
