"""Raking that works in anonymous campaigns (issue #12): a group's margins set
up on their page (validated as SCORING.md section 4 takes them, all or
nothing, copied with last year's campaign, in the bundle), margin questions
required on every channel, roster attributes only under the batch's k rule,
and the demo's raked group actually raked."""
from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from analysis import evaluate_document
from survey.ballots import attributes
from survey.bundles import export_bundle, import_bundle
from survey.campaigns import margins, setup
from survey.distribution import services
from survey.extensions import db
from survey.models import (
    Ballot,
    Campaign,
    Evaluator,
    Invitation,
    MarginTarget,
    MarginVariable,
    PaperEntry,
)
from tests.factories import bundle, login, make_campaign, make_user
from tests.survey.test_ballots import form_fields

QUESTION = "您所在的区"


def raked(supply: str = "question", **fields: Any) -> dict[str, Any]:
    """The bundle keys that rake group client on 区域 (东区 0.4, 西区 0.6)."""
    setup_fields = {"label": QUESTION, "source": "统计年鉴 2025", "supply": supply, **fields}
    return {"margins": {"client": {"区域": {"东区": 0.4, "西区": 0.6}}},
            "extensions": {"margins": {"client": {"区域": setup_fields}}}}


@pytest.fixture
def organizer(app, client):
    with app.app_context():
        make_user("organizer")
    login(client, "organizer")
    return client


def _campaign(code: str = "t2026") -> Campaign:
    db.session.expire_all()
    return db.session.scalar(select(Campaign).where(Campaign.code == code))


def _group_id(app, code: str = "t2026") -> int:
    with app.app_context():
        return _campaign(code).groups[0].id


def _add(client, group_id: int, code: str = "t2026", **data: str):
    form = {"variable": "区域", "label": QUESTION, "supply": "question", "source": "统计年鉴 2025",
            "categories": "东区 0.4\n西区 60%\n其他 0", "fallback": "", **data}
    return client.post(f"/campaigns/{code}/setup/groups/{group_id}/margins", data=form)


def _errors(html: str) -> list[str]:
    return re.findall(r'class="error" role="alert">([^<]*)<', html)


def _margins_of(app, code: str = "t2026") -> list[tuple[str, str, float]]:
    with app.app_context():
        return [(m.variable, m.category, m.proportion)
                for m in db.session.scalars(select(MarginTarget).order_by(MarginTarget.id))]


# --- the setup page ---------------------------------------------------------------


def test_a_group_margin_is_saved_with_its_source_and_shown_normalised(app, organizer) -> None:
    with app.app_context():
        make_campaign(status="draft")
    group = _group_id(app)
    assert _add(organizer, group).status_code == 302
    with app.app_context():
        variable = db.session.scalar(select(MarginVariable))
        assert (variable.variable, variable.label, variable.source, variable.supply) == \
            ("区域", QUESTION, "统计年鉴 2025", "question")
        doc = export_bundle(_campaign())
        assert doc["margins"] == {"client": {"区域": {"东区": 0.4, "西区": 0.6, "其他": 0}}}
        assert doc["extensions"]["margins"] == {"client": {"区域": {"label": QUESTION, "source": "统计年鉴 2025",
                                                                    "supply": "question"}}}
    page = organizer.get("/campaigns/t2026/setup/margins").get_data(as_text=True)
    assert "统计年鉴 2025" in page and "40.0%" in page and "60.0%" in page
    # Proportions are normalised, as SCORING.md does: 1 and 3 are 25% and 75%.
    with app.app_context():
        row_id = db.session.scalar(select(MarginVariable.id))
    edit = organizer.post(f"/campaigns/t2026/setup/margins/{row_id}", data={
        "variable": "区域", "label": QUESTION, "supply": "question", "source": "统计年鉴 2026",
        "categories": "东区 0.1\n西区 0.3\n其他 0", "fallback": ""})
    assert edit.status_code == 302
    page = organizer.get("/campaigns/t2026/setup/margins").get_data(as_text=True)
    assert "25.0%" in page and "75.0%" in page and "统计年鉴 2026" in page


