"""The authorization matrix, generated from the app's URL map: every endpoint
is declared in survey/policy.py, and every role (and an anonymous visitor)
gets what the table says on every endpoint, by GET and by POST. Under
/api/v1/ a role is an API key issued to an account of that role (the session
is ignored there)."""
from __future__ import annotations

from typing import Any

import pytest
from werkzeug.routing import Rule as UrlRule

from survey import models, policy
from survey.api import keys
from survey.errors import API_PREFIX
from survey.extensions import db
from survey.models import Unit, User
from tests.factories import make_user
from tests.survey.test_results_support import make_committee_campaign

ROLES = [None, *models.ROLES]


def test_every_endpoint_is_declared(app) -> None:
    assert policy.undeclared(app) == []
    assert set(policy.POLICY) <= {r.endpoint for r in app.url_map.iter_rules()}, "a rule for no endpoint"


def _value(name: str, converter: str, ids: dict[str, Any]) -> Any:
    samples = {"code": "t2026", "campaign_code": "t2026", "bcode": "e1", "batch_code": "e1", "unit_code": "u1", "scode": "s1", "session_code": "s1",
               "token": "AbC-12_xyzAbC-12_xyzAbC1", "public_code": "nothing", "part": "plan",
               "name": "ranking-all", "fmt": "png", "filename": "pingyi.css", "user_id": ids["victim"],
               "group_code": "client", "month": "2026-03", "step": "accept", "case_code": "DC2026-00001", "opinion_code": "YJ2026-00001", "opinion_step": "assign",
               # the API's ids in the path (survey/api/carrying.py: its rules take text)
               "consequence_id": "1", "follow_up_id": "1"}
    if name in samples:
        return samples[name]
    assert converter == "RowIdConverter", f"no sample value for <{name}>"
    return 1


def _url(app: Any, rule: UrlRule, ids: dict[str, Any]) -> str:
    values = {name: _value(name, type(conv).__name__, ids) for name, conv in rule._converters.items()}
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _sign_in(client: Any, user_id: int | None) -> None:
    if user_id is not None:
        with client.application.app_context():
            user = db.session.get(User, user_id)
            assert user is not None
            session_id = user.get_id()
    with client.session_transaction() as session:
        session.clear()
        if user_id is not None:
            session["_user_id"] = session_id
            session["_fresh"] = True


def _to_sign_in(response: Any) -> bool:
    return response.status_code in (301, 302, 303) and "/login" in response.headers.get("Location", "")


@pytest.mark.slow
def test_every_role_gets_what_the_table_says_on_every_endpoint(app, client) -> None:
    with app.app_context():
        make_committee_campaign()
        accounts = {role: make_user(role, unit_code="u1" if role == "liaison" else None)
                    for role in ROLES if role is not None}
        users = {role: user.id for role, user in accounts.items()}
        api_keys = {role: keys.issue(user, "walk")[1] for role, user in accounts.items()}
        db.session.commit()
        victim = make_user("organizer", username="victim").id
        rules = sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint)
    wrong = []
    for rule in rules:
        access = policy.POLICY[rule.endpoint]
        url = _url(app, rule, {"victim": victim})
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            for role in ROLES:
                _sign_in(client, users.get(role) if role else None)
                # The API: the role's key (the session above is ignored there; no role, no key).
                headers = {"Authorization": f"Bearer {api_keys[role]}"} if role and url.startswith(API_PREFIX) else {}
                response = client.open(url, method=method, data={}, headers=headers)
                status = response.status_code
                response.close()
                if access.admits(role, method):
                    # (signing out of a public page may well lead to the sign-in page)
                    ok = status not in (401, 403) and status < 500 and (
                        policy.ANYONE in access.roles or not _to_sign_in(response))
                    want = "admitted (no 401/403/sign-in, no 5xx)"
                elif role is None:
                    ok = status == 401 if url.startswith("/api/") else _to_sign_in(response)
                    want = "401" if url.startswith("/api/") else "sent to sign in"
                else:
                    ok = status == access.others
                    want = str(access.others)
                if not ok:
                    wrong.append(f"{method} {url} as {role or 'anonymous'}: {status}, want {want}")
    _sign_in(client, None)
    assert wrong == [], "\n".join(wrong)


def test_the_api_walk_reaches_the_api(app) -> None:
    """The walk above covers the API's endpoints (a key for each role), not only the pages."""
    api_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith(API_PREFIX)]
    assert len(api_rules) >= 18
    assert any("POST" in (r.methods or ()) for r in api_rules)  # the API's writes are walked too
    assert all(r.endpoint in policy.POLICY for r in api_rules)


def test_a_signed_in_session_is_no_key(app, client) -> None:
    """A staff member signed in to the pages is anonymous to the API: 401 on every
    endpoint that needs a key, whatever the role."""
    with app.app_context():
        make_committee_campaign()
        users = {role: make_user(role, unit_code="u1" if role == "liaison" else None).id
                 for role in ROLES if role is not None}
        rules = [r for r in app.url_map.iter_rules() if r.rule.startswith(API_PREFIX)
                 and policy.ANYONE not in policy.POLICY[r.endpoint].roles]
    for role, user_id in users.items():
        _sign_in(client, user_id)
        for rule in rules:
            url = _url(app, rule, {"victim": user_id})
            for method in sorted((rule.methods or set()) & {"GET", "POST"}):  # reads and writes alike
                assert client.open(url, method=method, json={}).status_code == 401, (method, url, role)


def test_a_liaison_sees_only_the_own_unit(app, client) -> None:
    with app.app_context():
        make_committee_campaign()
        db.session.add(Unit(code="u99", name="别的单位"))
        db.session.commit()
        other = make_user("liaison", username="other", unit_code="u99").id
    _sign_in(client, other)
    assert client.get("/my/t2026").status_code == 404  # its unit is not rated in this campaign
    assert client.post("/my/t2026/plan", data={"text": "x"}).status_code == 404


def test_the_admin_reads_but_does_not_act_for_the_committee(app, client) -> None:
    with app.app_context():
        make_committee_campaign()
        admin = make_user("admin").id
    _sign_in(client, admin)
    assert client.get("/results/t2026").status_code == 200
    for path in ("/results/t2026/approve", "/results/t2026/finalize", "/results/t2026/publish",
                 "/results/t2026/override"):
        assert client.post(path, data={}).status_code == 403, path
    with app.app_context():
        assert db.session.get(User, admin) is not None
