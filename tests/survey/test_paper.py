"""Paper forms: printed with serials and a QR code of the personal link,
keyed in twice by two clerks, differences resolved by an organizer, and never
more ballots in a batch than forms issued."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from survey.ballots import submission
from survey.distribution import services
from survey.distribution.routes import qr_svg
from survey.extensions import db
from survey.models import Answer, Ballot, Batch, Evaluator, Invitation, PaperEntry, ScaleOption
from tests.factories import login, make_user
from tests.survey.test_distribution_support import setup_campaign
from tests.survey.test_mail import vote


def paper_setup(app, forms: int = 3, *, anonymous: bool = True):
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0, anonymous=anonymous, units=2, items=2)
        services.create_batch(campaign, campaign.groups[0], "paper", count=forms, code="P")
        db.session.commit()
        for name in ("clerk1", "clerk2"):
            make_user("organizer", username=name)
        options = {o.code: o.id for o in campaign.scale}
        cells = [(u.id, i.id) for u in campaign.units for i in campaign.items]
    return options, cells


def key(client, serial: str, values: dict[tuple[int, int], int | None], comments: dict[int, str] | None = None):
    data = {"serial": serial}
    for (u, i), option in values.items():
        data[f"a_{u}_{i}"] = "" if option is None else str(option)
    for u, text in (comments or {}).items():
        data[f"c_{u}"] = text
    return client.post("/distribution/t2026/paper", data=data)


def as_clerk(client, name: str) -> None:
    client.post("/logout")
    login(client, name)


def test_print_page_has_serials_and_qr_of_each_link(app, client) -> None:
    app.config["PINGYI_PUBLIC_URL"] = "http://pingyi.test"
    paper_setup(app, 3)
    login(client, "clerk1")
    html = client.get("/distribution/t2026/batches/P/print").get_data(as_text=True)
    assert re.findall(r'data-testid="serial">([^<]+)<', html) == ["P-0001", "P-0002", "P-0003"]
    assert html.count("<svg") == 3 and "☐" in html and "市第2局" in html and "基本满意" in html
    with app.test_request_context():
        token = db.session.scalar(select(Invitation.pending_token).where(Invitation.serial == "P-0002"))
        assert str(qr_svg(services.link_for(token))) in html  # the QR holds the personal link
    assert client.get(f"/b/{token}").status_code == 200  # fill online instead, if preferred
    asked = client.post("/distribution/t2026/batches/P/printed")
    assert asked.status_code == 200 and "不能撤销" in asked.text  # asked first: nothing erased yet
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Invitation.pending_token.is_not(None))) == 3
    done = client.post("/distribution/t2026/batches/P/printed", data={"confirmed": "1"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Invitation.pending_token.is_not(None))) == 0
        assert set(db.session.scalars(select(Invitation.delivery))) == {"printed"}
    assert "<svg" not in client.get("/distribution/t2026/batches/P/print").get_data(as_text=True)
    assert client.get(f"/b/{token}").status_code == 200  # the printed link still works


def test_two_agreeing_entries_make_the_ballot(app, client) -> None:
    options, cells = paper_setup(app)
    values = {c: options["S"] for c in cells}
    values[cells[-1]] = None  # left blank on the form
    login(client, "clerk1")
    first = key(client, "P-0001", values)
    assert first.status_code == 302
    page = client.get("/distribution/t2026/paper").get_data(as_text=True)
    assert "第一遍已录入" in page
    again = key(client, "P-0001", values)
    assert again.status_code == 409 and "另一位录入员" in again.get_data(as_text=True)
    as_clerk(client, "clerk2")
    key(client, "P-0001", values)
    assert "两遍录入一致" in client.get("/distribution/t2026/paper").get_data(as_text=True)
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert len(ballot.answers) == len(cells) - 1
        assert ballot.invitation_id is None  # anonymous campaign
        invitation = db.session.scalar(select(Invitation).where(Invitation.serial == "P-0001"))
        assert submission.taken(invitation, None)  # claimed now; marked used at the next flush
        # The clerks' keyed entries went in the ballot's own transaction.
        assert db.session.scalar(select(func.count(PaperEntry.id))) == 0
    third = key(client, "P-0001", values)
    assert third.status_code == 409 and "已录入完成" in third.get_data(as_text=True)
    assert key(client, "X-9", values).status_code == 404


def test_disagreement_is_resolved_by_an_organizer(app, client) -> None:
    options, cells = paper_setup(app)
    first = {c: options["S"] for c in cells}
    second = dict(first)
    second[cells[1]] = options["D"]
    login(client, "clerk1")
    key(client, "P-0002", first)
    as_clerk(client, "clerk2")
    key(client, "P-0002", second)
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 0
    page = client.get("/distribution/t2026/paper/conflicts").get_data(as_text=True)
    assert 'data-serial="P-0002"' in page and "不满意" in page
    u, i = cells[1]
    # 未填 is the visible default of every differing cell.
    assert 'data-testid="default-blank"' in page
    assert re.search(rf'<select name="r_{u}_{i}"[^>]*>\s*<option value="" selected>未填（默认）</option>', page)
    client.post("/distribution/t2026/paper/conflicts", data={"serial": "P-0002", f"r_{u}_{i}": options["B"]})
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        chosen = db.session.scalar(select(ScaleOption.code).join(Answer, Answer.option_id == ScaleOption.id)
                                   .where(Answer.campaign_unit_id == u, Answer.item_id == i))
        assert chosen == "B" and len(ballot.answers) == len(cells)
        assert db.session.scalar(select(func.count(PaperEntry.id))) == 0
    assert 'data-testid="no-conflicts"' in client.get("/distribution/t2026/paper/conflicts").get_data(as_text=True)


def test_never_more_ballots_than_forms_issued(app, client) -> None:
    options, cells = paper_setup(app, 3)
    values = {c: options["S"] for c in cells}
    login(client, "clerk1")
    for serial in ("P-0001", "P-0002"):
        as_clerk(client, "clerk1")
        key(client, serial, values)
        as_clerk(client, "clerk2")
        key(client, serial, values)
    lowered = client.post("/distribution/t2026/batches/P/issued", data={"issued": "1"}, follow_redirects=True)
    assert "发放数不能少于已回收数" in lowered.get_data(as_text=True)
    client.post("/distribution/t2026/batches/P/issued", data={"issued": "2"})
    with app.app_context():
        assert db.session.scalar(select(Batch.issued).where(Batch.code == "P")) == 2
    refused = key(client, "P-0003", values)
    assert refused.status_code == 409
    assert "回收数不能超过发放数" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 2
        assert db.session.scalar(select(func.count(PaperEntry.id))) == 0


def test_two_clerks_keying_one_form_at_once_get_a_message_not_an_error(app, client, monkeypatch) -> None:
    """Both read "no entry yet" and both write entry 1: the second is told to
    look the serial up again; what the first keyed counts, nothing is half-written."""
    options, cells = paper_setup(app, 1)
    values = {c: options["S"] for c in cells}
    login(client, "clerk1")
    assert key(client, "P-0001", values).status_code == 302
    monkeypatch.setattr(services, "entries_of", lambda invitation: [])  # clerk2 read before clerk1 wrote
    as_clerk(client, "clerk2")
    answer = key(client, "P-0001", values)
    assert answer.status_code == 409
    assert "另一位录入员刚刚录入了编号 P-0001" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(PaperEntry.id))) == 1
        assert db.session.scalar(select(func.count(Ballot.id))) == 0


def test_a_named_paper_form_leaves_out_the_evaluators_own_unit(app, client) -> None:
    """As their link's form does: a named form neither prints nor takes a
    rating of the unit the evaluator works in."""
    with app.test_request_context():
        campaign = setup_campaign(evaluators=2, anonymous=False, units=2, items=1)
        own = campaign.units[0]
        first = db.session.scalar(select(Evaluator).where(Evaluator.name == "代表0"))
        first.own_unit_id = own.unit_id
        services.create_batch(campaign, campaign.groups[0], "paper", evaluators=services.ROSTER, code="N")
        db.session.commit()
        make_user("organizer", username="clerk1")
        own_name, other_name = own.name, campaign.units[1].name
        serial = db.session.scalar(select(Invitation.serial).where(Invitation.evaluator_id == first.id))
    login(client, "clerk1")
    html = client.get("/distribution/t2026/batches/N/print").get_data(as_text=True)
    sheets = {m.group(1): m.group(2) for m in re.finditer(
        r'<section class="sheet" data-serial="([^"]+)">(.*?)</section>', html, re.S)}
    assert own_name not in sheets[serial] and other_name in sheets[serial]
    assert all(own_name in text for s, text in sheets.items() if s != serial)
    entry = client.get("/distribution/t2026/paper", query_string={"serial": serial}).get_data(as_text=True)
    assert other_name in entry and own_name not in entry


@pytest.mark.db
def test_a_difference_nobody_picks_resolves_to_blank(app, client) -> None:
    options, cells = paper_setup(app)
    first = {c: options["S"] for c in cells}
    second = dict(first)
    second[cells[0]] = options["D"]
    login(client, "clerk1")
    key(client, "P-0003", first)
    as_clerk(client, "clerk2")
    key(client, "P-0003", second)
    answer = client.post("/distribution/t2026/paper/conflicts", data={"serial": "P-0003"}, follow_redirects=True)
    assert "编号 P-0003 已核对，计入回收" in answer.get_data(as_text=True)
    u, i = cells[0]
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert len(ballot.answers) == len(cells) - 1
        assert not any(a.campaign_unit_id == u and a.item_id == i for a in ballot.answers)


@pytest.mark.db
def test_the_serial_is_checked_before_the_answer_grid(app, client) -> None:
    """Unknown, already keyed by this clerk, already complete: said on the
    serial, before any answer is typed."""
    options, cells = paper_setup(app)
    values = {c: options["S"] for c in cells}
    login(client, "clerk1")
    fresh = client.get("/distribution/t2026/paper", query_string={"serial": "P-0001"})
    assert fresh.status_code == 200 and 'name="a_' in fresh.get_data(as_text=True)
    unknown = client.get("/distribution/t2026/paper", query_string={"serial": "X-9"})
    assert unknown.status_code == 404 and 'name="a_' not in unknown.get_data(as_text=True)
    assert "编号 X-9 不是本次评议的纸质表" in unknown.get_data(as_text=True)
    key(client, "P-0001", values)
    mine = client.get("/distribution/t2026/paper", query_string={"serial": "P-0001"})
    text = mine.get_data(as_text=True)
    assert mine.status_code == 409 and 'name="a_' not in text and "第二遍须由另一位录入员录入" in text
    as_clerk(client, "clerk2")
    assert client.get("/distribution/t2026/paper", query_string={"serial": "P-0001"}).status_code == 200
    key(client, "P-0001", values)
    done = client.get("/distribution/t2026/paper", query_string={"serial": "P-0001"})
    assert done.status_code == 409 and "已录入完成" in done.get_data(as_text=True)
    assert 'name="a_' not in done.get_data(as_text=True)


@pytest.mark.db
def test_a_form_submitted_online_through_its_qr_reads_complete(app, client) -> None:
    """The printed QR is the form's own personal link (one invitation, one
    ballot): submitted online, the form is complete, and the clerk is told
    no more than that."""
    options, cells = paper_setup(app)
    with app.test_request_context():
        token = db.session.scalar(select(Invitation.pending_token).where(Invitation.serial == "P-0002"))
    login(client, "clerk1")
    client.post("/distribution/t2026/batches/P/printed")
    vote(app.test_client(), token)  # the evaluator chose the QR over the paper
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 1
    page = client.get("/distribution/t2026/paper", query_string={"serial": "P-0002"})
    text = page.get_data(as_text=True)
    assert page.status_code == 409 and "编号 P-0002 的评议表已录入完成" in text and 'name="a_' not in text
    assert "扫码在线提交" in text  # either way, not which
    refused = key(client, "P-0002", {c: options["S"] for c in cells})
    assert refused.status_code == 409 and "已录入完成" in refused.get_data(as_text=True)


@pytest.mark.db
def test_the_serial_field_takes_a_scanned_qr_link(app, client) -> None:
    """A keyboard-wedge scanner types the QR's whole link: it finds the same
    form as its serial; a link of another channel or campaign does not."""
    app.config["PINGYI_PUBLIC_URL"] = "http://pingyi.test"
    paper_setup(app)
    with app.test_request_context():
        token = db.session.scalar(select(Invitation.pending_token).where(Invitation.serial == "P-0003"))
        link = services.link_for(token)
    login(client, "clerk1")
    client.post("/distribution/t2026/batches/P/printed")  # the clear token is gone; its hash still finds the form
    lookup = client.get("/distribution/t2026/paper").get_data(as_text=True)
    assert re.search(r'<form method="post"[^>]*>\s*<input type="hidden" name="csrf_token"', lookup)
    for scanned in (link, f"  {link}  ", f"/b/{token}", "P-0003"):
        # Posted, and sent on to an address holding only the printed serial: the
        # token is in no URL (a proxy's access log, the browser's history).
        found = client.post("/distribution/t2026/paper", data={"serial": scanned, "lookup": "1"})
        assert found.status_code == 303, scanned
        assert found.headers["Location"].endswith("/distribution/t2026/paper?serial=P-0003"), scanned
        page = client.get(found.headers["Location"])
        assert page.status_code == 200, scanned
        assert '<span data-testid="serial">P-0003</span>' in page.get_data(as_text=True)
    wrong = client.post("/distribution/t2026/paper", data={"serial": "http://pingyi.test/b/notatoken1", "lookup": "1"})
    text = wrong.get_data(as_text=True)
    assert wrong.status_code == 404 and "扫描的二维码不是本次评议的纸质表" in text
    said = re.search(r'flash-error" role="status">(.*?)<', text, re.S)
    assert said and "/b/…" in said.group(1) and "notatoken1" not in said.group(1)  # the message repeats no token


@pytest.mark.db
def test_comments_are_keyed_once_on_the_second_entry(app, client) -> None:
    options, cells = paper_setup(app)
    values = {c: options["S"] for c in cells}
    unit = cells[0][0]
    login(client, "clerk1")
    first = client.get("/distribution/t2026/paper", query_string={"serial": "P-0001"}).get_data(as_text=True)
    assert 'name="c_' not in first and "由第二遍录入员录入" in first
    key(client, "P-0001", values, {unit: "第一遍不录意见"})
    as_clerk(client, "clerk2")
    second = client.get("/distribution/t2026/paper", query_string={"serial": "P-0001"}).get_data(as_text=True)
    assert f'name="c_{unit}"' in second
    too_long = key(client, "P-0001", values, {unit: "长" * 2001})
    assert too_long.status_code == 409
    key(client, "P-0001", values, {unit: "  窗口排队太久  "})
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert [(c.campaign_unit_id, c.text) for c in ballot.comments] == [(unit, "窗口排队太久")]


@pytest.mark.db
def test_a_conflicting_forms_comments_come_with_its_resolution(app, client) -> None:
    options, cells = paper_setup(app)
    first = {c: options["S"] for c in cells}
    second = {**first, cells[0]: options["D"]}
    unit = cells[0][0]
    login(client, "clerk1")
    key(client, "P-0001", first)
    as_clerk(client, "clerk2")
    key(client, "P-0001", second, {unit: "<script>alert(1)</script>"})
    page = client.get("/distribution/t2026/paper/conflicts").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    client.post("/distribution/t2026/paper/conflicts", data={"serial": "P-0001"})
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        assert [c.text for c in ballot.comments] == ["<script>alert(1)</script>"]


@pytest.mark.db
def test_planted_markup_on_print_and_entry_is_escaped(app, client) -> None:
    paper_setup(app, 1)
    mark = '<img src=x onerror="alert(1)">'
    with app.app_context():
        from survey.models import Campaign

        campaign = db.session.scalar(select(Campaign))
        campaign.name = mark
        campaign.units[0].name = mark
        db.session.commit()
    login(client, "clerk1")
    for url in ("/distribution/t2026/batches/P/print", "/distribution/t2026/paper?serial=P-0001"):
        html = client.get(url).get_data(as_text=True)
        assert mark not in html and "&lt;img src=x" in html, url


def test_a_long_form_is_split_into_labelled_sheets() -> None:
    """Units never split across sheets; the first sheet holds fewer (title,
    QR, margin questions); at least one sheet."""
    units = list(range(24))
    sheets = services.form_sheets(units, 1, 1)
    assert [u for s in sheets for u in s] == units and len(sheets) == 2
    assert len(sheets[0]) == services.FIRST_SHEET_ROWS - 2
    assert all(len(s) <= services.LATER_SHEET_ROWS for s in sheets[1:])
    two_items = services.form_sheets(units, 2)
    assert all(len(s) * 2 <= services.LATER_SHEET_ROWS for s in two_items)
    assert services.form_sheets([], 1) == [[]]
    assert services.form_sheets(units[:3], 1) == [[0, 1, 2]]


@pytest.mark.db
def test_every_printed_sheet_carries_campaign_serial_and_page(app, client) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0, units=30, items=1)
        services.create_batch(campaign, campaign.groups[0], "paper", count=2, code="P")
        db.session.commit()
        make_user("organizer", username="clerk1")
        name = campaign.name
    login(client, "clerk1")
    html = client.get("/distribution/t2026/batches/P/print").get_data(as_text=True)
    strips = re.findall(r'data-testid="sheet-strip">([^<]*)<strong>([^<]+)</strong>([^<]*)</p>', html)
    assert [(serial, page.strip(" ·")) for _n, serial, page in strips] == [
        ("P-0001", "第1页/共2页"), ("P-0001", "第2页/共2页"), ("P-0002", "第1页/共2页"), ("P-0002", "第2页/共2页")]
    assert all(name in n for n, _s, _p in strips)
    assert html.count('data-testid="comment-box"') == 60  # one 意见建议 box per unit, as the web form
