"""Roster management (issue #11): search, edit and delete a person, send one
person's invitation again with a new link, import the valid rows of a refused
file, and refuse .xls / WPS .et files with what to do."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from survey import jobs
from survey.distribution import services as distribution
from survey.extensions import db
from survey.models import AuditEntry, Ballot, Batch, Evaluator, Invitation, ReplacedLink, RosterUpload
from survey.roster import services
from survey.roster.services import RosterRefused
from tests.factories import login, make_user
from tests.smtp import smtp_config
from tests.survey.test_distribution_support import setup_campaign
from tests.survey.test_mail import LINK, vote
from tests.survey.test_roster import GOOD, HEADER, csv_bytes

pytestmark = pytest.mark.db


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


@pytest.fixture
def organizer(app, client):
    with app.app_context():
        setup_campaign(status="draft", evaluators=3)
        make_user("organizer")
    login(client, "organizer")
    return client


def person_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Evaluator.id).where(Evaluator.name == name))


# --- .xls and .et ----------------------------------------------------------------------


@pytest.mark.parametrize("filename, data", [
    ("名单.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
    ("名单.et", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
    ("renamed.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),  # an .xls given a new name
])
def test_xls_and_wps_files_are_refused_with_save_as_xlsx(app, organizer, filename, data) -> None:
    with app.test_request_context(), pytest.raises(RosterRefused) as refused:
        services.read_table(filename, data)
    assert "请另存为 .xlsx" in refused.value.problems[0].reason
    answer = organizer.post("/campaigns/t2026/roster", data={"file": (io.BytesIO(data), filename)},
                            content_type="multipart/form-data")
    assert answer.status_code == 400 and "请另存为 .xlsx" in answer.text and 'data-testid="import-valid"' not in answer.text


# --- the valid rows of a refused file ------------------------------------------------


def test_the_valid_rows_of_a_refused_file_are_imported_on_confirmation(app, organizer) -> None:
    bad = [["赵六", "12345", "", "", "client", "", "", ""],  # row 5: bad phone
           ["孙七", "", "", "", "nobody", "", "", ""]]  # row 6: no contact, unknown group
    data = csv_bytes([HEADER, *GOOD, *bad])
    answer = organizer.post("/campaigns/t2026/roster", data={"file": (io.BytesIO(data), "名单.csv")},
                            content_type="multipart/form-data")
    assert answer.status_code == 400 and "未导入任何人" in answer.text
    assert "把其中 3 行有效数据加入名单" in answer.text and "下载有问题的 2 行" in answer.text
    upload = int(re.search(r"/roster/uploads/(\d+)/import", answer.text).group(1))
    with app.app_context():
        assert db.session.scalar(select(func.count(Evaluator.id))) == 3  # only the three of setup_campaign

    skipped = organizer.get(f"/campaigns/t2026/roster/uploads/{upload}/skipped.csv")
    assert skipped.status_code == 200 and "attachment" in skipped.headers["Content-Disposition"]
    lines = skipped.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("问题,姓名,手机") and len(lines) == 3
    assert "赵六" in lines[1] and "手机号码格式不对" in lines[1] and "孙七" in lines[2] and "未知评议主体" in lines[2]

    # Without confirmation nothing happens; with a count that no longer holds, nothing either.
    answer = organizer.post(f"/campaigns/t2026/roster/uploads/{upload}/import", data={"expected": "2"},
                            follow_redirects=True)
    assert "现在有 3 行有效" in answer.text
    answer = organizer.post(f"/campaigns/t2026/roster/uploads/{upload}/import", data={"expected": "3"},
                            follow_redirects=True)
    assert answer.status_code == 200 and "中的 3 名评议代表，2 行有问题未导入" in answer.text
    assert 'data-testid="recent-uploads"' in answer.text
    with app.app_context():
        names = set(db.session.scalars(select(Evaluator.name)))
        assert {"张三", "李四", "王五"} <= names and not {"赵六", "孙七"} & names
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "roster.import_valid"))
        assert entry.after == {"文件": "名单.csv", "人数": 3, "未导入行数": 2}
    # Only once.
    answer = organizer.post(f"/campaigns/t2026/roster/uploads/{upload}/import", data={"expected": "3"},
                            follow_redirects=True)
    assert "已经导入过了" in answer.text
    with app.app_context():
        assert db.session.scalar(select(func.count(Evaluator.id))) == 6
    # The skipped rows stay downloadable (the three now on the roster are not among them).
    again = organizer.get(f"/campaigns/t2026/roster/uploads/{upload}/skipped.csv").data.decode("utf-8-sig")
    assert len(again.splitlines()) == 3


def test_a_file_whose_header_is_wrong_offers_no_partial_import(app, organizer) -> None:
    data = csv_bytes([["姓名", "手机"], ["张三", "13800138000"]])
    answer = organizer.post("/campaigns/t2026/roster", data={"file": (io.BytesIO(data), "名单.csv")},
                            content_type="multipart/form-data")
    assert answer.status_code == 400 and 'data-testid="import-valid"' not in answer.text
    with app.app_context():
        assert db.session.scalar(select(func.count(RosterUpload.id))) == 0


def test_an_upload_of_another_campaign_is_not_found(app, organizer) -> None:
    with app.app_context():
        other = setup_campaign(code="other", evaluators=0)
        upload = RosterUpload(campaign_id=other.id, filename="x.csv", table=[HEADER, GOOD[0]])
        db.session.add(upload)
        db.session.commit()
        upload_id = upload.id
    assert organizer.get(f"/campaigns/t2026/roster/uploads/{upload_id}/skipped.csv").status_code == 404
    assert organizer.post(f"/campaigns/t2026/roster/uploads/{upload_id}/import",
                          data={"expected": "1"}).status_code == 404


# --- search, edit, delete ------------------------------------------------------------


def test_search_by_name_phone_email_and_group(app, organizer) -> None:
    page = organizer.get("/campaigns/t2026/roster?q=代表1").text
    assert "找到 1 人" in page and "rep1@example.cn" in page and "rep2@example.cn" not in page
    page = organizer.get("/campaigns/t2026/roster?q=13900000002").text
    assert "找到 1 人" in page and "代表2" in page
    page = organizer.get("/campaigns/t2026/roster?q=REP0@EXAMPLE").text
    assert "找到 1 人" in page and "代表0" in page
    assert "找到 3 人" in organizer.get("/campaigns/t2026/roster?group=client").text
    assert "找到 0 人" in organizer.get("/campaigns/t2026/roster?group=expert").text
    assert "找到 0 人" in organizer.get("/campaigns/t2026/roster?q=%25").text  # a wildcard is a character


def test_a_person_is_edited_with_every_problem_said_and_the_change_audited(app, organizer) -> None:
    pid = person_id(app, "代表0")
    page = organizer.get(f"/campaigns/t2026/roster/{pid}")
    assert page.status_code == 200 and 'value="rep0@example.cn"' in page.text
    fields = {"name": "代表0", "phone": "1390000", "email": "rep1@example.cn", "organisation": "", "group": "client",
              "own_unit": "zz"}
    answer = organizer.post(f"/campaigns/t2026/roster/{pid}", data=fields)
    assert answer.status_code == 400
    assert "手机：格式不对" in answer.text and "所在单位代码：未知" in answer.text and "已是名单中 代表1 的邮箱" in answer.text
    fields.update(phone="139 0000 9999", email="fixed@example.cn", own_unit="u1")
    answer = organizer.post(f"/campaigns/t2026/roster/{pid}", data=fields, follow_redirects=True)
    assert answer.status_code == 200 and "已保存 代表0 的信息" in answer.text
    with app.app_context():
        person = db.session.get(Evaluator, pid)
        assert (person.phone, person.email, person.own_unit.code) == ("13900009999", "fixed@example.cn", "u1")
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "roster.edit"))
        assert entry.before == {"手机": "13900000000", "邮箱": "rep0@example.cn", "所在单位代码": ""}
        assert entry.after == {"手机": "13900009999", "邮箱": "fixed@example.cn", "所在单位代码": "u1"}
    assert organizer.get("/campaigns/t2026/roster/999999").status_code == 404


def test_planted_markup_in_a_person_is_escaped(app, organizer) -> None:
    pid = person_id(app, "代表0")
    planted = '<script>alert(1)</script><b>x</b>'
    organizer.post(f"/campaigns/t2026/roster/{pid}", data={
        "name": planted, "phone": "", "email": "rep0@example.cn", "organisation": planted, "group": "client",
        "own_unit": ""})
    for url in (f"/campaigns/t2026/roster/{pid}", "/campaigns/t2026/roster", "/campaigns/t2026/roster?q=%3Cscript"):
        text = organizer.get(url).text
        assert "<script>alert(1)" not in text and "<b>x</b>" not in text and "&lt;script&gt;alert(1)" in text


def test_a_person_in_a_batch_keeps_their_group(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=2)
        group = campaign.groups[0]
        distribution.create_batch(campaign, group, "email", evaluators=[e.id for e in
                                  distribution.eligible_evaluators(campaign, group, "email")])
        person = db.session.scalars(select(Evaluator)).first()
        with pytest.raises(Exception, match="不能改评议主体"):
            services.update_person(campaign, person, name=person.name, phone="", email=person.email,
                                   organisation="", group_code="expert", own_unit_code="")


def test_deleting_a_person_keeps_their_ballot_and_kills_an_unused_link(app, client) -> None:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=2)
        group = campaign.groups[0]
        ids = [e.id for e in distribution.eligible_evaluators(campaign, group, "online")]
        batch_id = distribution.create_batch(campaign, group, "online", evaluators=ids).id
        db.session.commit()
        tokens = {i.evaluator.name: i.pending_token for i in db.session.scalars(select(Invitation))}
        make_user("organizer")
    assert all(tokens.values())
    assert vote(client, tokens["代表0"]) == 200
    login(client, "organizer")
    voter, other = person_id(app, "代表0"), person_id(app, "代表1")
    # The confirmation first: nothing is deleted without it.
    asked = client.post(f"/campaigns/t2026/roster/{voter}/delete")
    assert asked.status_code == 200 and "不能撤销" in asked.text
    with app.app_context():
        assert db.session.get(Evaluator, voter) is not None
    for pid in (voter, other):
        answer = client.post(f"/campaigns/t2026/roster/{pid}/delete", data={"confirmed": "1"}, follow_redirects=True)
        assert answer.status_code == 200 and "已从名单中删除" in answer.text
    with app.app_context():
        assert db.session.scalar(select(func.count(Evaluator.id))) == 0
        assert db.session.scalar(select(func.count(Ballot.id))) == 1  # the returned ballot stays
        invitations = list(db.session.scalars(select(Invitation)))
        assert len(invitations) == 2 and all(i.evaluator_id is None for i in invitations)
        assert db.session.get(Batch, batch_id).issued == 2
        assert actions().count("roster.delete") == 2
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "roster.delete"))
        assert entry.before == {"姓名": "代表0", "评议主体": "client"}
    assert client.get(f"/b/{tokens['代表1']}").status_code == 404  # the unused link is dead
    # the ballot's page no longer offers a form to its old link either
    assert vote(client, tokens["代表1"]) == 404


# --- one person's invitation sent again --------------------------------------------------


@pytest.fixture
def mailing(app, smtp_server):
    handler, port = smtp_server
    app.config.update(smtp_config(port), PINGYI_PUBLIC_URL="http://pingyi.test")
    return handler


def test_a_bounced_address_is_fixed_and_the_invitation_sent_again_with_a_new_link(app, client, mailing) -> None:
    mailing.refuse.add("rep1@example.cn")
    with app.test_request_context():
        campaign = setup_campaign(evaluators=2)
        group = campaign.groups[0]
        ids = [e.id for e in distribution.eligible_evaluators(campaign, group, "email")]
        batch = distribution.create_batch(campaign, group, "email", evaluators=ids)
        batch_code = batch.code
        distribution.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        make_user("organizer")
    first = {m.rcpt_tos[0]: LINK.search(m.body).group(1) for m in mailing.messages}
    assert list(first) == ["rep0@example.cn"]
    login(client, "organizer")
    bounced, reached = person_id(app, "代表1"), person_id(app, "代表0")
    page = client.get(f"/campaigns/t2026/roster/{bounced}").text
    assert "发送失败" in page and "550" in page and 'data-testid="resend"' in page
    batch_page = client.get("/distribution/t2026/batches/" + batch_code).text  # its failures lead to the person
    assert f'href="/campaigns/t2026/roster/{bounced}"' in batch_page
    client.post(f"/campaigns/t2026/roster/{bounced}", data={
        "name": "代表1", "phone": "", "email": "rep1.fixed@example.cn", "organisation": "", "group": "client",
        "own_unit": ""})
    with app.app_context():
        invitation = db.session.scalar(select(Invitation).where(Invitation.evaluator_id == bounced))
        inv_id = invitation.id
    url = f"/campaigns/t2026/roster/{bounced}/invitations/{inv_id}/resend"
    asked = client.post(url)
    assert asked.status_code == 200 and "rep1.fixed@example.cn" in asked.text and "立即失效" in asked.text
    answer = client.post(url, data={"confirmed": "1"}, follow_redirects=True)
    assert "已安排向 rep1.fixed@example.cn 重发邀请" in answer.text
    with app.app_context():
        jobs.run_pending()
    assert mailing.messages[-1].rcpt_tos == ["rep1.fixed@example.cn"]
    new = LINK.search(mailing.messages[-1].body).group(1)
    assert vote(client, new) == 200

    # The reached person loses their message: sent again, the old link says it was replaced.
    with app.app_context():
        inv_id = db.session.scalar(select(Invitation.id).where(Invitation.evaluator_id == reached))
    client.post(f"/campaigns/t2026/roster/{reached}/invitations/{inv_id}/resend", data={"confirmed": "1"})
    with app.app_context():
        jobs.run_pending()
        assert db.session.scalar(select(func.count(ReplacedLink.id)).where(ReplacedLink.kind == "resend")) == 2
        invitation = db.session.get(Invitation, inv_id)
        assert invitation.pending_token is None and invitation.delivery == "sent"
        assert actions().count("roster.resend") == 2
    old = client.get(f"/b/{first['rep0@example.cn']}")
    assert old.status_code == 410 and "重新发给您的邀请邮件中有一个新的个人链接" in old.text
    assert "the evaluation office sent you again" in client.get(f"/b/{first['rep0@example.cn']}?lang=en").text
    again = LINK.search(mailing.messages[-1].body).group(1)
    assert again != first["rep0@example.cn"] and client.get(f"/b/{again}").status_code == 200
    # In an anonymous campaign the page does not tell who has answered: the resend
    # to someone who has is answered alike, and nothing is sent to them.
    with app.app_context():
        voted = db.session.scalar(select(Invitation.id).where(Invitation.evaluator_id == bounced))
    sent_before = len(mailing.messages)
    person_page = client.get(f"/campaigns/t2026/roster/{bounced}").text
    assert 'data-testid="resend"' in person_page and "不需要重发" not in person_page
    answer = client.post(f"/campaigns/t2026/roster/{bounced}/invitations/{voted}/resend", data={"confirmed": "1"},
                         follow_redirects=True)
    assert "已安排向 rep1.fixed@example.cn 重发邀请" in answer.text
    with app.app_context():
        jobs.run_pending()
        assert db.session.get(Invitation, voted).delivery == "sent"
        assert db.session.scalar(select(func.count(Ballot.id))) == 1
    assert len(mailing.messages) == sent_before
    # SQLite: the claim is still pending, so the link keeps its token (a new one would admit a
    # second ballot) and says it is used; PostgreSQL: it was replaced. Either way, one ballot.
    vote(client, new)
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 1


def test_a_named_campaign_says_who_has_answered_and_a_reminder_is_never_shown_in_an_anonymous_one(app, mailing) -> None:
    with app.test_request_context():
        for code, anonymous in (("named", False), ("anon", True)):
            campaign = setup_campaign(code=code, anonymous=anonymous, evaluators=1)
            group = campaign.groups[0]
            batch = distribution.create_batch(campaign, group, "email", evaluators=[
                e.id for e in distribution.eligible_evaluators(campaign, group, "email")])
            invitation = db.session.scalars(select(Invitation).where(Invitation.batch_id == batch.id)).one()
            invitation.delivery, invitation.pending_token, invitation.used = "sent", None, True
            db.session.flush()
            refusal = distribution.resend_refusal(invitation)
            assert (refusal == "此人已提交评议表，不需要重发") is (not anonymous)
            invitation.used, invitation.pending_kind, invitation.delivery = False, "reminder", "failed"
            invitation.last_error = "550 no such user"
            shown = distribution.shown_delivery(invitation)
            assert shown == (("sent", None) if anonymous else ("failed", "550 no such user"))


def test_nothing_is_sent_again_before_the_campaign_opens(app) -> None:
    with app.test_request_context():
        campaign = setup_campaign(status="draft", evaluators=1)
        group = campaign.groups[0]
        batch = distribution.create_batch(campaign, group, "email", evaluators=[
            e.id for e in distribution.eligible_evaluators(campaign, group, "email")])
        invitation = db.session.scalars(select(Invitation).where(Invitation.batch_id == batch.id)).one()
        invitation.delivery = "failed"
        with pytest.raises(distribution.DistributionError, match="尚未开始"):
            distribution.resend_invitation(invitation)


def test_a_finalized_campaign_shows_a_person_without_forms_and_refuses_changes(app, organizer) -> None:
    pid = person_id(app, "代表0")
    answer = organizer.post(f"/campaigns/t2026/roster/{pid}", data={
        "name": "代表0", "phone": "", "email": "rep0@example.cn", "organisation": "", "group": "nobody",
        "own_unit": ""})
    assert answer.status_code == 400 and "评议主体：未知“nobody”" in answer.text
    with app.app_context():
        from survey.models import Campaign

        db.session.scalar(select(Campaign)).status = "finalized"
        db.session.commit()
    page = organizer.get(f"/campaigns/t2026/roster/{pid}").text
    assert 'data-testid="person-frozen"' in page and 'data-testid="person-form"' not in page
    assert 'data-testid="delete-person"' not in page
    answer = organizer.post(f"/campaigns/t2026/roster/{pid}/delete", data={"confirmed": "1"}, follow_redirects=True)
    assert "已定稿，不能再修改名单" in answer.text
    with app.app_context():
        assert db.session.get(Evaluator, pid) is not None
