"""NUL (U+0000) from someone not signed in: the sign-in form and the public pages
answer 400 in the user's language, never a 500 (PostgreSQL refuses NUL in any text
value: the sign-in throttle's lookup failed with a DataError before this)."""
from __future__ import annotations

from sqlalchemy import func, select

from survey.extensions import db
from survey.models.signin import SignInFailure
from tests.factories import make_campaign


def test_nul_in_the_sign_in_form_or_a_public_query_is_a_400(app, client) -> None:
    with app.app_context():
        make_campaign()
        db.session.commit()
    answer = client.post("/login", data={"username": "admin\x00", "password": "x"})
    assert answer.status_code == 400 and "U+0000" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SignInFailure)) == 0  # nothing written
    for path in ("/login?next=%00", "/public/t2026?unit=%00"):
        assert client.get(path).status_code == 400, path
    english = client.post("/opinion?lang=en", data={"code": "A\x00"})
    assert english.status_code == 400 and "NUL (U+0000)" in english.get_data(as_text=True)
    # The questionnaire's own pages keep their own handling (the form shown again).
    assert client.post("/receipt", data={"receipt": "ABCD\x00EFGH"}).status_code == 422
