"""What follows the results, read through the API: a unit's comments and
their answers, the consequences, the rectifications (整改), the audit log,
and a unit's per-item results (SCORING.md section 5a). Each view calls the
service its page calls (survey/results/comments.py, rectification.py, the
audit log's query) and narrows it to a liaison's scope as the liaison's page
does (survey/api/scope.py)."""
from __future__ import annotations

from flask import abort
from flask_babel import gettext as _
from pydantic import Field
from sqlalchemy import select

from survey.api.paging import PageQuery, page_of, page_of_select
from survey.api.registry import CAMPAIGN_PARAM, UNIT_PARAM
from survey.api.schemas import (
    AuditEntryOut,
    AuditPage,
    CommentAnswerOut,
    CommentEntry,
    CommentPage,
    ConsequenceEntry,
    ConsequencePage,
    ItemGroupScore,
    ItemResult,
    RectificationEntry,
    RectificationPage,
    UnitItems,
)
from survey.api.scope import (
    campaign_in_scope,
    iso,
    liaison_unit,
    own_unit,
    scoped_result,
    unit_in_scope,
)
from survey.api.v1 import api
from survey.clock import today
from survey.models import AuditEntry, CommentAnswer, Consequence, Rectification
from survey.models.outcome import ANSWER_LABELS, CONSEQUENCE_LABELS, CONSEQUENCE_STATE_LABELS
from survey.results import carrying, comments, queries, rectification
from survey.results.snapshots import current_snapshot, parsed
from survey.web import MAX_ID

# --- comments ---------------------------------------------------------------------------


def _answer(row: CommentAnswer | None) -> CommentAnswerOut | None:
    if row is None:
        return None
    return CommentAnswerOut.model_validate({"kind": row.kind, "kind_label": _(ANSWER_LABELS[row.kind]),
                                            "text": row.text, "answered_at": iso(row.answered_at)})


@api.get("/campaigns/<code>/units/<unit_code>/comments", CAMPAIGN_PARAM, UNIT_PARAM, response=CommentPage,
         query=PageQuery, tag="outcomes", summary="一个单位收到的意见及其答复")
def unit_comments(code: str, unit_code: str, query: PageQuery) -> CommentPage:
    """What evaluators wrote about the unit, each with the group of its ballot
    and the unit's answer, in the stable order of the pages (which says
    nothing about when a comment came in). A liaison's key: its own unit,
    once the results are finalized, as the liaison's page shows them: the
    comments of groups below the committee's minimum are pooled as 其他评议主体
    (`group` null) where the pool is large enough, else withheld (`withheld`)."""
    c = campaign_in_scope(code)
    cu = unit_in_scope(c, unit_code)
    received = comments.comments_of(c, cu)
    rows: list[tuple[int, str, str | None, str, CommentAnswer | None]]
    if liaison_unit() is None:
        labels = queries.group_labels(c)
        answers = comments.answers_of([comment.id for comment, _group in received])
        rows = [(comment.id, comment.text, group, labels.get(group, group), answers.get(comment.id))
                for comment, group in received]
        withheld = 0
    else:
        try:
            result = queries.unit_result(parsed(current_snapshot(c)), cu.code)
        except KeyError:
            abort(404)
        view = comments.liaison_view(c, cu, result)
        shown = {g["code"] for g in view.shown_groups}
        group_of = {comment.id: group for comment, group in received}
        rows = [(x["id"], x["text"], group_of[x["id"]] if group_of[x["id"]] in shown else None, x["group"],
                 x["answer"]) for x in view.comments]
        withheld = view.withheld_comments
    items, cursor = page_of(rows, query)
    return CommentPage(items=[CommentEntry(id=i, text=text, group=group, group_label=label, answer=_answer(answer))
                              for i, text, group, label, answer in items],
                       limit=query.limit, next_cursor=cursor, withheld=withheld)


# --- consequences and rectification -------------------------------------------------------


@api.get("/campaigns/<code>/consequences", CAMPAIGN_PARAM, response=ConsequencePage, query=PageQuery,
         tag="outcomes", summary="评议结果的后续处理（书面检查、通报批评…）")
def consequences(code: str, query: PageQuery) -> ConsequencePage:
    """The consequences generated when the results were finalized, by unit,
    those cancelled by a decided appeal included (`cancelled_at`, `note`). A
    liaison's key: its own unit's, the cancelled ones left out (as its page).
    Each has its owner, deadline, state (待办 → 已执行 / 已收到), what proves
    it, and `overdue` (红字) where it is pending past its deadline."""
    c = campaign_in_scope(code)
    cu = own_unit(c)
    if cu is None:  # as on the page: deadlines are checked when the list is read
        carrying.mark_overdue(c, today())
    rows: list[Consequence] = rectification.consequences_of(c, cu, cancelled=cu is None)
    items, cursor = page_of(rows, query)
    return ConsequencePage(items=[consequence_entry(r) for r in items], limit=query.limit, next_cursor=cursor)


