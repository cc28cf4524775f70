"""Bulk setup (issue #11): categories and units pasted or imported (every
problem by row, all or nothing), items and options moved up and down by plain
forms, an item's help text on the form, the copy-from list that never
defaults to a demo or test campaign, test campaigns archived or deleted
before they open (through the lifecycle)."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from survey.campaigns import setup
from survey.errors import Conflict
from survey.extensions import db
from survey.models import AuditEntry, Campaign, CampaignUnit, Evaluator, Invitation
from tests.factories import login, make_campaign, make_user
from tests.survey.test_distribution_support import setup_campaign
from tests.survey.test_setup import _campaign, build_from_scratch

pytestmark = pytest.mark.db


@pytest.fixture
def organizer(app, client):
    with app.app_context():
        make_user("organizer")
    login(client, "organizer")
    return client


def new_campaign(client, code: str, **extra: str) -> None:
    answer = client.post("/campaigns/new", data={
        "code": code, "name": f"{code} 评议", "year": "2027", "anonymous": "y", "return_target": "90",
        "copy_from": "", **extra})
    assert answer.status_code == 302, answer.text


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# --- categories and units at once ----------------------------------------------------------


def test_pasted_units_add_their_categories_and_units(app, organizer) -> None:
    new_campaign(organizer, "c2027")
    text = ("类别\t单位代码\t单位名称\n"
            "行政执法类\tu01\t市公安局\n"
            "行政执法类\tu02\t市税务局\n"
            "社会服务类,u03,市医保局,Medical Insurance Bureau\n"
            "svc2 u04 市人社局\n"
            "综合管理类\n")  # a category alone
    answer = organizer.post("/campaigns/c2027/setup/units/bulk", data={"text": text}, follow_redirects=True)
    assert answer.status_code == 200 and "已添加 4 个单位" in answer.text and "新增类别 4 个" in answer.text
    with app.app_context():
        c = _campaign("c2027")
        assert [(cc.code, cc.label) for cc in c.categories] == [("c1", "行政执法类"), ("c2", "社会服务类"),
                                                                ("svc2", "svc2"), ("c3", "综合管理类")]
        assert [(u.code, u.name, u.category.label, u.name_en) for u in c.units] == [
            ("u01", "市公安局", "行政执法类", None), ("u02", "市税务局", "行政执法类", None),
            ("u03", "市医保局", "社会服务类", "Medical Insurance Bureau"), ("u04", "市人社局", "svc2", None)]
    assert audit_actions(app).count("setup.bulk_units") == 1
    # A second campaign reuses the records by name or code; a known unit needs no name.
    new_campaign(organizer, "c2028")
    answer = organizer.post("/campaigns/c2028/setup/units/bulk", data={"text": "行政执法类\tu01\n社会服务类\tu03\t"},
                            follow_redirects=True)
    assert "已添加 2 个单位" in answer.text
    with app.app_context():
        c = _campaign("c2028")
        assert [(cc.code, u.code, u.name) for cc, u in zip(c.categories, c.units, strict=True)] == [
            ("c1", "u01", "市公安局"), ("c2", "u03", "市医保局")]


def test_a_list_with_problems_adds_nothing_and_says_where(app, organizer) -> None:
    new_campaign(organizer, "c2027")
    organizer.post("/campaigns/c2027/setup/units/bulk", data={"text": "行政执法类\tu01\t市公安局"})
    text = ("行政执法类\tu02\t市税务局\n"       # row 1: fine
            "\tu03\t市医保局\n"                # row 2: no category
            "行政执法类\tu 4\t市人社局\n"        # row 3: bad code
            "行政执法类\tu02\t又一个\n"          # row 4: repeats row 1
            "行政执法类\tu01\t市公安局\n"        # row 5: already in the campaign
            "新类别\tnew9\n")                  # row 6: a new unit needs its name
    answer = organizer.post("/campaigns/c2027/setup/units/bulk", data={"text": text})
    assert answer.status_code == 400 and "有 5 处问题，没有添加任何类别或单位" in answer.text
    rows = re.findall(r'<td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td>', answer.text)
    assert [(r, c) for r, c, _ in rows] == [("2", "类别"), ("3", "单位代码"), ("4", "单位代码"), ("5", "单位代码"),
                                            ("6", "单位名称")]
    assert "与第 1 行重复" in answer.text and "已在本次评议中" in answer.text and "是新单位，请填写名称" in answer.text
    assert "市税务局" in answer.text  # the text is shown again, to be fixed
    with app.app_context():
        assert [u.code for u in _campaign("c2027").units] == ["u01"]


def test_units_from_an_xlsx_or_csv_file(app, organizer) -> None:
    new_campaign(organizer, "c2027")
    workbook = Workbook()
    for row in (["类别", "单位代码", "单位名称"], ["行政执法类", "u01", "市公安局"], ["社会服务类", "u02", "市医保局"]):
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    answer = organizer.post("/campaigns/c2027/setup/units/bulk", data={"text": "", "file": (io.BytesIO(out.getvalue()), "单位.xlsx")},
                            content_type="multipart/form-data", follow_redirects=True)
    assert "已添加 2 个单位" in answer.text
    bad = "类别,单位代码,单位名称\n社会服务类,u03,\n".encode("gb18030")
    answer = organizer.post("/campaigns/c2027/setup/units/bulk", data={"file": (io.BytesIO(bad), "单位.csv")},
                            content_type="multipart/form-data")
    assert answer.status_code == 400 and "单位.csv" in answer.text and "u03 是新单位" in answer.text
    old = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100
    answer = organizer.post("/campaigns/c2027/setup/units/bulk", data={"file": (io.BytesIO(old), "单位.xls")},
                            content_type="multipart/form-data")
    assert answer.status_code == 400 and "请另存为 .xlsx" in answer.text
    with app.app_context():
        assert db.session.scalar(select(func.count(CampaignUnit.id))) == 2


def test_planted_markup_in_a_pasted_list_is_escaped(app, organizer) -> None:
    new_campaign(organizer, "c2027")
    answer = organizer.post("/campaigns/c2027/setup/units/bulk",
                            data={"text": "<b>类</b>\tu01\t<script>alert(1)</script>\n\tbad code\t<i>x</i>"})
    assert answer.status_code == 400 and "<script>alert(1)" not in answer.text and "<i>x</i>" not in answer.text
    organizer.post("/campaigns/c2027/setup/units/bulk", data={"text": "<b>类</b>\tu01\t<script>alert(1)</script>"})
    page = organizer.get("/campaigns/c2027/setup/units").text
    assert "<script>alert(1)" not in page and "<b>类</b>" not in page and "&lt;script&gt;" in page


# --- order and help text ------------------------------------------------------------------


def test_items_and_options_move_up_and_down_without_javascript(app, organizer) -> None:
    build_from_scratch(organizer)
    base = "/campaigns/c2027/setup"
    organizer.post(f"{base}/items", data={"code": "speed", "label": "办事效率", "weight": "1"})
    with app.app_context():
        c = _campaign("c2027")
        speed = c.items[1].id
        unknown = c.scale[3].id
    page = organizer.get(f"{base}/questionnaire").text
    assert f'action="{base}/items/{speed}/move"' in page and 'name="direction" value="up"' in page
    answer = organizer.post(f"{base}/items/{speed}/move", data={"direction": "up"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"#item-{speed}")
    organizer.post(f"{base}/options/{unknown}/move", data={"direction": "up"})
    organizer.post(f"{base}/options/{unknown}/move", data={"direction": "up"})
    organizer.post(f"{base}/items/{speed}/move", data={"direction": "up"})  # first already: nothing
    with app.app_context():
        c = _campaign("c2027")
        assert [i.code for i in c.items] == ["speed", "overall"]
        assert [o.code for o in c.scale] == ["S", "U", "B", "D"]
    assert audit_actions(app).count("setup.reorder") == 3
    assert organizer.post(f"{base}/items/{speed}/move", data={"direction": "sideways"}).status_code == 302
    with app.app_context():
        assert [i.code for i in _campaign("c2027").items] == ["speed", "overall"]
        c = _campaign("c2027")
        c.status = "open"  # the order is fixed once the campaign opens (the first item is 总体评价 by default)
        db.session.commit()
    answer = organizer.post(f"{base}/items/{speed}/move", data={"direction": "down"}, follow_redirects=True)
    assert "只能在草稿状态下进行" in answer.text
    with app.app_context():
        assert [i.code for i in _campaign("c2027").items] == ["speed", "overall"]


def test_an_items_help_text_is_shown_on_the_form_escaped(app, client) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(items=2)
        make_user("organizer")
        item = campaign.items[0]
        item_id = item.id
    login(client, "organizer")
    client.post(f"/campaigns/t2026/setup/items/{item_id}", data={
        "label": "总体评价", "weight": "1", "label_en": "Overall",
        "help": "对该单位的总体印象 <script>alert(1)</script>", "help_en": "Your overall impression"})
    with app.app_context():
        assert db.session.get(type(item), item_id).help == "对该单位的总体印象 <script>alert(1)</script>"
    page = client.get(f"/b/{tokens[0]}").text
    assert 'data-testid="item-help"' in page and "对该单位的总体印象 &lt;script&gt;" in page
    assert "<script>alert(1)" not in page
    english = client.get(f"/b/{tokens[0]}?lang=en").text
    assert "Your overall impression" in english
    # The help is kept when the item is copied to next year's campaign.
    with app.test_request_context():
        copy = setup.copy_campaign(db.session.scalar(select(Campaign)), code="t2027", name="下一年", year=2027)
        assert copy.items[0].help.startswith("对该单位的总体印象")
    # Too long a help is refused with what is wrong.
    answer = client.post(f"/campaigns/t2026/setup/items/{item_id}", data={
        "label": "总体评价", "weight": "1", "help": "长" * 501}, follow_redirects=True)
    assert "说明最多 500 字" in answer.text


# --- copying and test campaigns -------------------------------------------------------------


def test_the_copy_list_never_defaults_to_a_demo_or_test_campaign(app, organizer) -> None:
    with app.app_context():
        real = setup_campaign(code="r2025", evaluators=0)
        real.year = 2025
        demo = setup_campaign(code="2026", evaluators=0)
        demo.is_demo, demo.year = True, 2026
        db.session.commit()
    new_campaign(organizer, "try1", is_test="y")
    page = organizer.get("/campaigns/new").text
    selected = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', page)
    assert selected and "r2025" in selected.groups()
    assert "（演示活动）" in page and "（测试活动）" in page
    with app.app_context():
        assert _campaign("try1").is_test and setup.previous_campaign(2030).code == "r2025"
    # With only demo and test campaigns, the default is a blank start.
    with app.app_context():
        db.session.delete(_campaign("r2025"))
        db.session.commit()
    page = organizer.get("/campaigns/new").text
    assert re.search(r'<option selected value=""|<option value="" selected', page)


def test_a_test_campaign_is_archived_or_deleted_before_it_opens(app, organizer) -> None:
    new_campaign(organizer, "try1", is_test="y")
    new_campaign(organizer, "real1")
    page = organizer.get("/campaigns/try1/setup").text
    assert 'data-testid="discard"' in page
    assert 'data-testid="discard"' not in organizer.get("/campaigns/real1/setup").text
    answer = organizer.post("/campaigns/try1/archive", follow_redirects=True)
    assert "已归档测试活动" in answer.text and 'data-testid="archived"' in answer.text
    with app.app_context():
        assert _campaign("try1").state.is_archived
    # An archived campaign neither opens nor is offered to copy from.
    assert "try1" not in organizer.get("/campaigns/new").text
    answer = organizer.post("/campaigns/try1/status", data={"target": "open", "confirmed": "1"}, follow_redirects=True)
    assert "请先恢复" in answer.text
    organizer.post("/campaigns/try1/restore")
    with app.app_context():
        assert not _campaign("try1").state.is_archived
        c = _campaign("try1")
        db.session.add(Evaluator(group_id=_group_id(), name="试用者", email="t@example.cn", attributes={},
                                 campaign_id=c.id))
        db.session.commit()
    # Deleting asks first, then removes the campaign with its roster.
    asked = organizer.post("/campaigns/try1/delete")
    assert asked.status_code == 200 and "不能撤销" in asked.text
    answer = organizer.post("/campaigns/try1/delete", data={"confirmed": "1"}, follow_redirects=True)
    assert "已删除测试活动" in answer.text
    with app.app_context():
        assert _campaign("try1") is None and db.session.scalar(select(func.count(Evaluator.id))) == 0
    # A real campaign is neither archived nor deleted.
    for url in ("/campaigns/real1/archive", "/campaigns/real1/delete"):
        answer = organizer.post(url, data={"confirmed": "1"}, follow_redirects=True)
        assert "只有尚未开始评议的测试活动可以归档或删除" in answer.text
    with app.app_context():
        assert _campaign("real1") is not None
    assert {"campaign.archive", "campaign.restore", "campaign.delete"} <= set(audit_actions(app))


def _group_id() -> int:
    from survey.models import EvaluatorGroup

    group = EvaluatorGroup(code="tg", label="试用组")
    db.session.add(group)
    db.session.flush()
    return group.id


def test_an_opened_test_campaign_stays(app) -> None:
    with app.test_request_context():
        campaign, _tokens = make_campaign(status="open", invitations=1)
        campaign.is_test = True
        with pytest.raises(Conflict, match="测试活动"):
            campaign.state.archive()
        with pytest.raises(Conflict):
            setup.delete_campaign(campaign)
        db.session.rollback()
        assert db.session.scalar(select(func.count(Invitation.id))) == 1
