"""What follows the results, written and read through the API: consequences
carried out (owner, deadline, proof), the escalation rules, 回头看 findings
and the best units (先进). Each view calls the service its page calls
(survey/results/carrying.py, escalation.py, lookback.py, honours.py); who may
is survey/policy.py's table, as for the pages."""
from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user

from survey.api.outcomes import consequence_entry
from survey.api.paging import PageQuery, page_of
from survey.api.registry import CAMPAIGN_PARAM, UNIT_PARAM, PathParam
from survey.api.schemas import (
    ConsequenceAssign,
    ConsequenceCarryOut,
    ConsequenceEntry,
    ConsequenceRules,
    ConsequenceRulesIn,
    EscalationRuleOut,
    FollowUpEntry,
    FollowUpFindings,
    FollowUpPage,
    HonourCandidate,
    HonourDecide,
    HonourRuleIO,
    Honours,
)
from survey.api.scope import campaign_in_scope, iso, unit_in_scope
from survey.api.v1 import api
from survey.clock import today
from survey.errors import in_chinese
from survey.extensions import db
from survey.models import Campaign, Consequence, FollowUp
from survey.results import carrying, escalation, honours, lookback
from survey.results.snapshots import results_for
from survey.web import MAX_ID

ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
CONSEQUENCE_PARAM = PathParam("consequence_id", "处理事项 id（见 consequences 列表）", "1", ID_SCHEMA)
FOLLOW_UP_PARAM = PathParam("follow_up_id", "回头看 id（见 follow-ups 列表）", "1", ID_SCHEMA)


def _id(text: str) -> int:
    """An id in the path (the rule takes any text, as the document's paths say): 404 unless a whole number."""
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > MAX_ID:
        abort(404)
    return int(text)


def _consequence(c: Campaign, consequence_id: str) -> Consequence:
    row = db.session.get(Consequence, _id(consequence_id))
    if row is None or row.campaign_unit.campaign_id != c.id:
        abort(404)
    return row


# --- consequences carried out -------------------------------------------------------------


@api.post("/campaigns/<code>/consequences/<consequence_id>/assign", CAMPAIGN_PARAM, CONSEQUENCE_PARAM,
          body=ConsequenceAssign, response=ConsequenceEntry, tag="outcomes", summary="处理事项：责任部门与期限",
          body_example={"owner": "市财政局绩效科", "due_on": "2027-01-31"}, errors=(409,))
def assign_consequence(code: str, consequence_id: str, body: ConsequenceAssign) -> ConsequenceEntry:
    """Set who carries a pending consequence out and by when, as the
    consequences page does. Refused (400) for one already carried out or
    cancelled by an appeal; before 定稿 there are none (409)."""
    c = campaign_in_scope(code)
    row = _consequence(c, consequence_id)
    with in_chinese():
        carrying.assign(c, row, body.owner or "", body.due_on, current_user)
    return consequence_entry(row)


@api.post("/campaigns/<code>/consequences/<consequence_id>/done", CAMPAIGN_PARAM, CONSEQUENCE_PARAM,
          body=ConsequenceCarryOut, response=ConsequenceEntry, tag="outcomes", summary="处理事项：登记落实情况",
          body_example={"proof": "市评议办通〔2027〕2 号", "persons": ""}, errors=(409,))
def carry_out_consequence(code: str, consequence_id: str, body: ConsequenceCarryOut) -> ConsequenceEntry:
    """Record that a consequence was carried out (待办 → 已执行, or 已收到
    for a 书面检查) with what proves it: `proof` for every kind but
    bonus_linkage, whose `amount` (元) or `percent` proves it; `persons` for
    leader_handling and organizational_handling (the head and the directly
    responsible staff, with what was done). A missing proof is a 400 saying which."""
    c = campaign_in_scope(code)
    row = _consequence(c, consequence_id)
    with in_chinese():
        carrying.carry_out(c, row, current_user, proof=body.proof, amount=body.amount, percent=body.percent,
                           persons=body.persons)
    return consequence_entry(row)


# --- the rules ------------------------------------------------------------------------------


def _rules(c: Campaign) -> ConsequenceRules:
    view = carrying.rules_view(c)
    rules = escalation.rules_of({"escalate_bottom_two_years": view["escalate_bottom_two_years"],
                                 "escalation": view["escalation"]})
    return ConsequenceRules(
        escalate_bottom_two_years=view["escalate_bottom_two_years"],
        rules=[EscalationRuleOut(**r.as_json(), key=r.key, description=escalation.describe(r),
                                 builtin=r == escalation.BOTTOM_RULE) for r in rules],
        owners=view["owners"], due_days=view["due_days"])


@api.get("/campaigns/<code>/consequence-rules", CAMPAIGN_PARAM, response=ConsequenceRules, tag="outcomes",
         summary="处理规则：加重处理、责任部门与期限")
def consequence_rules(code: str) -> ConsequenceRules:
    """The escalation rules in force (the built-in “two years at the bottom →
    组织处理” first, where it is on), and each kind's default owner and
    number of days. The supervision register's case-based rules join with
    basis `cases` once it registers that basis."""
    return _rules(campaign_in_scope(code))


@api.post("/campaigns/<code>/consequence-rules", CAMPAIGN_PARAM, body=ConsequenceRulesIn, response=ConsequenceRules,
          tag="outcomes", summary="设置处理规则",
          body_example={"escalation": [{"basis": "class", "value": "dissatisfied", "count": 2, "years": 3,
                                        "consequence": "organizational_handling"}],
                        "owners": {"bonus_linkage": "市财政局"}, "due_days": {"criticism_notice": 30}})
