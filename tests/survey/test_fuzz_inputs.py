"""Property-based fuzzing (hypothesis, bounded) of the roster import and the
ballot POST: every input gets an answer (2xx/4xx, or the import's refusal),
never a 5xx or an exception, and a refused input writes nothing.
(Bundle import is fuzzed in tests/survey/test_bundle_limits.py.)"""
from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from survey.extensions import db
from survey.models import Ballot, BallotDraft, Campaign, Evaluator
from survey.roster import services
from tests.factories import make_campaign
from tests.survey.test_ballots import form_fields

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Text that tends to break parsers: control characters, surrogates' neighbours,
#: formula starts, markup, very long runs, digits that look like phones.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "=1+1", "+8613800000000", "13800000000", "<script>", "\x00", "\ufeff姓名",
                     "a@b.cn", "client", "u1", "评议主体", "手机", "邮箱", "x" * 300, "１３８００００００００"]),
)


def _count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.slow
def test_roster_import_answers_every_file_and_a_refusal_writes_nothing(app) -> None:
    with app.test_request_context():
        campaign, _tokens = make_campaign(status="draft", invitations=0)
        campaign_id = campaign.id

    @FUZZ
    @given(header=st.lists(nasty_text, min_size=0, max_size=8),
           rows=st.lists(st.lists(nasty_text, max_size=8), max_size=6),
           as_xlsx=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    def check(header: list[str], rows: list[list[str]], as_xlsx: bool, encoding: str) -> None:
        data, name = _file(header, rows, as_xlsx, encoding)
        with app.test_request_context():
            campaign = db.session.get(Campaign, campaign_id)
            before = _count(Evaluator)
            try:
                services.import_roster(campaign, name, data)
                db.session.rollback()  # keep every example on the same empty roster
            except services.RosterRefused as refused:
                db.session.rollback()
                assert refused.problems and all(p.reason for p in refused.problems)
                assert _count(Evaluator) == before

    check()


def _file(header: list[str], rows: list[list[str]], as_xlsx: bool, encoding: str) -> tuple[bytes, str]:
    if as_xlsx:
        from openpyxl import Workbook
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for row in [header, *rows]:
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", cell) for cell in row])  # openpyxl cannot write them
        out = io.BytesIO()
        book.save(out)
        return out.getvalue(), "名单.xlsx"
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    try:
        return text.getvalue().encode(encoding), "名单.csv"
    except UnicodeEncodeError:
        return text.getvalue().encode("utf-8", "surrogatepass"), "名单.csv"


@pytest.mark.slow
def test_a_ballot_post_of_any_shape_gets_an_answer_and_a_refusal_writes_nothing(app, client) -> None:
    with app.app_context():
        _campaign, tokens = make_campaign(invitations=1)
    token = tokens[0]
    valid = form_fields(client.get(f"/b/{token}").get_data(as_text=True))
    names = sorted(valid) + ["a_1_1", "a_999999999999_1", "c_1", "action", "receipt", "receipt_mac", "started",
                             "own_unit", "a_1_1\x00", "csrf_token"]

    @FUZZ
    @given(changes=st.dictionaries(st.sampled_from(names), nasty_text, max_size=6),
           drop=st.lists(st.sampled_from(sorted(valid)), max_size=3), duplicate=st.booleans())
    def check(changes: dict[str, str], drop: list[str], duplicate: bool) -> None:
        data = {k: v for k, v in valid.items() if k not in drop}
        data.update(changes)
        if (data.get("action") or "submit").strip() == "submit":
            # The link must stay open for the next example: a well-formed submission is
            # taken once, below; every malformed one is fuzzed as a review.
            data["action"] = "review"
        body = list(data.items()) + ([next(iter(data.items()))] if duplicate and data else [])
        with app.app_context():
            drafts_before = _count(BallotDraft)
        response = client.post(f"/b/{token}", data=MultiDict(body))
        assert response.status_code < 500, (response.status_code, body)
        with app.app_context():
            assert _count(Ballot) == 0
            if response.status_code >= 400:
                assert _count(BallotDraft) == drafts_before, body

    check()
    # And a submission of the untouched form still takes its ballot, once.
    assert client.post(f"/b/{token}", data=valid).status_code == 200
    with app.app_context():
        assert _count(Ballot) == 1
