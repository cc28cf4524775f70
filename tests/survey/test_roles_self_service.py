"""Roles (issue #11): the data-entry clerk (纸质表录入 only), each role's start
page after sign-in, changing the own password (throttled like sign-in), and the
admin's password reset and role change (audited, never the password)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEntry, User
from tests.factories import PASSWORD, login, make_campaign, make_user

ROLES = ("admin", "organizer", "committee", "auditor", "clerk")


@pytest.fixture
def staff(app):
    with app.app_context():
        make_campaign()
        for role in ROLES:
            make_user(role)
        make_user("liaison", unit_code="u1")


@pytest.mark.parametrize("role,home", [("admin", "/admin/users"), ("organizer", "/"), ("committee", "/results"),
                                       ("auditor", "/audit"), ("clerk", "/paper"), ("liaison", "/my")])
def test_each_role_lands_on_its_own_start_page(client, staff, role, home) -> None:
    # Sent to sign in from the site's front page: a page the role may not open is no destination.
    answer = client.post("/login?next=/", data={"username": role, "password": PASSWORD})
    assert answer.status_code == 302
    assert answer.headers["Location"] == home
    assert client.get(answer.headers["Location"]).status_code == 200
    assert client.get("/home").headers["Location"] == home
    # The header's link and a bookmark of "/" lead every role to its own page, never to a refusal.
    front = client.get("/")
    if role in ("organizer", "committee", "auditor", "admin"):  # those who read campaigns: the list
        assert front.status_code == 200
    else:
        assert front.headers["Location"] == home


def test_a_next_page_the_role_may_open_is_kept(client, staff) -> None:
    answer = client.post("/login?next=/distribution/t2026/paper", data={"username": "clerk", "password": PASSWORD})
    assert answer.headers["Location"] == "/distribution/t2026/paper"
    client.post("/logout")
    answer = client.post("/login?next=/campaigns/t2026", data={"username": "clerk", "password": PASSWORD})
    assert answer.headers["Location"] == "/paper"


def test_the_clerk_keys_paper_forms_and_nothing_else(client, staff) -> None:
    login(client, "clerk")
    home = client.get("/paper").get_data(as_text=True)
    assert "/distribution/t2026/paper" in home  # the open campaign takes paper entries
    assert client.get("/distribution/t2026/paper").status_code == 200
    assert client.get("/distribution/t2026/paper/conflicts").status_code == 200
    assert client.get("/").headers["Location"] == "/paper"  # the front page is the clerk's own
    for path in ("/campaigns/t2026", "/results", "/audit", "/admin/users", "/distribution/t2026",
                 "/campaigns/t2026/setup", "/roster/t2026"):
        assert client.get(path).status_code in (403, 404), path
    nav = client.get("/paper").get_data(as_text=True)
    assert "评议结果" not in nav and "发放与回收" not in nav and "修改密码" in nav


def _entries(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_changing_the_own_password_needs_the_current_one(app, client, staff) -> None:
    login(client, "committee")
    new = {"password": "新的密码-2026", "confirm": "新的密码-2026"}
    wrong = client.post("/account/password", data={"current": "wrong", **new})
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.text
    mismatch = client.post("/account/password", data={"current": PASSWORD, **new, "confirm": "other"})
    assert mismatch.status_code == 400 and "两次输入的密码不一致" in mismatch.text
    done = client.post("/account/password", data={"current": PASSWORD, **new})
    assert done.status_code == 302 and done.headers["Location"] == "/results"
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "committee"))
        assert user.check_password(new["password"]) and not user.check_password(PASSWORD)
    [entry] = _entries(app, "user.password_change")
    assert entry.username == "committee" and new["password"] not in str(entry.after)
    client.post("/logout")
    assert login(client, "committee").status_code == 200  # the old password is gone
    assert login(client, "committee", new["password"]).status_code == 302


def test_guessing_the_current_password_is_throttled(app, client, staff) -> None:
    login(client, "auditor")
    new = {"password": "新的密码-2026", "confirm": "新的密码-2026"}
    for _ in range(5):
        assert client.post("/account/password", data={"current": "guess", **new}).status_code == 400
    # Over the limit even the right password is not checked.
    throttled = client.post("/account/password", data={"current": PASSWORD, **new})
    assert throttled.status_code == 429 and "过多" in throttled.text
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "auditor")).check_password(PASSWORD)


def test_the_admin_resets_a_password_and_changes_a_role(app, client, staff) -> None:
    with app.app_context():
        organizer = db.session.scalar(select(User).where(User.username == "organizer")).id
    login(client, "admin")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "重置密码" in page and "修改角色" in page and "纸质表录入员" in page
    short = client.post(f"/admin/users/{organizer}/password", data={"password": "short"}, follow_redirects=True)
    assert "密码至少 8 位" in short.text
    assert client.post(f"/admin/users/{organizer}/password", data={"password": "重置后的新密码2026"}).status_code == 302
    refused = client.post(f"/admin/users/{organizer}/role", data={"role": "liaison", "unit": ""},
                          follow_redirects=True)
    assert "单位联络员必须选择所在单位" in refused.text
    assert client.post(f"/admin/users/{organizer}/role", data={"role": "clerk", "unit": ""}).status_code == 302
    with app.app_context():
        user = db.session.get(User, organizer)
        assert user.role == "clerk" and user.check_password("重置后的新密码2026")
    [reset] = _entries(app, "user.password_reset")
    assert reset.username == "admin" and reset.target == "user:organizer" and "重置后的新密码2026" not in str(reset.after)
    [role] = _entries(app, "user.role")
    assert role.before == {"role": "organizer", "unit": None, "component": None} and role.after == {"role": "clerk", "unit": None, "component": None}
    client.post("/logout")
    assert login(client, "organizer", "重置后的新密码2026").headers["Location"] == "/paper"


def test_the_admin_cannot_change_the_own_role(app, client, staff) -> None:
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin")).id
    login(client, "admin")
    answer = client.post(f"/admin/users/{admin}/role", data={"role": "clerk", "unit": ""}, follow_redirects=True)
    assert "不能修改自己的角色" in answer.text
    with app.app_context():
        assert db.session.get(User, admin).role == "admin"


def test_a_changed_or_reset_password_signs_out_every_other_session(app, client, staff) -> None:
    """A stolen session (or remember cookie) dies with the password: the member's
    own change keeps their session and ends the others; the admin's reset ends them all."""
    elsewhere, admin = app.test_client(), app.test_client()
    for c in (client, elsewhere):
        login(client if c is client else c, "committee")
        assert c.get("/results").status_code == 200
    new = {"current": PASSWORD, "password": "新的密码-2026", "confirm": "新的密码-2026"}
    assert client.post("/account/password", data=new).status_code == 302
    assert client.get("/results").status_code == 200  # the member's own session goes on
    assert "/login" in elsewhere.get("/results").headers.get("Location", "")  # the other one is signed out
    login(elsewhere, "committee", new["password"])
    assert elsewhere.get("/results").status_code == 200
    with app.app_context():
        committee = db.session.scalar(select(User.id).where(User.username == "committee"))
    login(admin, "admin")
    assert admin.post(f"/admin/users/{committee}/password", data={"password": "重置后的新密码2026"}).status_code == 302
    for c in (client, elsewhere):
        assert "/login" in c.get("/results").headers.get("Location", "")