@pytest.mark.parametrize("data,message", [
    ({"categories": "东区 0.4\n西区 abc"}, "边际变量“区域”第 2 行（类别“西区”）：比例“abc”不是数字"),
    ({"categories": "东区 0.4\n东区 0.6"}, "边际变量“区域”第 2 行（类别“东区”）：类别与第 1 行重复"),
    ({"categories": "东区 1.4\n西区 0.6"}, "边际变量“区域”第 1 行（类别“东区”）：比例应在 0 到 1 之间"),
    ({"categories": "东区 -0.1\n西区 0.6"}, "比例应在 0 到 1 之间"),
    ({"categories": "东区 0\n西区 0"}, "边际变量“区域”的比例之和必须大于 0"),
    ({"categories": "东区"}, "边际变量“区域”第 1 行“东区”：应写成“类别 比例”"),
    ({"categories": "\n \n"}, "边际变量“区域”没有类别"),
    ({"fallback": "南区"}, "边际变量“区域”的归并类别“南区”不在它的类别中"),
    ({"supply": "roster", "fallback": ""}, "边际变量“区域”取自名册：匿名评议中请指定归并类别"),
    ({"variable": ""}, "请填写边际变量名"),
    ({"variable": "区" * 65}, "不能超过 64 个字符"),
    ({"categories": "东区\x07 0.5"}, "类别名称含有控制字符"),
])
def test_the_margin_form_names_what_is_wrong_and_saves_nothing(app, organizer, data, message) -> None:
    with app.app_context():
        make_campaign(status="draft")
    group = _group_id(app)
    assert _add(organizer, group, variable="行业", categories="制造业 0.5\n服务业 0.5").status_code == 302
    before = _margins_of(app)
    answer = _add(organizer, group, **data)
    assert answer.status_code == 400
    assert any(message in e for e in _errors(answer.get_data(as_text=True))), _errors(answer.get_data(as_text=True))
    assert _margins_of(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count(MarginVariable.id))) == 1


def test_an_edit_with_a_problem_leaves_the_variable_as_it_was(app, organizer) -> None:
    with app.app_context():
        make_campaign(status="draft")
    assert _add(organizer, _group_id(app)).status_code == 302
    before = _margins_of(app)
    with app.app_context():
        row_id = db.session.scalar(select(MarginVariable.id))
    answer = organizer.post(f"/campaigns/t2026/setup/margins/{row_id}", data={
        "variable": "区域", "label": "新问题", "supply": "question", "source": "x",
        "categories": "东区 0.5\n西区 0.5\n南区 x"})
    assert answer.status_code == 400 and "比例“x”不是数字" in answer.get_data(as_text=True)
    assert _margins_of(app) == before
    with app.app_context():
        assert db.session.scalar(select(MarginVariable.label)) == QUESTION


def test_margin_edits_follow_the_lifecycle(app, organizer) -> None:
    with app.app_context():
        make_campaign(status="open", **raked())
        row_id = db.session.scalar(select(MarginVariable.id))
    url = f"/campaigns/t2026/setup/margins/{row_id}"
    base = {"variable": "区域", "label": QUESTION, "supply": "question", "source": "统计年鉴 2026"}
    # Proportions and their source change the scores, never the form: allowed while open.
    assert organizer.post(url, data={**base, "categories": "东区 0.5\n西区 0.5"}).status_code == 302
    assert (_margins_of(app)[0][2], _margins_of(app)[1][2]) == (0.5, 0.5)
    # A new category changes the form's question: refused once the campaign has opened.
    answer = organizer.post(url, data={**base, "categories": "东区 0.5\n西区 0.4\n南区 0.1"})
    assert answer.status_code == 400 and "评议活动已开始" in answer.get_data(as_text=True)
    assert len(_margins_of(app)) == 2
    refused = organizer.post(f"/campaigns/t2026/setup/margins/{row_id}/delete", follow_redirects=True)
    assert "评议活动已开始" in refused.get_data(as_text=True)
    with app.app_context():
        campaign = _campaign()
        campaign.status = "finalized"
        db.session.commit()
    answer = organizer.post(url, data={**base, "categories": "东区 0.4\n西区 0.6"})
    assert answer.status_code == 400 and "不能再作任何修改" in answer.get_data(as_text=True)
    assert (_margins_of(app)[0][2], _margins_of(app)[1][2]) == (0.5, 0.5)


