"""The Word drafts (.docx) the office edits and signs: 通报批评 of the 不满意
units, 书面检查通知 of the 基本满意 ones, the 媒体公布名单, the 整改通知 of a
unit with its weakest indicators and the comments it must answer. Each opens
with python-docx, is A4, names the right units, prints planted markup as text."""
from __future__ import annotations

import copy
import io
from typing import Any

from docx import Document
from sqlalchemy import select

from survey.extensions import db
from survey.models import Comment, Consequence
from survey.results import documents, queries
from tests.factories import login, make_user
from tests.survey.test_report_pdf import MARKUP, TITLE, UNITS, _campaign, _finalize

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _download(client: Any, code: str, name: str, query: str = "") -> Any:
    response = client.get(f"/results/{code}/drafts/{name}.docx{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == DOCX
    doc = Document(io.BytesIO(response.data))
    section = doc.sections[0]
    assert abs(section.page_width.mm - 210) < 0.1 and abs(section.page_height.mm - 297) < 0.1  # A4
    return doc


def _text(doc: Any) -> str:
    """Every paragraph's and table cell's text, a line each."""
    lines = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            lines += [cell.text for cell in row.cells]
    return "\n".join(lines)


def _comments(campaign: Any, code: str) -> list[Comment]:
    cu = queries.campaign_unit(campaign, code)
    return list(db.session.scalars(select(Comment).where(Comment.campaign_unit_id == cu.id)))


def _seeded_comments(campaign: Any) -> None:
    """u3's comments, one per ballot, the group's code in the text (the first with planted markup)."""
    from survey.models import Ballot

    cu = queries.campaign_unit(campaign, "u3")
    ballots = db.session.scalars(select(Ballot).where(Ballot.campaign_id == campaign.id).order_by(Ballot.public_id))
    for n, b in enumerate(ballots, start=1):
        planted = "<script>alert(1)</script>" if n == 1 else ""
        db.session.add(Comment(ballot_id=b.id, campaign_unit_id=cu.id,
                               text=f"{b.batch.group.code} 意见第{n}条：{planted}办事要跑好几趟"))
    db.session.commit()


def test_the_drafts_of_a_finalized_campaign_name_the_right_units(app, client, ctx) -> None:
    campaign = _campaign()
    _seeded_comments(campaign)
    _finalize(client, campaign, ["zhang"])  # u1 满意, u2 基本满意 (the planted name), u3 不满意
    code = campaign.code

    criticism = _text(_download(client, code, "criticism"))
    assert "关于对市住房和城乡建设局予以通报批评的通报（草稿）" in criticism
    assert UNITS["u1"] not in criticism and MARKUP not in criticism
    assert "民主评议工作领导小组办公室组织服务对象、专家学者对被评议单位进行了评议" in criticism and TITLE in criticism
    assert "尚未定稿" not in criticism

    inspection = _download(client, code, "inspection")
    text = _text(inspection)
    assert f"关于{MARKUP}提交书面检查的通知（草稿）" in text  # the planted name as typed, in the title
    assert UNITS["u3"] not in text and UNITS["u1"] not in text
    due = db.session.scalar(select(Consequence.due_on).where(Consequence.kind == "self_examination"))
    assert documents.chinese_date(due) in text  # the deadline of the consequence made at 定稿

    media = _text(_download(client, code, "media"))
    assert UNITS["u3"] in media and UNITS["u1"] not in media and MARKUP not in media

    notice = _download(client, code, "rectification", "?unit=u3")
    text = _text(notice)
    assert "关于市住房和城乡建设局做好评议整改工作的通知（草稿）" in text
    assert UNITS["u1"] not in text
    # the comments the unit's liaison may see: the client group's (12 ballots); the three experts'
    # (fewer than min_group_ballots, no pool large enough) stay withheld
    for comment in _comments(campaign, "u3"):
        shown = not comment.text.startswith("expert")
        assert (comment.text in text) == shown, comment.text
    assert "client 意见第1条：<script>alert(1)</script>办事要跑好几趟" in text  # planted markup as text
    assert "待答复" in text
    assert "需要重点改进的指标" in text  # the per-item figures of SCORING.md section 5a

    everyone = _text(_download(client, code, "rectification"))
    for name in UNITS.values():
        assert f"关于{name}做好评议整改工作的通知（草稿）" in everyone


def test_the_raw_docx_escapes_planted_markup(app, client, ctx) -> None:
    campaign = _campaign()
    make_user("organizer")
    login(client, "organizer")
    import zipfile

    data = client.get(f"/results/{campaign.code}/drafts/inspection.docx").data
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        xml = book.read("word/document.xml").decode("utf-8")
    assert "&lt;b&gt;markup&lt;/b&gt;市税务局" in xml and "<b>markup" not in xml
    assert "尚未定稿" in xml  # before 定稿 the drafts say the figures may still change


def test_the_rectification_notice_names_the_weakest_indicators(app, client, ctx, monkeypatch) -> None:
    campaign = _campaign()
    make_user("committee")
    login(client, "committee")
    real = documents.parsed

    def with_items(snap: Any) -> dict[str, Any]:
        results = copy.deepcopy(real(snap))
        for unit in results["units"]:
            unit["items"] = {"i0": {"n": 12, "score": 48.25, "group_scores": {}, "shares": None, "ci95": [40.0, 55.0]}}
        return results

    monkeypatch.setattr(documents, "parsed", with_items)
    text = _text(_download(client, campaign.code, "rectification", "?unit=u2"))
    assert "需要重点改进的指标" in text and "总体评价" in text and "48.25" in text and "40.0–55.0" in text


def test_a_draft_with_no_unit_to_name_is_refused_on_the_results_page(app, client, ctx) -> None:
    campaign = _campaign()
    make_user("committee")
    login(client, "committee")
    client.post(f"/results/{campaign.code}/override",
                data={"unit": "u3", "new_class": "basically_satisfied", "reason": "经复核调整"})
    response = client.get(f"/results/{campaign.code}/drafts/criticism.docx")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/results/{campaign.code}")
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert "没有评为“不满意”的单位，无需通报批评" in page
    assert client.get(f"/results/{campaign.code}/drafts/nothing.docx").status_code == 404
    assert client.get(f"/results/{campaign.code}/drafts/media.docx?unit=u3").status_code == 404
    assert client.get(f"/results/{campaign.code}/drafts/rectification.docx?unit=u99").status_code == 404


def test_the_results_page_offers_the_drafts_to_the_committee_and_the_organizer_only(app, client, ctx) -> None:
    campaign = _campaign()
    for role in ("committee", "organizer", "auditor"):
        make_user(role)
    url = f"/results/{campaign.code}/drafts/criticism.docx"
    for role, offered in (("committee", True), ("organizer", True), ("auditor", False)):
        login(client, role)
        page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
        assert ('data-testid="drafts"' in page) == offered, role
        assert (url in page) == offered, role
        assert client.get(url).status_code == (200 if offered else 403), role
        client.post("/logout")
