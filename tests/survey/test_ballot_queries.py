"""The personal link's two hot requests run a fixed, small number of SQL
statements, whatever the size of the questionnaire (docs/architecture.md
says which counts are pinned and why)."""
from __future__ import annotations

from tests.factories import make_campaign
from tests.survey.test_ballots import ballot_count, form_fields


def test_form_and_fast_submission_statement_counts(app, client, count_queries) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=1, items=2, own_unit="u1")[1]
    with count_queries() as opening:
        page = client.get(f"/b/{tokens[0]}")
    assert page.status_code == 200
    fields = form_fields(page.get_data(as_text=True))
    fields[next(k for k in fields if k.startswith("a_")).replace("a_", "c_").rsplit("_", 1)[0]] = "好"
    with count_queries() as submitting:
        done = client.post(f"/b/{tokens[0]}", data=fields)
    assert done.status_code == 200 and "receipt" in done.get_data(as_text=True)
    assert ballot_count(app) == 1
    # The form: the invitation with its batch, campaign and evaluator; whether
    # its ballot is claimed (SQLite: the invitation is marked used only later,
    # submission.flush_used); the questionnaire (one UNION ALL); the draft; the
    # units with their categories.
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    assert len(opening) == (5 if sqlite else 4), opening
    # The fast submission: the link; the questionnaire; the claim (SQLite: the
    # ballot_claim row's insert, not an invitation's update), the draft's
    # deletion, the ballot, its answers (one executemany), its comments. On
    # PostgreSQL the last five are one statement (submission._CLAIM_AND_INSERT_PG).
    assert len(submitting) == (7 if sqlite else 3), submitting