def test_margins_are_copied_from_last_year(app, organizer) -> None:
    with app.app_context():
        source = make_campaign(status="closed", **raked("roster", fallback="西区"))[0]
        source.attribute_k = 8
        db.session.commit()
    answer = organizer.post("/campaigns/new", data={"code": "c2027", "name": "2027年度作风评议", "year": "2027",
                                                    "return_target": "90", "copy_from": "t2026"})
    assert answer.status_code == 302
    with app.app_context():
        old, new = export_bundle(_campaign("t2026")), export_bundle(_campaign("c2027"))
        assert new["margins"] == old["margins"] == {"client": {"区域": {"东区": 0.4, "西区": 0.6}}}
        # (supplied by the roster: the default, so not written)
        assert new["extensions"]["margins"] == old["extensions"]["margins"] == {"client": {"区域": {
            "label": QUESTION, "source": "统计年鉴 2025", "fallback": "西区"}}}
        assert new["extensions"]["attribute_k"] == 8


def test_the_bundle_carries_the_margins_setup_both_ways(app) -> None:
    with app.app_context():
        doc = bundle(**raked("roster", fallback="西区", label_en="Your district"))
        doc["extensions"]["attribute_k"] = 7
        campaign = import_bundle(doc, status="draft")
        db.session.commit()
        again = export_bundle(campaign)
        assert again["margins"] == doc["margins"]
        assert again["extensions"]["margins"] == {"client": {"区域": {
            "label": QUESTION, "label_en": "Your district", "source": "统计年鉴 2025", "fallback": "西区"}}}
        back = import_bundle({**again, "campaign": {**again["campaign"], "code": "b2026"}}, status="draft")
        assert export_bundle(back)["extensions"] == again["extensions"]
        assert again["extensions"]["attribute_k"] == 7
        # A bundle without the extension rakes on roster attributes named as the variable (the old meaning).
        plain = bundle("p2026", margins={"client": {"区域": {"东区": 1}}})
        variable = import_bundle(plain, status="draft").groups[0].margin_variables[0]
        assert (variable.variable, variable.label, variable.supply) == ("区域", "区域", "roster")


@pytest.mark.parametrize("setup_doc,path", [
    ({"client": {"区域": {"supply": "survey"}}}, "extensions.margins.client.区域.supply"),
    ({"client": {"区域": {"fallback": "南区"}}}, "extensions.margins.client.区域.fallback"),
    ({"client": {"行业": {"label": "x"}}}, "extensions.margins.client.行业"),
    ({"expert": {"区域": {"label": "x"}}}, "extensions.margins.expert"),
    ({"client": {"区域": {"label": "x" * 201}}}, "extensions.margins.client.区域.label"),
    ({"client": {"区域": {"colour": "red"}}}, "extensions.margins.client.区域.colour"),
])
def test_a_bad_margins_extension_is_refused_at_its_path(app, setup_doc, path) -> None:
    from analysis import BundleError

    with app.app_context():
        doc = bundle(**raked())
        doc["extensions"]["margins"] = setup_doc
        with pytest.raises(BundleError) as refused:
            import_bundle(doc)
        assert path in [p.path for p in refused.value.problems]
        assert db.session.scalar(select(func.count(Campaign.id))) == 0


@pytest.mark.parametrize("role", ["committee", "liaison", "auditor", "admin"])
def test_only_the_organizer_sets_margins_up(app, client, role) -> None:
    with app.app_context():
        make_campaign(status="draft", **raked())
        make_user(role, unit_code="u1" if role == "liaison" else None)
        row_id = db.session.scalar(select(MarginVariable.id))
        group_id = _campaign().groups[0].id
    login(client, role)
    reading = client.get("/campaigns/t2026/setup/margins").status_code
    assert reading == (200 if role == "admin" else 403)  # the admin reads the staff pages
    for url in (f"/campaigns/t2026/setup/groups/{group_id}/margins", f"/campaigns/t2026/setup/margins/{row_id}",
                f"/campaigns/t2026/setup/margins/{row_id}/delete", "/campaigns/t2026/setup/margins/k"):
        answer = client.post(url, data={"variable": "行业", "supply": "question", "categories": "A 1",
                                        "attribute_k": "9"})
        assert answer.status_code == 403, (role, url)
    with app.app_context():
        assert [v.variable for v in db.session.scalars(select(MarginVariable))] == ["区域"]
        assert _campaign().attribute_k == 5


