"""The audit log: every committee and staff action is recorded; nobody can
change or delete an entry (the application refuses, and so does the database)."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from survey import audit
from survey.extensions import db
from survey.models import AuditEntry
from survey.models.audit import AuditLogError
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign


def test_record_keeps_who_when_what_before_and_after(app, client):
    with app.test_request_context():
        user = make_user("organizer")
        from flask_login import login_user

        login_user(user)
        entry = audit.record("veto.create", "campaign:t/unit:u1", None, {"reason": "事故", "due": __import__("datetime").date(2026, 1, 2)})
        db.session.commit()
        assert (entry.user_id, entry.username) == (user.id, "organizer")
        assert entry.after == {"reason": "事故", "due": "2026-01-02"} and entry.before is None
        assert entry.at is not None


def test_the_application_refuses_to_change_or_delete_entries(ctx):
    entry = audit.record("x.y", "t", {"a": 1}, {"a": 2})
    db.session.commit()
    entry.action = "z"
    with pytest.raises(AuditLogError):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogError):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).action == "x.y"


def test_the_database_refuses_to_change_or_delete_entries(ctx):
    audit.record("x.y", "t", None, {"a": 2})
    db.session.commit()
    for statement in (update(AuditEntry).values(action="forged"), delete(AuditEntry),
                      text("UPDATE audit_entry SET after = NULL")):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(statement)
        db.session.rollback()
    assert db.session.scalars(select(AuditEntry.action)).all() == ["x.y"]


def test_the_auditor_reads_the_log_and_nobody_else(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    make_user("auditor")
    login(client, "committee")
    client.post(f"/results/{campaign.code}/approve")
    assert client.get("/audit").status_code == 403
    client.post("/logout")
    login(client, "auditor")
    page = client.get("/audit").get_data(as_text=True)
    assert 'data-action="results.approve"' in page and f"campaign:{campaign.code}" in page and "committee" in page
    # (the action filter lists every action; no entry row matches)
    assert 'data-action="results.approve"' not in client.get("/audit?target=nothing-like-this").get_data(as_text=True)
