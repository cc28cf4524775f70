"""Paper forms: printed with serials and a QR code of the personal link,
keyed in twice by two clerks, differences resolved by an organizer, and never
more ballots in a batch than forms issued."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from survey.ballots import submission
from survey.distribution import services
from survey.distribution.routes import qr_svg
from survey.extensions import db
from survey.models import Answer, Ballot, Batch, Evaluator, Invitation, PaperEntry, ScaleOption
from tests.factories import login, make_user
from tests.survey.test_distribution_support import setup_campaign


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


def key(client, serial: str, values: dict[tuple[int, int], int | None]):
    data = {"serial": serial}
    for (u, i), option in values.items():
        data[f"a_{u}_{i}"] = "" if option is None else str(option)
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
    incomplete = client.post("/distribution/t2026/paper/conflicts", data={"serial": "P-0002"})
    assert incomplete.status_code == 302
    assert "还有 1 处差异未选定" in client.get("/distribution/t2026/paper/conflicts").get_data(as_text=True)
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