def test_k_below_five_is_refused(app, organizer) -> None:
    with app.app_context():
        make_campaign(status="draft")
    answer = organizer.post("/campaigns/t2026/setup/margins/k", data={"attribute_k": "3"})
    assert answer.status_code == 400 and "k 至少为 5" in answer.get_data(as_text=True)
    assert organizer.post("/campaigns/t2026/setup/margins/k", data={"attribute_k": "9"}).status_code == 302
    with app.app_context():
        assert _campaign().attribute_k == 9


# --- margin questions on the web form, the fast path and the open channel -----------


def _without_margins(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if not k.startswith("m_")}


def _category_ids(app) -> dict[str, int]:
    with app.app_context():
        return {m.category: m.id for m in db.session.scalars(select(MarginTarget))}


def test_the_fast_path_refuses_a_ballot_without_the_margin_answer(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=2, **raked(label_en="Which district are you in?"))[1]
    english = client.get(f"/b/{tokens[0]}?lang=en").get_data(as_text=True)
    assert "Which district are you in?" in english and "(required)" in english and QUESTION not in english
    client.get(f"/b/{tokens[0]}?lang=zh")
    html = client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    assert QUESTION in html and "（必答）" in html
    fields = form_fields(html)
    assert any(k.startswith("m_") for k in fields)
    refused = client.post(f"/b/{tokens[0]}", data=_without_margins(fields))
    assert refused.status_code == 422
    assert f"请回答“{QUESTION}”" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 0
    question = next(k for k in fields if k.startswith("m_"))
    taken = client.post(f"/b/{tokens[0]}", data={**fields, question: str(_category_ids(app)["西区"])})
    assert taken.status_code == 200 and "receipt" in taken.get_data(as_text=True)
    with app.app_context():
        ballot = db.session.scalar(select(Ballot))
        # Anonymous: the answer, and nothing of the roster (the evaluator's 区域 is 东区 there).
        assert ballot.attributes == {"区域": "西区"} and ballot.invitation_id is None


def test_the_full_form_requires_the_margin_answer_and_shows_it_on_the_summary(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=1, **raked())[1]
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    question = next(k for k in fields if k.startswith("m_"))
    review = client.post(f"/b/{tokens[0]}", data={**_without_margins(fields), "action": "review"})
    assert review.status_code == 422
    text = review.get_data(as_text=True)
    assert f'href="#margin-{question[2:]}">请回答“{QUESTION}”' in text
    # Saved as a draft, the answer comes back with the form.
    east = str(_category_ids(app)["东区"])
    assert client.post(f"/b/{tokens[0]}", data={**fields, question: east, "action": "save"}).status_code == 303
    again = client.get(f"/b/{tokens[0]}").get_data(as_text=True)
    assert re.search(rf'<input checked[^>]* name="{question}"[^>]* value="{east}">', again)
    summary = client.post(f"/b/{tokens[0]}", data={**fields, question: east, "action": "review"})
    assert summary.status_code == 200
    body = summary.get_data(as_text=True)
    assert "东区" in body and f'name="{question}" value="{east}"' in body
    confirm = form_fields(body)
    assert client.post(f"/b/{tokens[0]}", data={**confirm, "action": "submit"}).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Ballot.attributes)) == {"区域": "东区"}


def test_a_value_not_among_the_categories_is_refused(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(invitations=1, **raked())[1]
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    question = next(k for k in fields if k.startswith("m_"))
    answer = client.post(f"/b/{tokens[0]}", data={**fields, question: "999999"})
    assert answer.status_code == 422
    assert ballot_total(app) == 0
    # A margin field the group's form does not have is not guessed at.
    answer = client.post(f"/b/{tokens[0]}", data={**fields, "m_999999": "1"})
    assert answer.status_code == 422 and "有多余或重复的栏目" in answer.get_data(as_text=True)
    assert ballot_total(app) == 0


def ballot_total(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Ballot.id))) or 0


def test_the_open_channel_asks_the_margin_question_too(app, client) -> None:
    with app.app_context():
        doc = raked()
        doc["margins"] = {"expert": doc["margins"]["client"]}
        doc["extensions"]["margins"] = {"expert": doc["extensions"]["margins"]["client"]}
        make_campaign(invitations=0, **doc)
    html = client.get("/p/t2026/p1").get_data(as_text=True)
    fields = form_fields(html)
    assert QUESTION in html
    refused = client.post("/p/t2026/p1", data={**_without_margins(fields), "action": "submit"})
    assert refused.status_code == 422 and f"请回答“{QUESTION}”" in refused.get_data(as_text=True)
    assert client.post("/p/t2026/p1", data={**fields, "action": "submit"}).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Ballot.attributes)) == {"区域": "东区"}


