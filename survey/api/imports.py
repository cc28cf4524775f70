"""Writing through the API: the roster (评议代表名单) and objective scores
(工作考核得分), each all or nothing, through the services of their pages
(survey/roster/services.py ``import_table``, survey/results/inputs.py
``set_objective_score``). The bodies are JSON (survey/api/schemas.py
``RosterImport``, ``ObjectiveScoresImport``); a refusal names every problem
by its place in the body (``body.evaluators[3].phone``)."""
from __future__ import annotations

from flask_login import current_user

from survey.api.paging import PageQuery, page_of
from survey.api.registry import CAMPAIGN_PARAM
from survey.api.schemas import (
    ObjectiveScoreOut,
    ObjectiveScorePage,
    ObjectiveScoresImport,
    ObjectiveScoresImported,
    RosterImport,
    RosterImported,
)
from survey.api.scope import campaign_in_scope
from survey.api.v1 import api
from survey.errors import InvalidRequest, Problem, in_chinese
from survey.results import inputs, queries
from survey.roster import services as roster
from survey.roster.services import COLUMNS, EMAIL, GROUP, NAME, ORGANISATION, OWN_UNIT, PHONE, RosterRefused, RowProblem

#: The body's field of each roster column (the template's headings).
FIELDS = {NAME: "name", PHONE: "phone", EMAIL: "email", ORGANISATION: "organisation", GROUP: "group",
          OWN_UNIT: "own_unit"}

ROSTER_EXAMPLE = {"evaluators": [
    {"name": "张明", "phone": "13900000001", "organisation": "某某科技有限公司", "group": "enterprise",
     "attributes": {"district": "东城区"}},
    {"name": "李华", "email": "li.hua@example.cn", "group": "deputy"},
]}
SCORES_EXAMPLE = {"scores": [
    {"unit": "u01", "component": "work", "score": 88.5, "evidence": "2026 年度工作考核结果（考核办〔2026〕3 号）"},
]}


# --- the roster ---------------------------------------------------------------------------


def roster_table(body: RosterImport) -> list[list[str]]:
    """The body as the roster file it stands for: the template's columns, then
    each attribute named in the body (in the order first met), one row per evaluator."""
    attributes = list(dict.fromkeys(name for e in body.evaluators for name in e.attributes))
    header = [*COLUMNS, *attributes]
    return [header] + [[e.name, e.phone or "", e.email or "", e.organisation or "", e.group, e.own_unit or "",
                        *(e.attributes.get(name, "") for name in attributes)] for e in body.evaluators]


def roster_problem(problem: RowProblem) -> Problem:
    """A refused roster row as the API names it: the evaluator's place in the
    body (row 2 of the table is ``body.evaluators[0]``) and the field."""
    if problem.row < 2:
        where = "body"
    else:
        where = f"body.evaluators[{problem.row - 2}]"
        if problem.column in FIELDS:
            where += f".{FIELDS[problem.column]}"
        elif problem.column:
            where += f".attributes.{problem.column}"
    return Problem(where, problem.reason, f"{where}: refused (the reason, in Chinese, says why)")


@api.post("/campaigns/<code>/roster", CAMPAIGN_PARAM, body=RosterImport, response=RosterImported, tag="imports",
          summary="导入评议代表名单", body_example=ROSTER_EXAMPLE, errors=(413,))
def import_roster(code: str, body: RosterImport) -> RosterImported:
    """Add evaluators to the campaign's roster, all or none, as the roster
    page imports a file: the same checks (a name; a mobile number or an
    e-mail address; a known evaluator group, by code or name; no one twice,
    in the body or already on the roster; a known unit code for `own_unit`)
    and the same insert. Any problem refuses the whole body with a 400 that
    lists every problem, each at its place (`body.evaluators[3].phone`).
    Not once the results are finalized."""
    campaign = campaign_in_scope(code)
    try:
        with in_chinese():
            result = roster.import_table(campaign, "body", roster_table(body))
    except RosterRefused as exc:
        raise InvalidRequest([roster_problem(p) for p in exc.problems]) from None
    return RosterImported(imported=result.imported, per_group=result.per_group)


# --- objective scores ------------------------------------------------------------------------


@api.get("/campaigns/<code>/objective-scores", CAMPAIGN_PARAM, response=ObjectiveScorePage, query=PageQuery,
         tag="imports", summary="客观考核得分")
def objective_scores(code: str, query: PageQuery) -> ObjectiveScorePage:
    """The campaign's objective scores (工作考核 and other components), by unit
    and component, as the results inputs page lists them."""
    c = campaign_in_scope(code)
    items, cursor = page_of(inputs.objective_scores_of(c), query)
    return ObjectiveScorePage(items=[ObjectiveScoreOut(unit=s.campaign_unit.code, component=s.component,
                                                       raw=s.raw, full_marks=s.full_marks, evidence=s.evidence,
                                                       score=s.score) for s in items],
                              limit=query.limit, next_cursor=cursor)


@api.post("/campaigns/<code>/objective-scores", CAMPAIGN_PARAM, body=ObjectiveScoresImport,
          response=ObjectiveScoresImported, tag="imports", summary="导入客观考核得分", body_example=SCORES_EXAMPLE,
          errors=(413,))
def import_objective_scores(code: str, body: ObjectiveScoresImport) -> ObjectiveScoresImported:
    """Set objective scores, all or none, as the results inputs page sets one:
    a unit's score of a component it has already is replaced, and each is
    written to the audit log with its evidence. An unknown unit, or one unit
    and component twice in the body, refuses the whole body with a 400
    naming each; so does a campaign whose results are finalized."""
    c = campaign_in_scope(code)
    units = {cu.code: cu for cu in queries.units_of(c)}
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    for i, score in enumerate(body.scores):
        if score.unit not in units:
            problems.append(Problem(f"body.scores[{i}].unit", f"本次评议没有代码为“{score.unit}”的单位",
                                    f"this campaign has no unit {score.unit}"))
        key = (score.unit, score.component)
        if key in seen:
            problems.append(Problem(f"body.scores[{i}]", f"与 scores[{seen[key]}] 是同一单位、同一考核项目",
                                    f"the same unit and component as scores[{seen[key]}]"))
        seen.setdefault(key, i)
    if problems:
        raise InvalidRequest(problems)
    with in_chinese():
        for score in body.scores:
            inputs.set_objective_score(c, units[score.unit], score.component, score.score, score.evidence.strip(),
                                       score.full_marks, current_user)
    return ObjectiveScoresImported(imported=len(body.scores))