def save_consequence_rules(code: str, body: ConsequenceRulesIn) -> ConsequenceRules:
    """Replace the escalation rules, owners and deadlines, as the rules page
    does; they apply to the consequences generated from then on. A rule that
    cannot be saved is a 400 naming it (`consequences.escalation[1].count`)."""
    c = campaign_in_scope(code)
    values: dict[str, Any] = body.model_dump(exclude_none=False)
    values["escalation"] = [{k: v for k, v in r.items() if v not in (None, [])} for r in values["escalation"]]
    with in_chinese():
        carrying.save_rules(c, values, current_user)
    return _rules(c)


# --- 回头看 ---------------------------------------------------------------------------------


def _follow_up(f: FollowUp) -> FollowUpEntry:
    return FollowUpEntry(id=f.id, unit=f.campaign_unit.code, name=f.campaign_unit.name, scheduled_on=f.scheduled_on,
                         note=f.note, findings=f.findings, outcome=f.outcome,  # type: ignore[arg-type]
                         new_due=f.new_due, done_at=iso(f.done_at))


@api.get("/campaigns/<code>/follow-ups", CAMPAIGN_PARAM, response=FollowUpPage, query=PageQuery, tag="outcomes",
         summary="回头看")
def follow_ups(code: str, query: PageQuery) -> FollowUpPage:
    """The scheduled reviews of the units' rectification, by date, with their
    findings and outcome once recorded."""
    items, cursor = page_of(lookback.reviews_of(campaign_in_scope(code)), query)
    return FollowUpPage(items=[_follow_up(f) for f in items], limit=query.limit, next_cursor=cursor)


@api.post("/campaigns/<code>/follow-ups/<follow_up_id>/findings", CAMPAIGN_PARAM, FOLLOW_UP_PARAM,
          body=FollowUpFindings, response=FollowUpEntry, tag="outcomes", summary="记录回头看结果",
          body_example={"findings": "窗口已增设导办员，群众反映的问题已解决", "outcome": "noted"}, errors=(409,))
def record_follow_up(code: str, follow_up_id: str, body: FollowUpFindings) -> FollowUpEntry:
    """Record a review's findings: `closed` confirms an accepted
    rectification (销号), `reopened` withdraws the acceptance and sets the
    new deadline `new_due`, `noted` only keeps the findings."""
    c = campaign_in_scope(code)
    row = lookback.review_or_none(c, _id(follow_up_id))
    if row is None:
        abort(404)
    with in_chinese():
        lookback.record_findings(c, row, body.findings, body.outcome, current_user, today(), body.new_due)
    return _follow_up(row)


# --- 先进 -----------------------------------------------------------------------------------


def _honours(c: Campaign) -> Honours:
    rule = honours.rule_of(c)
    cands = honours.candidates(c, results_for(c), rule) if c.state.allows_carrying_out else []
    return Honours(
        rule=HonourRuleIO.model_validate({**rule.as_json(), "title": rule.title}),
        candidates=[HonourCandidate(
            unit=x.row.code, name=x.row.name, category=x.row.category, rank=x.row.result["rank"],
            score=x.row.result["score"], stars=x.stars, decision=x.honour.decision if x.honour else None,  # type: ignore[arg-type]
            title=x.honour.title if x.honour else None, amount=x.honour.amount if x.honour else None,
            note=x.honour.note if x.honour else None) for x in cands])


@api.get("/campaigns/<code>/honours", CAMPAIGN_PARAM, response=Honours, tag="outcomes", summary="先进评定")
def honours_list(code: str) -> Honours:
    """The positive tier's rule and, once the results are final, its
    candidates (满意 units among the first `top_k` of their category and/or
    scoring at least `min_score`) with their stars and the committee's decision."""
    return _honours(campaign_in_scope(code))


@api.post("/campaigns/<code>/honour-rule", CAMPAIGN_PARAM, body=HonourRuleIO, response=Honours, tag="outcomes",
          summary="设置先进评选规则与星级",
          body_example={"top_k": 1, "min_score": 90, "stars": [{"min_score": 95, "stars": 5},
                                                                {"min_score": 90, "stars": 4}]})
def save_honour_rule(code: str, body: HonourRuleIO) -> Honours:
    """Replace the rule and the star bands (from the highest band down)."""
    c = campaign_in_scope(code)
    raw = body.model_dump()
    raw["stars"] = [dict(b) for b in raw["stars"]]
    with in_chinese():
        honours.save_rule(c, raw, current_user)
    return _honours(c)


@api.post("/campaigns/<code>/honours/<unit_code>", CAMPAIGN_PARAM, UNIT_PARAM, body=HonourDecide, response=Honours,
          tag="outcomes", summary="评定先进", body_example={"decision": "awarded", "amount": 50000}, errors=(409,))
def decide_honour(code: str, unit_code: str, body: HonourDecide) -> Honours:
    """The committee's decision on a candidate, with the title and the amount
    awarded (元); a decision may be changed. A unit that is not a candidate is a 400."""
    c = campaign_in_scope(code)
    cu = unit_in_scope(c, unit_code)
    with in_chinese():
        honours.decide(c, cu, results_for(c), body.decision, current_user, title=body.title, amount=body.amount,
                       note=body.note)
    return _honours(c)