def test_a_raked_form_keeps_the_pinned_statement_counts(app, client, count_queries) -> None:
    """The margin questions come with the questionnaire's one UNION ALL:
    GET /b/<token> and the fast POST run as many statements as without them."""
    with app.app_context():
        tokens = make_campaign(invitations=1, items=2, own_unit="u1", **raked())[1]
    with count_queries() as opening:
        page = client.get(f"/b/{tokens[0]}")
    fields = form_fields(page.get_data(as_text=True))
    assert QUESTION in page.get_data(as_text=True)
    fields[next(k for k in fields if k.startswith("a_")).replace("a_", "c_").rsplit("_", 1)[0]] = "好"
    with count_queries() as submitting:
        done = client.post(f"/b/{tokens[0]}", data=fields)
    assert done.status_code == 200 and "receipt" in done.get_data(as_text=True)
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    assert len(opening) == (5 if sqlite else 4), opening
    assert len(submitting) == (7 if sqlite else 3), submitting
    with app.app_context():
        assert db.session.scalar(select(Ballot.attributes)) == {"区域": "东区"}


# --- paper ---------------------------------------------------------------------------


def _paper(app, forms: int = 2) -> tuple[dict[str, int], list[tuple[int, int]], int]:
    with app.test_request_context():
        campaign = import_bundle(bundle(units=2, **raked()), status="open")
        services.create_batch(campaign, campaign.groups[0], "paper", count=forms, code="P")
        for name in ("clerk1", "clerk2"):
            make_user("organizer", username=name)
        db.session.commit()
        options = {o.code: o.id for o in campaign.scale}
        cells = [(u.id, i.id) for u in campaign.units for i in campaign.items]
        question = campaign.groups[0].margin_variables[0].id
    return options, cells, question


def _key(client, serial: str, options: dict[str, int], cells: list[tuple[int, int]], question: int,
         category: int | None):
    data = {"serial": serial, **{f"a_{u}_{i}": str(options["S"]) for u, i in cells}}
    data[f"m_{question}"] = "" if category is None else str(category)
    return client.post("/distribution/t2026/paper", data=data)


def test_paper_forms_print_and_require_the_margin_question(app, client) -> None:
    options, cells, question = _paper(app)
    categories = _category_ids(app)
    login(client, "clerk1")
    printed = client.get("/distribution/t2026/batches/P/print").get_data(as_text=True)
    assert printed.count(QUESTION) == 2 and "西区" in printed  # on each form
    entry = client.get("/distribution/t2026/paper?serial=P-0001").get_data(as_text=True)
    assert QUESTION in entry and f'name="m_{question}"' in entry
    refused = _key(client, "P-0001", options, cells, question, None)
    assert refused.status_code == 409
    assert f"编号 P-0001：请录入“{QUESTION}”" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(PaperEntry.id))) == 0
    assert _key(client, "P-0001", options, cells, question, categories["东区"]).status_code == 302
    client.post("/logout")
    login(client, "clerk2")
    # The second clerk reads 西区: a difference the organizer settles.
    _key(client, "P-0001", options, cells, question, categories["西区"])
    page = client.get("/distribution/t2026/paper/conflicts").get_data(as_text=True)
    assert f'data-question="{question}"' in page and QUESTION in page
    client.post("/distribution/t2026/paper/conflicts", data={"serial": "P-0001"})
    assert ballot_total(app) == 0  # not settled yet
    client.post("/distribution/t2026/paper/conflicts", data={"serial": "P-0001", f"rm_{question}": categories["西区"]})
    with app.app_context():
        assert db.session.scalar(select(Ballot.attributes)) == {"区域": "西区"}
        assert db.session.scalar(select(func.count(PaperEntry.id))) == 0


def test_two_agreeing_paper_entries_carry_the_answer(app, client) -> None:
    options, cells, question = _paper(app)
    east = _category_ids(app)["东区"]
    login(client, "clerk1")
    _key(client, "P-0002", options, cells, question, east)
    client.post("/logout")
    login(client, "clerk2")
    _key(client, "P-0002", options, cells, question, east)
    with app.app_context():
        assert db.session.scalar(select(Ballot.attributes)) == {"区域": "东区"}


