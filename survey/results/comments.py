"""A unit's comments, what its liaison may see of its results (small groups
pooled or withheld) and the unit's answers to the comments."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, select

from survey import audit
from survey.clock import utcnow
from survey.database import prepared
from survey.extensions import db
from survey.models import Ballot, Batch, Campaign, CampaignGroup, CampaignUnit, Comment, CommentAnswer, User
from survey.results import ResultsError
from survey.results.i18n import gettext as _
from survey.results.queries import group_labels, settings_for, unit_result
from survey.results.snapshots import results_for


def answers_of(comment_ids: list[int]) -> dict[int, CommentAnswer]:
    """The answers to these comments, by comment id, in one query."""
    if not comment_ids:
        return {}
    return {a.comment_id: a for a in db.session.scalars(
        select(CommentAnswer).where(CommentAnswer.comment_id.in_(comment_ids)))}


@prepared
def _comments_of() -> Select[Comment, CampaignGroup]:
    return (select(Comment, CampaignGroup).join(Ballot, Comment.ballot_id == Ballot.id)
            .join(Batch, Ballot.batch_id == Batch.id).join(CampaignGroup, Batch.campaign_group_id == CampaignGroup.id)
            .where(Comment.campaign_unit_id == bindparam("cu_id")))


def comments_of(campaign: Campaign, cu: CampaignUnit) -> list[tuple[Comment, str]]:
    """A unit's comments with the group code of their ballot, in a stable order
    that says nothing about when they came in."""
    rows = db.session.execute(_comments_of(), {"cu_id": cu.id}).all()
    out = [(c, g.group.code) for c, g in rows]
    out.sort(key=lambda pair: hashlib.sha256(f"{pair[0].id}".encode()).hexdigest())
    return out


@dataclass
class LiaisonView:
    """What a unit's liaison may see: groups with enough ballots for the unit
    are shown one by one; the others are pooled where the pool is large enough."""

    shown_groups: list[dict[str, Any]]
    hidden_groups: int
    comments: list[dict[str, Any]]
    withheld_comments: int


class GroupsShown(NamedTuple):
    """A unit's groups as its liaison sees them: those with enough ballots one
    by one, the codes of the others that have some, and whether those pooled
    are enough to forward their comments as 其他评议主体."""

    shown: list[dict[str, Any]]
    small: list[str]
    pool_ok: bool


def liaison_groups(campaign: Campaign, result: dict[str, Any], labels: dict[str, str] | None = None) -> GroupsShown:
    """The rule of what a liaison sees of a unit's groups (its page, its API key, its drafts)."""
    threshold = settings_for(campaign).min_group_ballots
    labels = group_labels(campaign) if labels is None else labels
    groups = result["explain"]["groups"]
    shown, small = [], []
    for code, g in groups.items():
        if g["n"] >= threshold:
            shown.append({"code": code, "label": labels.get(code, code), "n": g["n"], "score": g["score"],
                          "shares": (result.get("group_shares") or {}).get(code)})
        elif g["n"] > 0:
            small.append(code)
    return GroupsShown(shown, small, sum(groups[c]["n"] for c in small) >= threshold)


def liaison_view(campaign: Campaign, cu: CampaignUnit, result: dict[str, Any]) -> LiaisonView:
    labels = group_labels(campaign)
    shown, small, pool_ok = liaison_groups(campaign, result, labels)
    comments, withheld = [], 0
    received = comments_of(campaign, cu)
    answers = answers_of([comment.id for comment, _gcode in received])
    for comment, gcode in received:
        if gcode in small and not pool_ok:
            withheld += 1
            continue
        group = labels.get(gcode, gcode) if gcode not in small else _("其他评议主体")
        comments.append({"id": comment.id, "text": comment.text, "group": group, "answer": answers.get(comment.id)})
    return LiaisonView(shown, len(small), comments, withheld)


def answer_comment(campaign: Campaign, cu: CampaignUnit, comment_id: int, kind: str, text: str,
                   user: User) -> CommentAnswer:
    if not campaign.state.is_frozen:
        raise ResultsError(_("结果定稿后才能答复意见。"))
    visible = {c["id"] for c in liaison_view(campaign, cu, unit_result(results_for(campaign), cu.code)).comments}
    if comment_id not in visible:
        raise ResultsError(_("找不到该意见。"))
    row = db.session.scalar(select(CommentAnswer).where(CommentAnswer.comment_id == comment_id))
    before = None if row is None else {"kind": row.kind, "text": row.text}
    if row is None:
        row = CommentAnswer(comment_id=comment_id)
        db.session.add(row)
    row.kind, row.text, row.user_id, row.answered_at = kind, text.strip(), user.id, utcnow()
    audit.record("comment.answer", f"campaign:{campaign.code}/unit:{cu.code}/comment:{comment_id}", before,
                 {"kind": kind, "text": row.text})
    return row
