"""The admin's account page: create staff accounts (hashed passwords, a liaison with its
unit), switch them off so they can no longer sign in; only admins get in."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import User
from tests.factories import PASSWORD, login, make_campaign, make_user

NEW = {"username": "li.hua", "display_name": "李华", "role": "organizer", "unit": "",
       "password": "评议办2026年度", "confirm": "评议办2026年度"}


@pytest.fixture
def admin(app, client):
    with app.app_context():
        make_campaign()
        make_user("admin")
        make_user("organizer")
    login(client, "admin")
    return client


def test_admin_creates_an_account_that_can_sign_in(app, admin, client) -> None:
    answer = admin.post("/admin/users", data=NEW, follow_redirects=True)
    assert answer.status_code == 200 and "已创建账号 li.hua" in answer.text
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "li.hua"))
        assert user.role == "organizer" and user.password_hash != NEW["password"] and user.check_password(NEW["password"])
    client.post("/logout")
    assert login(client, "li.hua", NEW["password"]).status_code == 302
    assert client.get("/campaigns/new").status_code == 200


@pytest.mark.parametrize("change,message", [
    ({"role": "liaison"}, "单位联络员必须选择所在单位"),
    ({"unit": "u1"}, "只有单位联络员才选择所在单位"),
    ({"username": "organizer"}, "用户名 organizer 已存在"),
    ({"password": "short", "confirm": "short"}, "密码至少 8 位"),
    ({"confirm": "something else"}, "两次输入的密码不一致"),
    ({"username": "有 空格"}, "用户名只能由字母、数字"),
])
def test_bad_accounts_are_explained(app, admin, change, message) -> None:
    answer = admin.post("/admin/users", data={**NEW, **change})
    assert answer.status_code == 400 and message in answer.text
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "li.hua")) is None


def test_a_liaison_gets_its_unit(app, admin) -> None:
    assert admin.post("/admin/users", data={**NEW, "role": "liaison", "unit": "u1"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "li.hua")).unit.code == "u1"


def test_a_switched_off_account_cannot_sign_in(app, admin, client) -> None:
    with app.app_context():
        organizer = db.session.scalar(select(User).where(User.username == "organizer"))
        me = db.session.scalar(select(User).where(User.username == "admin"))
    assert admin.post(f"/admin/users/{organizer.id}/active").status_code == 302
    # The admin cannot switch off their own account.
    admin.post(f"/admin/users/{me.id}/active")
    with app.app_context():
        assert not db.session.get(User, organizer.id).active and db.session.get(User, me.id).active
    client.post("/logout")
    assert login(client, "organizer", PASSWORD).status_code == 200  # the form again, not a redirect


@pytest.mark.parametrize("role", ["organizer", "committee", "auditor"])
def test_only_admins_get_in(app, client, role) -> None:
    with app.app_context():
        make_user(role)
    assert client.get("/admin/users").status_code == 302  # not signed in: the sign-in page
    login(client, role)
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/users", data=NEW).status_code == 403