# --- the k rule ---------------------------------------------------------------------


def _value_counts(rows: list[dict[str, str] | None]) -> Counter[tuple[tuple[str, str], ...]]:
    """How many of the batch share each released value, and each released combination of values."""
    counts: Counter[tuple[tuple[str, str], ...]] = Counter()
    for row in rows:
        items = sorted((row or {}).items())
        for r in range(1, len(items) + 1):
            for combination in itertools.combinations(items, r):
                counts[combination] += 1
    return counts


ROSTER = ([{"区域": "东区", "行业": "制造业"}] * 6 + [{"区域": "西区", "行业": "制造业"}] * 5
          + [{"区域": "西区", "行业": "服务业"}] * 2 + [{"区域": "南区", "行业": "服务业"}] * 2
          + [{"区域": "外地"}, {"姓名拼音": "zhang", "区域": "东区", "行业": "制造业"}])


def test_no_roster_value_shared_by_fewer_than_k_of_the_batch_reaches_a_ballot(app, client) -> None:
    """A roster of 17 for group client, raked on 区域 and 行业 taken from the
    roster (k = 5): the batch's ballots carry only values, and combinations
    of values, that at least 5 of its evaluators share; the rare ones fall into
    其他, and no column the margins do not name reaches a ballot."""
    doc = bundle(margins={"client": {"区域": {"东区": 0.4, "西区": 0.4, "其他": 0.2},
                                     "行业": {"制造业": 0.6, "服务业": 0.3, "其他": 0.1}}},
                 extensions={"margins": {"client": {"区域": {"supply": "roster", "fallback": "其他"},
                                                    "行业": {"supply": "roster", "fallback": "其他"}}}})
    with app.test_request_context():
        campaign = import_bundle(doc, status="open")
        group = campaign.groups[0]
        for k, values in enumerate(ROSTER):
            db.session.add(Evaluator(group_id=group.group_id, name=f"代表{k}", email=f"r{k}@example.cn",
                                     attributes=values, campaign_id=campaign.id))
        db.session.flush()
        batch = services.create_batch(campaign, group, "email", evaluators=services.ROSTER, code="m1")
        db.session.commit()
        k = campaign.attribute_k
        invitations = db.session.execute(select(Invitation.attributes, Invitation.pending_token)
                                         .where(Invitation.batch_id == batch.id)).all()
        summary = batch.attribute_release
    released = [a for a, _t in invitations]
    assert len(released) == len(ROSTER) and k == 5
    assert all(n >= k for n in _value_counts(released).values()), _value_counts(released)
    # 区域: 南区 and 外地 are not categories of the margin (其他: 3, fewer than k), so the
    # smallest other value, 西区 (7, tied with 东区 and met later), joins them.
    assert Counter(r["区域"] for r in released) == {"东区": 7, "其他": 10}
    # 行业: 服务业 (4) and the one without a value fall into 其他 (5).
    assert Counter(r["行业"] for r in released) == {"制造业": 12, "其他": 5}
    assert summary["variables"]["区域"] == {"label": "区域", "values": {"东区": 7, "其他": 10}, "unnamed": 3,
                                           "held_back": 7, "absent": 0}
    for _attributes, token in invitations:
        fields = form_fields(client.get(f"/b/{token}").get_data(as_text=True))
        assert client.post(f"/b/{token}", data=fields).status_code == 200
    with app.app_context():
        ballots = list(db.session.scalars(select(Ballot.attributes)))
    assert len(ballots) == len(ROSTER)
    assert all(set(b) <= {"区域", "行业"} for b in ballots)
    # Every value and combination on a ballot is shared by at least k of the batch's evaluators.
    batch_counts = _value_counts(released)
    for combination in _value_counts(ballots):
        assert batch_counts[combination] >= k, combination
    assert Counter(map(lambda b: tuple(sorted(b.items())), ballots)) == \
        Counter(map(lambda r: tuple(sorted(r.items())), released))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({}, optional={
    "a": st.sampled_from(["x", "y", "z", "w", "", "q"]), "b": st.sampled_from(["1", "2", "3", "9"])}),
    max_size=40), k=st.integers(5, 8), fallback_a=st.sampled_from(["w", None]))
