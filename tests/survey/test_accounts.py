"""Staff sign-in and the role checks."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import User
from tests.factories import PASSWORD, login, make_campaign, make_user


@pytest.fixture
def staff(app):
    with app.app_context():
        make_campaign()
        for role in ("organizer", "committee", "auditor"):
            make_user(role)
        make_user("liaison", unit_code="u1")


def test_password_is_hashed(app, staff) -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "organizer"))
        assert PASSWORD not in user.password_hash and user.check_password(PASSWORD)
        assert not user.check_password("wrong")


def test_campaign_pages_need_sign_in(client, staff) -> None:
    answer = client.get("/campaigns/t2026")
    assert answer.status_code == 302 and "/login?next=" in answer.headers["Location"]


@pytest.mark.parametrize("role,status", [("organizer", 200), ("committee", 200), ("auditor", 200),
                                         ("liaison", 403)])
def test_roles_on_campaign_overview(client, staff, role, status) -> None:
    assert login(client, role).status_code == 302
    assert client.get("/campaigns/t2026").status_code == status


def test_wrong_password_says_so_without_naming_the_user(client, staff) -> None:
    for username in ("organizer", "nobody"):
        answer = client.post("/login", data={"username": username, "password": "nope"})
        assert answer.status_code == 200
        assert "用户名或密码不正确" in answer.get_data(as_text=True)
    assert client.get("/campaigns/t2026").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example/x",
                                    "/\tevil.example"])
def test_next_never_leaves_the_site(client, staff, target) -> None:
    answer = client.post("/login", query_string={"next": target},
                         data={"username": "organizer", "password": PASSWORD})
    assert answer.headers["Location"] == "/"
    client.post("/logout")
    answer = client.post("/login?next=/campaigns/t2026", data={"username": "organizer", "password": PASSWORD})
    assert answer.headers["Location"] == "/campaigns/t2026"


def test_logout(client, staff) -> None:
    login(client, "organizer")
    assert client.get("/").status_code == 200
    client.post("/logout")
    assert client.get("/").status_code == 302


def test_cli_creates_liaison_with_unit(app, staff) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "create", "li2", "--role", "liaison", "--unit", "u2",
                                 "--password", "s3cret!"])
    assert result.exit_code == 0, result.output
    refused = runner.invoke(args=["user", "create", "li3", "--role", "liaison", "--password", "x"])
    assert refused.exit_code != 0 and "--unit" in refused.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "li2"))
        assert user.unit.code == "u2" and user.check_password("s3cret!")


def test_liaison_lands_on_own_start_page(client, staff) -> None:
    answer = login(client, "liaison")
    assert answer.headers["Location"] == "/my"
    assert client.get("/my").status_code == 200
