"""axe-core finds no serious or critical problem on the roster and bulk setup
pages of issue #11, and they fit a 390 px phone: the roster with its search,
a refused import offering its valid rows, one person's page, the units page
with its bulk form and a refused list, the questionnaire with its up/down
buttons and help texts, a test campaign's basics with archive and delete."""
from __future__ import annotations

from survey.distribution import services as distribution
from survey.extensions import db
from survey.models import Evaluator
from tests.factories import browser_login, make_user
from tests.survey.test_distribution_support import setup_campaign


def test_roster_and_bulk_setup_pages_pass_axe_at_390_px(app, live_server, browser, axe, tmp_path) -> None:
    with app.test_request_context():
        campaign = setup_campaign(status="draft", evaluators=3)
        campaign.is_test = True
        group = campaign.groups[0]
        distribution.create_batch(campaign, group, "email", evaluators=[
            e.id for e in distribution.eligible_evaluators(campaign, group, "email")])
        campaign.items[0].help = "对该单位工作的总体印象，包括服务态度和办事效率等方面的综合评价"
        person = db.session.query(Evaluator).first().id
        make_user("organizer")
        db.session.commit()
        db.session.remove()
    bad = tmp_path / "名单.csv"
    bad.write_text("姓名,手机,邮箱,评议主体\n张三,13800138000,,client\n李四,123,,client\n", encoding="utf-8")
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    found = {}

    def check(name: str) -> None:
        problems = axe(page)
        if problems:
            found[name] = problems
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, (name, width)

    try:
        browser_login(page, live_server, "organizer")
        assert page.goto(f"{live_server}/campaigns/t2026/roster?q=代表").status == 200
        check("roster search")
        page.set_input_files("input[type=file]", str(bad))
        page.get_by_role("button", name="导入", exact=True).click()
        page.get_by_test_id("import-valid").wait_for()
        check("refused import")
        assert page.goto(f"{live_server}/campaigns/t2026/roster/{person}").status == 200
        check("person")
        assert page.goto(f"{live_server}/campaigns/t2026/setup/units").status == 200
        page.get_by_label("粘贴单位列表", exact=False).fill("行政执法类\tu9\n\tbad code\t")
        page.get_by_role("button", name="批量添加").click()
        page.get_by_test_id("bulk-problems").wait_for()
        check("units with a refused list")
        assert page.goto(f"{live_server}/campaigns/t2026/setup/questionnaire").status == 200
        check("questionnaire")
        assert page.goto(f"{live_server}/campaigns/t2026/setup").status == 200
        page.get_by_test_id("discard").wait_for()
        check("test campaign basics")
        assert page.goto(f"{live_server}/campaigns/new").status == 200
        check("new campaign")
        assert found == {}
    finally:
        context.close()