def test_the_k_rule_never_releases_a_cell_of_fewer_than_k(rows, k, fallback_a) -> None:
    variables = [attributes.RosterVariable("a", "A", ("x", "y", "z", "w"), fallback_a),
                 attributes.RosterVariable("b", "B", ("1", "2", "3"), "3")]
    outcome = attributes.release(variables, rows, k)
    assert len(outcome.attributes) == len(rows)
    counts = _value_counts(outcome.attributes)
    assert all(n >= k for n in counts.values()), (rows, outcome.attributes)
    # Who carries nothing of a variable are k or more, or nobody (an absent value says something too).
    for var in ("a", "b"):
        absent = sum(1 for a in outcome.attributes if var not in (a or {}))
        assert absent == 0 or absent >= k or absent == len(rows)
    for row, released in zip(rows, outcome.attributes, strict=True):
        for var, value in (released or {}).items():
            categories = {"a": ("x", "y", "z", "w"), "b": ("1", "2", "3")}[var]
            assert value in categories
            assert value == row.get(var) or value == {"a": fallback_a, "b": "3"}[var]


def test_a_batch_smaller_than_k_releases_nothing_and_its_page_says_so(app, client) -> None:
    doc = bundle(**raked("roster", fallback="西区"))
    with app.test_request_context():
        campaign = import_bundle(doc, status="open")
        group = campaign.groups[0]
        for k in range(3):
            db.session.add(Evaluator(group_id=group.group_id, name=f"代表{k}", email=f"s{k}@example.cn",
                                     attributes={"区域": "东区"}, campaign_id=campaign.id))
        db.session.flush()
        batch = services.create_batch(campaign, group, "email", evaluators=services.ROSTER, code="s1")
        make_user("organizer")
        db.session.commit()
        assert set(db.session.scalars(select(Invitation.attributes).where(Invitation.batch_id == batch.id))) == {None}
    login(client, "organizer")
    page = client.get("/distribution/t2026/batches/s1").get_data(as_text=True)
    assert 'data-testid="attribute-gaps"' in page and "本批次只有 3 名评议代表，少于 k = 5" in page


def test_named_campaigns_keep_the_evaluators_attributes(app, client) -> None:
    with app.app_context():
        tokens = make_campaign(anonymous=False, invitations=1, **raked())[1]
    fields = form_fields(client.get(f"/b/{tokens[0]}").get_data(as_text=True))
    question = next(k for k in fields if k.startswith("m_"))
    client.post(f"/b/{tokens[0]}", data={**fields, question: str(_category_ids(app)["西区"])})
    with app.app_context():
        # The roster's district, then the evaluator's own answer to the raked question.
        assert db.session.scalar(select(Ballot.attributes)) == {"district": "东区", "区域": "西区"}


def test_the_k_rule_is_decided_again_when_a_drafts_margins_change(app) -> None:
    with app.test_request_context():
        campaign = import_bundle(bundle(), status="draft")
        group = campaign.groups[0]
        for k in range(10):
            db.session.add(Evaluator(group_id=group.group_id, name=f"代表{k}", email=f"d{k}@example.cn",
                                     attributes={"区域": "东区" if k < 6 else "西区"}, campaign_id=campaign.id))
        db.session.flush()
        batch = services.create_batch(campaign, group, "email", evaluators=services.ROSTER, code="d1")
        assert batch.attribute_release is None
        margins.save_variable(campaign, group, variable="区域", label="区域", supply="roster",
                              categories="东区 0.5\n西区 0.3\n其他 0.2", fallback="其他")
        db.session.commit()
        released = list(db.session.scalars(select(Invitation.attributes).where(Invitation.batch_id == batch.id)))
        # 西区 has 4 (< 5): they fall into 其他, which then holds 4, so the smallest other value
        # joins it... and nothing is left but one cell of 10.
        assert Counter(r["区域"] for r in released) == {"其他": 10}
        setup.update_campaign(campaign, name=campaign.name, year=campaign.year, anonymous=False,
                              return_target=campaign.return_target, opens_at=None, closes_at=None)
        db.session.commit()
        assert set(db.session.scalars(select(Invitation.attributes).where(Invitation.batch_id == batch.id))) == {None}


# --- warnings where a channel cannot supply a raked attribute ------------------------------