def consequence_entry(r: Consequence) -> ConsequenceEntry:
    return ConsequenceEntry.model_validate({
        "id": r.id, "unit": r.campaign_unit.code, "kind": r.kind, "kind_label": _(CONSEQUENCE_LABELS[r.kind]),
        "text": r.text, "due_on": r.due_on, "done_at": iso(r.done_at), "created_at": iso(r.created_at),
        "cancelled_at": iso(r.cancelled_at), "note": r.note, "owner": r.owner, "state": r.state,
        "state_label": _(CONSEQUENCE_STATE_LABELS[r.state]), "overdue": r.overdue(today()),
        "marked_red_at": iso(r.marked_red_at), "proof": r.proof, "amount": r.amount, "percent": r.percent,
        "persons": r.persons, "rule": r.rule})


@api.get("/campaigns/<code>/rectifications", CAMPAIGN_PARAM, response=RectificationPage, query=PageQuery,
         tag="outcomes", summary="整改：方案、报告、期限、红字、验收")
def rectifications(code: str, query: PageQuery) -> RectificationPage:
    """Each unit's rectification once the results are finalized: its plan and
    report, deadline, red mark (逾期) and acceptance, by unit. As on the
    rectification page, deadlines are checked when the list is read (a
    rectification past its deadline is marked red then). A liaison's key:
    its own unit's."""
    c = campaign_in_scope(code)
    cu = own_unit(c)
    rows: list[Rectification]
    if cu is None:
        rectification.mark_overdue(c, today())
        rows = rectification.rectifications_of(c)
    else:
        rect = rectification.rectification_of(cu)
        rows = [] if rect is None else [rect]
    items, cursor = page_of(rows, query)
    return RectificationPage(items=[RectificationEntry.model_validate({
        "id": r.id, "unit": r.campaign_unit.code, "name": r.campaign_unit.name, "due_on": r.due_on,
        "plan": r.plan, "plan_at": iso(r.plan_at), "report": r.report, "report_at": iso(r.report_at),
        "overdue": r.marked_red_at is not None and r.accepted_at is None, "marked_red_at": iso(r.marked_red_at),
        "accepted_at": iso(r.accepted_at), "review_state": r.review_state, "returned_at": iso(r.returned_at),
        "review_comment": r.review_comment}) for r in items], limit=query.limit, next_cursor=cursor)


# --- the audit log --------------------------------------------------------------------------

#: The largest id the `after` parameter takes (the column is a 32-bit integer).


class AuditQuery(PageQuery):
    target: str | None = Field(None, max_length=200, pattern=r"^[^\x00]*$",
                               description="只列对象包含此文字的记录，如 campaign:2026 或 unit:u03（与审计日志页的筛选相同）")
    after: int | None = Field(None, ge=0, le=MAX_ID,
                              description="只列 id 大于此值的记录：传入上次见到的最大 id，即可只取新增的记录")


@api.get("/audit", response=AuditPage, query=AuditQuery, tag="audit", summary="审计日志")
def audit_entries(query: AuditQuery) -> AuditPage:
    """The append-only audit log (who did what, when, with the state before
    and after), oldest first: entries added while a program pages through
    it come at the end, so paging gives every entry once. To follow the log,
    remember the largest `id` seen and ask again with `?after=` it."""
    statement = select(AuditEntry).order_by(AuditEntry.id)
    if query.target:
        statement = statement.where(AuditEntry.target.contains(query.target, autoescape=True))
    if query.after is not None:
        statement = statement.where(AuditEntry.id > query.after)
    rows, cursor = page_of_select(statement, query)
    return AuditPage(items=[AuditEntryOut.model_validate({
        "id": e.id, "at": iso(e.at), "username": e.username, "action": e.action, "target": e.target,
        "before": e.before, "after": e.after}) for e in rows], limit=query.limit, next_cursor=cursor)


# --- per-item results ------------------------------------------------------------------------


@api.get("/campaigns/<code>/units/<unit_code>/items", CAMPAIGN_PARAM, UNIT_PARAM, response=UnitItems,
         tag="results", summary="一个单位各评价项目的得分", errors=(409,))
def unit_items(code: str, unit_code: str) -> UnitItems:
    """The unit's `items` of the stored results (SCORING.md section 5a: per
    item its number of scored answers, score, score by evaluator group,
    option shares and 95% interval), in the campaign's item order, from the
    snapshot the results endpoints return. A liaison's key: its own unit,
    once the results are finalized, as the liaison's page shows its
    indicators (survey/results/queries.py ``item_rows``): the scores of
    groups below the committee's minimum left out, and an item rated by
    fewer ballots than the minimum `hidden`, its figures null."""
    c, cu, snap, result, groups, hidden = scoped_result(code, unit_code)
    items = queries.labels_of(c).items
    if liaison_unit() is None:
        rows = queries.item_rows(result, items)
    else:
        rows = queries.item_rows(result, items, min_ballots=queries.settings_for(c).min_group_ballots,
                                 shown_groups=[g["code"] for g in groups])
    order = {code: k for k, (code, _label) in enumerate(items)}  # the page lists the weakest first
    labels = queries.group_labels(c)
    return UnitItems(campaign=c.code, unit=cu.code, final=snap.kind == "final", interim=queries.interim(c),
                     available="items" in result,
                     items=[ItemResult(code=r.code, label=r.label, n=r.n, score=r.score, hidden=r.hidden,
                                       group_scores=[ItemGroupScore(code=g, label=labels.get(g, g), score=s)
                                                     for g, s in r.group_scores.items()],
                                       shares=r.shares, ci95=r.ci95)
                            for r in sorted(rows, key=lambda r: order[r.code])],
                     hidden_groups=hidden)
