"""Role checks of every organizer page (setup, roster) and of the board, taken from the
URL map so that a new route is checked too: anonymous visitors go to the sign-in page
(the JSON API answers 401), other roles get 403, the allowed ones get in."""
from __future__ import annotations

import pytest
from flask import Flask

from tests.factories import login, make_campaign, make_user

#: Blueprint endpoints and who may use them (the admin reads them all and changes none: survey/policy.py).
ORGANIZER_ONLY = ("setup.", "roster.")
BOARD = ("campaigns.returns", "campaigns.returns_chart", "campaigns.unanswered", "campaigns.returns_api")
#: Pages of one row (a refused roster upload, a person) whose sample id the fixture does not make.
ROWS_NOT_MADE = {"roster.skipped_rows", "roster.person"}
VALUES = {"code": "t2026", "row_id": 1, "batch_code": "e1", "upload_id": 1, "evaluator_id": 1, "invitation_id": 1}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not (rule.endpoint.startswith(ORGANIZER_ONLY) or rule.endpoint in BOARD):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", str(VALUES[name])).replace(f"<{name}>", str(VALUES[name]))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


@pytest.fixture
def staff(app):
    with app.app_context():
        make_campaign(status="draft")
        for role in ("admin", "organizer", "committee", "auditor"):
            make_user(role)
        make_user("liaison", unit_code="u1")


def test_the_route_list_covers_the_pages(app) -> None:
    endpoints = {e for e, _m, _u in routes(app)}
    assert {"setup.new_campaign", "setup.basics", "setup.rules", "setup.add_unit", "setup.change_status",
            "roster.import_roster", "roster.template_xlsx", "campaigns.returns_api"} <= endpoints
    assert len(endpoints) >= 28


def test_anonymous_visitors_are_sent_to_sign_in(app, client, staff) -> None:
    for endpoint, method, url in routes(app):
        answer = client.open(url, method=method)
        if endpoint == "campaigns.returns_api":
            assert answer.status_code == 401, url
        else:
            assert answer.status_code == 302 and "/login?next=" in answer.headers["Location"], (method, url)


@pytest.mark.parametrize("role", ["liaison", "committee", "auditor"])
def test_other_roles_are_refused_the_setup_pages(app, client, staff, role) -> None:
    login(client, role)
    for endpoint, method, url in routes(app):
        answer = client.open(url, method=method)
        board = endpoint in BOARD
        if board and role != "liaison":
            assert answer.status_code != 403, (role, method, url)
        else:
            assert answer.status_code == 403, (role, method, url)


@pytest.mark.parametrize("role", ["organizer", "admin"])
def test_organizers_and_admins_get_in(app, client, staff, role) -> None:
    login(client, role)
    for endpoint, method, url in routes(app):
        if method == "GET" and endpoint in ROWS_NOT_MADE:  # let in: the sample row does not exist
            assert client.get(url).status_code == 404, (role, url)
        elif method == "GET":
            answer = client.get(url)
            assert answer.status_code == 200, (role, url, answer.status_code)
        elif role == "admin":
            # The admin manages accounts and reads; the organizer's changes are the organizer's.
            assert client.open(url, method=method).status_code == 403, (role, method, url)
        else:
            # An empty POST is a bad form, never a refusal.
            assert client.open(url, method=method).status_code not in (401, 403), (role, method, url)