def test_an_open_batch_of_a_group_raked_on_the_roster_is_warned_about(app, client) -> None:
    doc = bundle(**raked("roster", fallback="西区"))
    doc["margins"]["expert"] = doc["margins"].pop("client")
    doc["extensions"]["margins"]["expert"] = doc["extensions"]["margins"].pop("client")
    with app.app_context():
        import_bundle(doc, status="draft")
        make_user("organizer")
        db.session.commit()
    login(client, "organizer")
    basics = client.get("/campaigns/t2026/setup").get_data(as_text=True)
    assert 'data-testid="raking-gaps"' in basics and "公开渠道和二维码海报没有名册" in basics
    page = client.get("/distribution/t2026/batches/p1").get_data(as_text=True)
    assert 'data-testid="attribute-gaps"' in page
    assert "“专家学者”按名册属性“您所在的区”加权，公开渠道和二维码海报没有名册" in page
    assert "“专家学者”按名册属性" in client.get("/distribution/t2026/batches").get_data(as_text=True)
    assert "公开渠道和二维码海报没有名册" in client.get("/campaigns/t2026/setup/margins").get_data(as_text=True)
    # Asked on the form instead, the open batch supplies it: no warning.
    with app.app_context():
        variable = db.session.scalar(select(MarginVariable))
        variable.supply = "question"
        db.session.commit()
    assert 'data-testid="attribute-gaps"' not in client.get("/distribution/t2026/batches/p1").get_data(as_text=True)


# --- the demo -------------------------------------------------------------------------


def test_the_demos_raked_group_is_raked(app) -> None:
    from survey.demo import RAKED_GROUP, RAKED_VARIABLE, create_demo
    from survey.results import snapshots

    with app.test_request_context():
        campaign, _links = create_demo()
        db.session.commit()
        assert campaign.anonymous
        group = next(g for g in campaign.groups if g.code == RAKED_GROUP)
        assert [v.variable for v in group.margin_variables] == [RAKED_VARIABLE]
        assert group.margin_variables[0].source
        results = snapshots.parsed(snapshots.current_snapshot(campaign))
        assert not [w for w in results["warnings"] if w["code"].startswith("rake")], results["warnings"]
        unraked_doc = export_bundle(campaign)
        del unraked_doc["margins"]
        unraked = evaluate_document(unraked_doc).to_json()
    ess = {g["code"]: g["ess"] for g in results["groups"]}
    plain = {g["code"]: g["ess"] for g in unraked["groups"]}
    assert ess[RAKED_GROUP] != pytest.approx(plain[RAKED_GROUP])
    assert all(ess[g] == pytest.approx(plain[g]) for g in ess if g != RAKED_GROUP)
    scores = {u["code"]: u["group_scores"][RAKED_GROUP] for u in results["units"]}
    assert scores != pytest.approx({u["code"]: u["group_scores"][RAKED_GROUP] for u in unraked["units"]})


# --- planted markup --------------------------------------------------------------------


def test_planted_markup_in_margins_renders_escaped(app, client) -> None:
    from tests.survey.test_planted_markup import MARKUP, RAW

    variable = "<b>区域</b>{{7*7}}"
    category = "<i>东区</i>" + MARKUP
    doc = bundle(margins={"client": {variable: {category: 0.5, "西区": 0.5}}},
                 extensions={"margins": {"client": {variable: {"label": MARKUP, "source": MARKUP,
                                                               "supply": "question"}}}})
    with app.test_request_context():
        campaign = import_bundle(doc, status="open")
        services.create_batch(campaign, campaign.groups[0], "paper", count=1, code="P")
        make_user("organizer")
        db.session.commit()
        token = db.session.scalar(select(Invitation.pending_token))
    login(client, "organizer")
    pages = {url: client.get(url).get_data(as_text=True) for url in (
        "/campaigns/t2026/setup/margins", "/distribution/t2026/batches/P/print",
        "/distribution/t2026/paper?serial=P-0001", f"/b/{token}")}
    for url, html in pages.items():
        assert not [raw for raw in RAW if raw in html], url
        assert "&lt;script&gt;" in html, url
    fields = form_fields(pages[f"/b/{token}"])
    review = client.post(f"/b/{token}", data={**fields, "action": "review"}).get_data(as_text=True)
    assert not [raw for raw in RAW if raw in review] and "&lt;i&gt;东区&lt;/i&gt;" in review
