"""The committee's work on a campaign's results: computing and caching them from
the exported bundle, the data-quality review, objective scores and vetoes,
sign-off, finalization, publication, consequences, rectification and appeals."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer, joinedload

from analysis import evaluate_document
from analysis.bundle import effective_rules as analysis_rules
from survey import audit, jobs
from survey.ballots.pseudonyms import pseudonymise_sources
from survey.bundles import export_bundle
from survey.clock import utcnow
from survey.errors import UserError
from survey.extensions import db
from survey.models import (
    Appeal,
    Approval,
    Ballot,
    Batch,
    Campaign,
    CampaignCategory,
    CampaignGroup,
    CampaignUnit,
    Category,
    ClassOverride,
    Comment,
    CommentAnswer,
    Consequence,
    EvaluatorGroup,
    FollowUp,
    ObjectiveScore,
    OutcomeSettings,
    Rectification,
    ResultSnapshot,
    Unit,
    User,
    Veto,
)
from survey.models.lifecycle import where_frozen, where_results_ready
from survey.models.outcome import CLASSES, DEFAULT_CONSEQUENCES
from survey.results import artifacts
from survey.results.i18n import gettext as _

FLAGS = ("duplicate", "straight_line", "speeder", "burst", "extreme_rater")
FLAG_LABELS = {"duplicate": "重复提交", "straight_line": "一律同选", "speeder": "答题过快",
               "burst": "同一网段集中提交", "extreme_rater": "极端评分"}


class ResultsError(UserError):
    """A committee action that cannot be done; the message says why, in Chinese."""


# --- computing and caching ------------------------------------------------


def canonical_json(doc: Any) -> str:
    """The JSON text that is stored and hashed: keys in their given order (order
    is content in a bundle), UTF-8 characters kept, no NaN."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def get_campaign(code: str) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.code == code))


def settings_for(campaign: Campaign) -> OutcomeSettings:
    settings = db.session.scalar(select(OutcomeSettings).where(OutcomeSettings.campaign_id == campaign.id))
    if settings is None:
        settings = OutcomeSettings(campaign_id=campaign.id, min_group_ballots=5, public=True, consequences={})
        db.session.add(settings)
        db.session.flush()
    return settings


@lru_cache(maxsize=1)
def _fingerprint_query() -> Any:
    """The fingerprint's statement, built once (every results request runs it)."""
    campaign_id = bindparam("campaign_id")
    units = select(CampaignUnit.id).where(CampaignUnit.campaign_id == campaign_id)
    batch = Batch.__table__.alias("b")
    newest = (select(func.max(Ballot.id)).where(Ballot.batch_id == batch.c.id)
              .correlate(batch).scalar_subquery())
    where_batch = batch.c.campaign_id == campaign_id
    where_score = ObjectiveScore.campaign_unit_id.in_(units)
    where_veto = Veto.campaign_unit_id.in_(units)
    where_group = CampaignGroup.campaign_id == campaign_id
    where_unit = CampaignUnit.campaign_id == campaign_id
    figures = [
        (func.max(newest), where_batch), (func.count(batch.c.id), where_batch),
        (func.sum(func.coalesce(batch.c.issued, -1)), where_batch), (func.max(batch.c.id), where_batch),
        (func.count(ObjectiveScore.id), where_score), (func.sum(ObjectiveScore.score), where_score),
        (func.max(ObjectiveScore.id), where_score), (func.sum(ObjectiveScore.campaign_unit_id), where_score),
        (func.count(Veto.id), where_veto), (func.max(Veto.id), where_veto), (func.sum(Veto.campaign_unit_id), where_veto),
        (func.count(CampaignGroup.id), where_group), (func.sum(CampaignGroup.weight), where_group),
        (func.count(CampaignUnit.id), where_unit), (func.max(CampaignUnit.id), where_unit),
    ]
    return select(*(select(agg).where(cond).scalar_subquery() for agg, cond in figures))


def fingerprint(campaign: Campaign) -> str:
    """A digest of what the results depend on, in one cheap query: the newest
    ballot of each batch (the ballot table's batch index answers it without
    reading the ballots), the batches' issued counts, the objective scores,
    the vetoes, the groups' weights, the units; and the rules. Ballots and
    their answers are written together, so new ones move the newest id; an
    edit or deletion through the ORM drops the cache outright (see
    ``survey.models.outcome``)."""
    row = db.session.execute(_fingerprint_query(), {"campaign_id": campaign.id}).one()
    return sha256(canonical_json([campaign.rules or {}, [None if v is None else float(v) for v in row]]))


def compute(campaign: Campaign, rules_override: dict | None = None) -> tuple[str, dict[str, Any]]:
    """Export the bundle and evaluate it: (bundle JSON text, results document)."""
    bundle_text = canonical_json(export_bundle(campaign))
    results = evaluate_document(json.loads(bundle_text), rules_override).to_json()
    return bundle_text, results


def _snapshot(campaign: Campaign, kind: str) -> ResultSnapshot | None:
    return db.session.scalar(select(ResultSnapshot).where(
        ResultSnapshot.campaign_id == campaign.id, ResultSnapshot.kind == kind))


def final_snapshot(campaign: Campaign) -> ResultSnapshot | None:
    return _snapshot(campaign, "final")


def current_snapshot(campaign: Campaign) -> ResultSnapshot:
    """The stored results the pages show: the final snapshot once there is
    one, otherwise the cache, recomputed where the campaign's data changed."""
    # The results text is read only where this process has not parsed it yet (``parsed``).
    stored = {snap.kind: snap for snap in db.session.scalars(
        select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign.id)
        .options(defer(ResultSnapshot.results_json)))}
    if "final" in stored:
        return stored["final"]
    fp = fingerprint(campaign)
    cache = stored.get("cache")
    if cache is not None and cache.fingerprint == fp:
        return cache
    bundle_text, results = compute(campaign)
    results_text = canonical_json(results)
    values = {"fingerprint": fp, "bundle_sha256": sha256(bundle_text), "results_json": results_text,
              "results_sha256": sha256(results_text), "created_at": utcnow()}
    if cache is None:
        cache = ResultSnapshot(campaign_id=campaign.id, kind="cache", **values)
        try:
            with db.session.begin_nested():
                db.session.add(cache)
        except IntegrityError:
            # Another request stored the first cache while this one computed
            # (the same data: the same figures): use that row, updated.
            cache = db.session.scalar(select(ResultSnapshot).where(
                ResultSnapshot.campaign_id == campaign.id, ResultSnapshot.kind == "cache"))
    for name, value in values.items():
        setattr(cache, name, value)
    db.session.flush()
    artifacts.prune(campaign.id)
    queue_drawing(campaign, cache)
    return cache


def shown_snapshot(campaign: Campaign) -> ResultSnapshot | None:
    """The stored snapshot the pages show (final, else the cache), as it is:
    never recomputed here."""
    stored = {snap.kind: snap for snap in db.session.scalars(
        select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign.id))}
    return stored.get("final") or stored.get("cache")


def queue_drawing(campaign: Campaign, snap: ResultSnapshot) -> None:
    """Have the charts and tables of a new snapshot drawn in the background
    and kept beside it (``exports.draw_results``); the job starts once this
    commits. Not while the campaign is open: each new ballot makes the next
    view compute another snapshot, so what is drawn for one would soon be
    thrown away; its pages draw what they show on the first view instead."""
    if campaign.state.is_open:
        return
    jobs.enqueue("draw_results", {"campaign_id": snap.campaign_id, "results_sha256": snap.results_sha256})


class _Parsed:
    """Snapshots' results parsed once per process, keyed by their SHA-256: the
    text under one hash never changes, and a recomputation that changes the
    results gives a new hash, so a stale entry is never found again (it ages
    out of the LRU)."""

    size = 16

    def __init__(self) -> None:
        self.entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, snap: ResultSnapshot) -> dict[str, Any]:
        key = snap.results_sha256
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        results = json.loads(snap.results_json)
        with self.lock:
            self.entries[key] = results
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return results


    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_parsed = _Parsed()


def forget_parsed() -> None:
    """Empty this process's parsed results (the bench measures cold requests)."""
    _parsed.clear()


def parsed(snap: ResultSnapshot) -> dict[str, Any]:
    """The results document of a stored snapshot, shared by the requests of
    this process: callers read it and never change it."""
    return _parsed.get(snap)


def results_for(campaign: Campaign) -> dict[str, Any]:
    return parsed(current_snapshot(campaign))


def effective_rules(campaign: Campaign) -> dict[str, Any]:
    """The rules the campaign's results are computed with (SCORING.md section 1)."""
    return analysis_rules(campaign.rules or None)


# --- what the pages show ---------------------------------------------------


@dataclass
class UnitRow:
    code: str
    name: str
    category: str
    result: dict[str, Any]
    override: ClassOverride | None = None

    @property
    def computed_class(self) -> str:
        return self.result["class"]

    @property
    def final_class(self) -> str:
        return self.override.new_class if self.override is not None else self.result["class"]

    @property
    def score_text(self) -> str:
        return "—" if self.result["score"] is None else f"{self.result['score']:.2f}"

    @property
    def ci_text(self) -> str:
        ci = self.result["ci95"]
        return "—" if not ci else f"{ci[0]:.1f}–{ci[1]:.1f}"

    @property
    def stability_text(self) -> str:
        st = self.result["stability"]
        return "—" if st is None else f"{st * 100:.1f}%"


@dataclass
class CategoryView:
    code: str
    label: str
    units: list[UnitRow] = field(default_factory=list)


def ranking(campaign: Campaign, results: dict[str, Any], units: list[CampaignUnit] | list[UnitLine] | None = None,
            overrides: list[ClassOverride] | None = None,
            categories: list[CategoryLine] | None = None) -> list[CategoryView]:
    """Units per category, ranked (insufficient units last), with any override.
    ``units``, ``overrides`` and ``categories``: the campaign's, where the caller has them already."""
    by_code = {u["code"]: u for u in results["units"]}
    units = unit_list(campaign) if units is None else units
    overrides = {o.campaign_unit.code: o for o in (overrides_of(campaign) if overrides is None else overrides)}
    categories = categories_of(campaign) if categories is None else categories
    views = [CategoryView(c.code, c.label) for c in categories]
    index = {v.code: v for v in views}
    for cu in units:
        r = by_code.get(cu.code)
        if r is None:
            continue
        category = cu.category_code if isinstance(cu, UnitLine) else cu.category.code
        index[category].units.append(UnitRow(cu.code, cu.name, category, r, overrides.get(cu.code)))
    for v in views:
        v.units.sort(key=lambda row: (row.result["rank"] is None, row.result["rank"] or 0, row.code))
    return views


class CategoryLine(NamedTuple):
    """A campaign's category as the ranking needs it."""

    code: str
    label: str


def categories_of(campaign: Campaign) -> list[CategoryLine]:
    """The campaign's categories in order, as plain rows (one query, no ORM objects)."""
    rows = db.session.execute(
        select(Category.code, CampaignCategory.label).join(CampaignCategory.category)
        .where(CampaignCategory.campaign_id == campaign.id).order_by(CampaignCategory.position))
    return [CategoryLine(*row) for row in rows]


def override_of(cu: CampaignUnit) -> ClassOverride | None:
    return db.session.scalar(select(ClassOverride).where(ClassOverride.campaign_unit_id == cu.id))


def overrides_of(campaign: Campaign) -> list[ClassOverride]:
    return list(db.session.scalars(select(ClassOverride).join(CampaignUnit)
                                   .where(CampaignUnit.campaign_id == campaign.id)
                                   .order_by(CampaignUnit.position)))


class UnitLine(NamedTuple):
    """A campaign unit as the ranking and the unit choices need it."""

    id: int
    code: str
    name: str
    category_code: str


def unit_list(campaign: Campaign) -> list[UnitLine]:
    """The campaign's units in order, as plain rows (one query, no ORM objects:
    the ranking page lists all of them on every request)."""
    rows = db.session.execute(
        select(CampaignUnit.id, Unit.code, CampaignUnit.name, Category.code)
        .join(Unit, CampaignUnit.unit_id == Unit.id)
        .join(CampaignCategory, CampaignUnit.campaign_category_id == CampaignCategory.id)
        .join(Category, CampaignCategory.category_id == Category.id)
        .where(CampaignUnit.campaign_id == campaign.id).order_by(CampaignUnit.position))
    return [UnitLine(*row) for row in rows]


def units_of(campaign: Campaign) -> list[CampaignUnit]:
    """The campaign's units in order, with their unit and category records
    loaded in the same query (pages list all of them)."""
    return list(db.session.scalars(
        select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
        .options(joinedload(CampaignUnit.unit),
                 joinedload(CampaignUnit.category).joinedload(CampaignCategory.category))
        .order_by(CampaignUnit.position)).unique())


def campaign_unit(campaign: Campaign, code: str) -> CampaignUnit | None:
    return db.session.scalar(select(CampaignUnit).join(Unit).where(
        CampaignUnit.campaign_id == campaign.id, Unit.code == code)
        .options(joinedload(CampaignUnit.unit),
                 joinedload(CampaignUnit.category).joinedload(CampaignCategory.category)))


def group_labels(campaign: Campaign) -> dict[str, str]:
    rows = db.session.execute(select(EvaluatorGroup.code, CampaignGroup.label).join(CampaignGroup.group)
                              .where(CampaignGroup.campaign_id == campaign.id).order_by(CampaignGroup.position))
    return {code: label for code, label in rows}


def option_labels(campaign: Campaign) -> list[tuple[str, str]]:
    """The scored options (code, label) in scale order."""
    return [(o.code, o.label) for o in campaign.scale if o.points is not None]


def answers_of(comment_ids: list[int]) -> dict[int, CommentAnswer]:
    """The answers to these comments, by comment id, in one query."""
    if not comment_ids:
        return {}
    return {a.comment_id: a for a in db.session.scalars(
        select(CommentAnswer).where(CommentAnswer.comment_id.in_(comment_ids)))}


def comments_of(campaign: Campaign, cu: CampaignUnit) -> list[tuple[Comment, str]]:
    """A unit's comments with the group code of their ballot, in a stable order
    that says nothing about when they came in."""
    rows = db.session.execute(
        select(Comment, CampaignGroup).join(Ballot, Comment.ballot_id == Ballot.id)
        .join(Batch, Ballot.batch_id == Batch.id).join(CampaignGroup, Batch.campaign_group_id == CampaignGroup.id)
        .where(Comment.campaign_unit_id == cu.id)).all()
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


def liaison_view(campaign: Campaign, cu: CampaignUnit, result: dict[str, Any]) -> LiaisonView:
    threshold = settings_for(campaign).min_group_ballots
    labels = group_labels(campaign)
    groups = result["explain"]["groups"]
    shown, small = [], []
    for code, g in groups.items():
        if g["n"] >= threshold:
            shown.append({"code": code, "label": labels.get(code, code), "n": g["n"], "score": g["score"],
                          "shares": (result.get("group_shares") or {}).get(code)})
        elif g["n"] > 0:
            small.append(code)
    pooled_n = sum(groups[c]["n"] for c in small)
    pool_ok = pooled_n >= threshold
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


def data_quality(campaign: Campaign, results: dict[str, Any]) -> dict[str, Any]:
    ex = results["explain"]
    return {"ballots": results["ballots"], "flags": ex["flags"], "exclude_flags": ex["exclude_flags"],
            "excluded": ex["excluded"]}


def preview_exclude_flags(campaign: Campaign, flags: list[str]) -> dict[str, Any]:
    """What the results would be with another ``exclude_flags``: the classes that change."""
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise ResultsError(_("未知的数据质量标记：%(f)s", f="、".join(unknown)))
    current = results_for(campaign)
    _bundle, preview = compute(campaign, {"exclude_flags": list(flags)})
    names = {cu.code: cu.name for cu in units_of(campaign)}
    before = {u["code"]: u for u in current["units"]}
    changes = []
    for u in preview["units"]:
        old = before[u["code"]]
        if old["class"] != u["class"]:
            changes.append({"code": u["code"], "name": names.get(u["code"], u["code"]),
                            "before": old["class"], "after": u["class"],
                            "score_before": old["score"], "score_after": u["score"]})
    return {"flags": list(flags), "changes": changes, "excluded": preview["ballots"]["excluded"],
            "excluded_before": current["ballots"]["excluded"], "valid": preview["ballots"]["valid"]}


def _require_open(campaign: Campaign) -> None:
    if campaign.state.is_frozen:
        raise ResultsError(_("评议结果已定稿，不能再修改。"))


def adopt_exclude_flags(campaign: Campaign, flags: list[str]) -> None:
    _require_open(campaign)
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise ResultsError(_("未知的数据质量标记：%(f)s", f="、".join(unknown)))
    before = dict(campaign.rules or {})
    campaign.rules = {**before, "exclude_flags": list(flags)}
    audit.record("rules.exclude_flags", f"campaign:{campaign.code}", {"rules": before}, {"rules": campaign.rules})


# --- objective scores and vetoes -----------------------------------------


def set_objective_score(campaign: Campaign, cu: CampaignUnit, component: str, score: float, evidence: str) -> None:
    _require_open(campaign)
    row = db.session.scalar(select(ObjectiveScore).where(
        ObjectiveScore.campaign_unit_id == cu.id, ObjectiveScore.component == component))
    before = None if row is None else {"component": component, "score": row.score}
    if row is None:
        position = db.session.scalar(select(func.coalesce(func.max(ObjectiveScore.position), -1))
                                     .join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)) + 1
        row = ObjectiveScore(campaign_unit=cu, position=position, component=component, score=score)
        db.session.add(row)
    row.score = score
    audit.record("objective_score.set", f"campaign:{campaign.code}/unit:{cu.code}", before,
                 {"component": component, "score": score, "evidence": evidence})


def add_veto(campaign: Campaign, cu: CampaignUnit, reason: str, evidence: str) -> Veto:
    _require_open(campaign)
    position = db.session.scalar(select(func.coalesce(func.max(Veto.position), -1))
                                 .join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)) + 1
    veto = Veto(campaign_unit=cu, position=position, reason=reason, evidence=evidence)
    db.session.add(veto)
    audit.record("veto.create", f"campaign:{campaign.code}/unit:{cu.code}", None,
                 {"reason": reason, "evidence": evidence})
    return veto


def remove_veto(campaign: Campaign, veto: Veto) -> None:
    _require_open(campaign)
    audit.record("veto.delete", f"campaign:{campaign.code}/unit:{veto.campaign_unit.code}",
                 {"reason": veto.reason, "evidence": veto.evidence}, None)
    db.session.delete(veto)


def vetoes_of(campaign: Campaign) -> list[Veto]:
    return list(db.session.scalars(select(Veto).join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
                                   .order_by(Veto.position, Veto.id)))


def objective_scores_of(campaign: Campaign) -> list[ObjectiveScore]:
    return list(db.session.scalars(select(ObjectiveScore).join(CampaignUnit)
                                   .where(CampaignUnit.campaign_id == campaign.id)
                                   .order_by(CampaignUnit.position, ObjectiveScore.component)))


# --- sign-off, overrides, finalization -----------------------------------


def quorum(campaign: Campaign, settings: OutcomeSettings | None = None) -> int:
    """Approvals needed: the campaign's setting, or every active committee member."""
    q = (settings or settings_for(campaign)).quorum
    if q is not None:
        return q
    members = db.session.scalar(select(func.count(User.id)).where(User.role == "committee", User.active.is_(True)))
    return max(1, members or 0)


def approvals_of(campaign: Campaign) -> list[Approval]:
    """The campaign's approvals in order, with their users (the page names them)."""
    return list(db.session.scalars(select(Approval).where(Approval.campaign_id == campaign.id)
                                   .options(joinedload(Approval.user)).order_by(Approval.approved_at)))


def valid_approvals(campaign: Campaign) -> list[Approval]:
    """Approvals of the results as they stand now (a change of rules voids the older ones)."""
    sha = current_snapshot(campaign).results_sha256
    return [a for a in approvals_of(campaign) if a.results_sha256 == sha]


def approve(campaign: Campaign, user: User) -> Approval:
    if not campaign.state.is_closed:
        raise ResultsError(_("只有已截止、尚未定稿的评议活动才能审定。"))
    sha = current_snapshot(campaign).results_sha256
    approval = db.session.scalar(select(Approval).where(Approval.campaign_id == campaign.id,
                                                        Approval.user_id == user.id))
    before = None
    if approval is None:
        approval = Approval(campaign_id=campaign.id, user_id=user.id, results_sha256=sha)
        db.session.add(approval)
    else:
        before = {"results_sha256": approval.results_sha256}
        approval.results_sha256 = sha
        approval.approved_at = utcnow()
    audit.record("results.approve", f"campaign:{campaign.code}", before, {"results_sha256": sha})
    return approval


def override_class(campaign: Campaign, cu: CampaignUnit, new_class: str, reason: str, user: User) -> ClassOverride:
    if not campaign.state.results_ready:
        raise ResultsError(_("评议截止后才能调整评定等次。"))
    if new_class not in CLASSES:
        raise ResultsError(_("未知的评定等次 %(c)s", c=new_class))
    if not reason or not reason.strip():
        raise ResultsError(_("调整评定等次必须写明理由。"))
    result = next(u for u in results_for(campaign)["units"] if u["code"] == cu.code)
    row = db.session.scalar(select(ClassOverride).where(ClassOverride.campaign_unit_id == cu.id))
    before = None if row is None else {"new_class": row.new_class, "reason": row.reason}
    if new_class == result["class"]:
        # Back to the computed class: the override goes, the log keeps it.
        if row is not None:
            db.session.delete(row)
        audit.record("class.override", f"campaign:{campaign.code}/unit:{cu.code}", before,
                     {"new_class": new_class, "reason": reason.strip(), "removed": True})
        return row
    if row is None:
        row = ClassOverride(campaign_unit=cu)
        db.session.add(row)
    row.computed_class = result["class"]
    row.new_class = new_class
    row.reason = reason.strip()
    row.user_id = user.id
    row.created_at = utcnow()
    audit.record("class.override", f"campaign:{campaign.code}/unit:{cu.code}", before,
                 {"computed_class": result["class"], "new_class": new_class, "reason": row.reason})
    return row


def finalize(campaign: Campaign, today: dt.date) -> ResultSnapshot:
    """Freeze ballots, rules and results: store the exact bundle and results with
    their SHA-256, generate the consequences and the rectification items."""
    if not campaign.state.is_closed:
        raise ResultsError(_("只有已截止、尚未定稿的评议活动才能定稿。"))
    need, have = quorum(campaign), len(valid_approvals(campaign))
    if have < need:
        raise ResultsError(_("审定人数不足：需要 %(need)d 人，已有 %(have)d 人。", need=need, have=have))
    # First, so that the stored bundle holds pseudonyms too (docs/anonymity.md);
    # no flag or figure changes with it.
    pseudonymise_sources(campaign)
    bundle_text, results = compute(campaign)
    results_text = canonical_json(results)
    snap = ResultSnapshot(campaign_id=campaign.id, kind="final", fingerprint=fingerprint(campaign),
                          bundle_sha256=sha256(bundle_text), bundle_json=bundle_text,
                          results_json=results_text, results_sha256=sha256(results_text))
    db.session.add(snap)
    campaign.state.finalize()
    db.session.flush()
    queue_drawing(campaign, snap)
    made = generate_consequences(campaign, results, today)
    settings = settings_for(campaign)
    due = settings.rectification_due or today + dt.timedelta(days=30)
    for cu in units_of(campaign):
        db.session.add(Rectification(campaign_unit=cu, due_on=due))
    audit.record("campaign.finalize", f"campaign:{campaign.code}", {"status": "closed"},
                 {"status": "finalized", "bundle_sha256": snap.bundle_sha256,
                  "results_sha256": snap.results_sha256, "consequences": len(made)})
    return snap


def final_classes(campaign: Campaign, results: dict[str, Any]) -> dict[str, str]:
    overrides = {o.campaign_unit.code: o.new_class for o in overrides_of(campaign)}
    return {u["code"]: overrides.get(u["code"], u["class"]) for u in results["units"]}


def previous_campaign(campaign: Campaign) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.year == campaign.year - 1,
                                                    where_frozen(Campaign.status))
                             .order_by(Campaign.id.desc()).limit(1))


def generate_consequences(campaign: Campaign, results: dict[str, Any], today: dt.date) -> list[Consequence]:
    config = {**DEFAULT_CONSEQUENCES, **(settings_for(campaign).consequences or {})}
    classes = final_classes(campaign, results)
    by_code = {u["code"]: u for u in results["units"]}
    prev_bottom: set[str] = set()
    previous = previous_campaign(campaign)
    if previous is not None and config.get("escalate_bottom_two_years"):
        snap = final_snapshot(previous)
        if snap is not None:
            prev_bottom = {u["code"] for u in json.loads(snap.results_json)["units"] if "bottom" in u["reasons"]}
    made: list[Consequence] = []

    def add(cu: CampaignUnit, kind: str, text: str, due: dt.date | None = None) -> None:
        row = Consequence(campaign_unit=cu, kind=kind, text=text, due_on=due)
        db.session.add(row)
        made.append(row)

    for cu in units_of(campaign):
        cls = classes.get(cu.code)
        name = cu.name
        if cls == "basically_satisfied" and config.get("self_examination"):
            due = today + dt.timedelta(days=int(config.get("self_examination_days") or 15))
            add(cu, "self_examination", _("%(name)s 在%(campaign)s中被评为“基本满意”，请于 %(due)s 前向评议领导小组"
                                          "提交书面检查。", name=name, campaign=campaign.name, due=due.isoformat()), due)
        if cls == "dissatisfied":
            if config.get("criticism_notice"):
                add(cu, "criticism_notice", _("关于对%(name)s予以通报批评的通报（草稿）：在%(campaign)s中，%(name)s"
                                              "被评为“不满意”单位，现予以通报批评，责令其认真整改。",
                                              name=name, campaign=campaign.name))
            if config.get("media_list"):
                add(cu, "media_list", _("%(name)s 列入媒体公布的“不满意”单位名单。", name=name))
            if config.get("bonus_linkage"):
                add(cu, "bonus_linkage", _("%(name)s 年度评议结果为“不满意”，按规定与年度绩效考核奖金挂钩，请财务部门"
                                           "核减。", name=name))
            if config.get("leader_handling"):
                add(cu, "leader_handling", _("对%(name)s主要负责人进行%(how)s。", name=name,
                                             how=config["leader_handling"]))
        if "bottom" in by_code[cu.code]["reasons"] and cu.code in prev_bottom:
            add(cu, "organizational_handling", _("%(name)s 连续两年评议末位，建议对主要负责人进行组织处理。",
                                                 name=name))
    return made


def consequences_of(campaign: Campaign) -> list[Consequence]:
    return list(db.session.scalars(select(Consequence).join(CampaignUnit)
                                   .where(CampaignUnit.campaign_id == campaign.id)
                                   .order_by(CampaignUnit.position, Consequence.id)))


# --- publication and appeals ------------------------------------------------


def publish(campaign: Campaign, public: bool, start: dt.date | None, end: dt.date | None) -> None:
    if not campaign.state.is_finalized:
        raise ResultsError(_("只有已定稿的评议结果才能公示。"))
    if public and (start is None or end is None):
        raise ResultsError(_("公开公示须填写公示开始和结束日期。"))
    if public and end < start:
        raise ResultsError(_("公示结束日期不能早于开始日期。"))
    settings = settings_for(campaign)
    settings.public = public
    settings.public_from = start if public else None
    settings.public_until = end if public else None
    settings.published_at = utcnow()
    campaign.state.publish()
    audit.record("campaign.publish", f"campaign:{campaign.code}", {"status": "finalized"},
                 {"status": "published", "public": public, "from": start, "until": end})


def public_state(campaign: Campaign, today: dt.date) -> str:
    """``hidden`` (not public), ``before``, ``open`` or ``ended``."""
    settings = settings_for(campaign)
    if not campaign.state.is_published or not settings.public:
        return "hidden"
    if settings.public_from and today < settings.public_from:
        return "before"
    if settings.public_until and today > settings.public_until:
        return "ended"
    return "open"


def file_appeal(campaign: Campaign, cu: CampaignUnit, text: str, user: User) -> Appeal:
    if not campaign.state.is_frozen:
        raise ResultsError(_("结果定稿后才能提出申诉。"))
    appeal = Appeal(campaign_unit=cu, text=text.strip(), filed_by_id=user.id)
    db.session.add(appeal)
    audit.record("appeal.file", f"campaign:{campaign.code}/unit:{cu.code}", None, {"text": appeal.text})
    return appeal


def decide_appeal(campaign: Campaign, appeal: Appeal, decision: str, outcome: str, new_class: str | None,
                  user: User) -> None:
    if appeal.decision is not None:
        raise ResultsError(_("该申诉已有复核结论。"))
    appeal.decision = decision
    appeal.outcome = outcome.strip()
    appeal.decided_by_id = user.id
    appeal.decided_at = utcnow()
    if decision == "changed":
        if not new_class:
            raise ResultsError(_("变更评定须选择新的评定等次。"))
        override_class(campaign, appeal.campaign_unit, new_class, _("申诉复核：%(o)s", o=appeal.outcome), user)
    audit.record("appeal.decide", f"campaign:{campaign.code}/unit:{appeal.campaign_unit.code}", None,
                 {"decision": decision, "outcome": appeal.outcome, "new_class": new_class})


def appeals_of(campaign: Campaign, cu: CampaignUnit | None = None) -> list[Appeal]:
    q = select(Appeal).join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
    if cu is not None:
        q = q.where(Appeal.campaign_unit_id == cu.id)
    return list(db.session.scalars(q.order_by(Appeal.filed_at)))


# --- rectification ------------------------------------------------------------


def rectification_of(cu: CampaignUnit) -> Rectification | None:
    return db.session.scalar(select(Rectification).where(Rectification.campaign_unit_id == cu.id))


def rectifications_of(campaign: Campaign) -> list[Rectification]:
    return list(db.session.scalars(select(Rectification).join(CampaignUnit)
                                   .where(CampaignUnit.campaign_id == campaign.id)
                                   .order_by(CampaignUnit.position)))


def answer_comment(campaign: Campaign, cu: CampaignUnit, comment_id: int, kind: str, text: str,
                   user: User) -> CommentAnswer:
    if not campaign.state.is_frozen:
        raise ResultsError(_("结果定稿后才能答复意见。"))
    visible = {c["id"] for c in liaison_view(campaign, cu, _unit_result(campaign, cu)).comments}
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


def _unit_result(campaign: Campaign, cu: CampaignUnit) -> dict[str, Any]:
    return next(u for u in results_for(campaign)["units"] if u["code"] == cu.code)


def submit_rectification(campaign: Campaign, cu: CampaignUnit, part: str, text: str) -> Rectification:
    rect = rectification_of(cu)
    if rect is None:
        raise ResultsError(_("结果定稿后才能提交整改方案和报告。"))
    if rect.accepted_at is not None:
        raise ResultsError(_("整改已验收，不能再修改。"))
    before = {part: getattr(rect, part)}
    setattr(rect, part, text.strip())
    setattr(rect, f"{part}_at", utcnow())
    audit.record(f"rectification.{part}", f"campaign:{campaign.code}/unit:{cu.code}", before, {part: text.strip()})
    return rect


def set_due(campaign: Campaign, rect: Rectification, due: dt.date) -> None:
    before = {"due_on": rect.due_on}
    rect.due_on = due
    audit.record("rectification.due", f"campaign:{campaign.code}/unit:{rect.campaign_unit.code}", before,
                 {"due_on": due})


def mark_overdue(campaign: Campaign, today: dt.date) -> list[Rectification]:
    """红字: rectifications past their deadline and not accepted are marked red."""
    marked = []
    for rect in rectifications_of(campaign):
        if rect.due_on < today and rect.accepted_at is None and rect.marked_red_at is None:
            rect.marked_red_at = utcnow()
            marked.append(rect)
            audit.record("rectification.mark_red", f"campaign:{campaign.code}/unit:{rect.campaign_unit.code}",
                         None, {"due_on": rect.due_on, "today": today})
    return marked


def accept_rectification(campaign: Campaign, rect: Rectification, user: User) -> None:
    """The committee accepts the report; a red mark is cleared (消红)."""
    if not rect.report:
        raise ResultsError(_("单位尚未提交整改报告，不能验收。"))
    if rect.accepted_at is not None:
        raise ResultsError(_("整改已验收。"))
    rect.accepted_at = utcnow()
    rect.accepted_by_id = user.id
    audit.record("rectification.accept", f"campaign:{campaign.code}/unit:{rect.campaign_unit.code}",
                 {"red": rect.marked_red_at is not None}, {"accepted": True, "cleared": rect.marked_red_at is not None})


def schedule_follow_up(campaign: Campaign, cu: CampaignUnit, on: dt.date, note: str) -> FollowUp:
    row = FollowUp(campaign_unit=cu, scheduled_on=on, note=note.strip() or None)
    db.session.add(row)
    audit.record("follow_up.schedule", f"campaign:{campaign.code}/unit:{cu.code}", None,
                 {"scheduled_on": on, "note": note})
    return row


def follow_ups_of(campaign: Campaign) -> list[FollowUp]:
    return list(db.session.scalars(select(FollowUp).join(CampaignUnit)
                                   .where(CampaignUnit.campaign_id == campaign.id)
                                   .order_by(FollowUp.scheduled_on)))


# --- history across years -------------------------------------------------------


def years_rated(unit_code: str) -> int:
    """In how many campaigns with results (closed or later) a unit was rated:
    what ``history`` would list, counted without reading any results."""
    return db.session.scalar(
        select(func.count(Campaign.id)).join(CampaignUnit, CampaignUnit.campaign_id == Campaign.id).join(Unit)
        .where(Unit.code == unit_code, where_results_ready(Campaign.status))) or 0


def units_with_history(campaign: Campaign) -> set[str]:
    """The codes of the campaign's units rated in more than one campaign with
    results (their pages show a history chart), in one query."""
    codes = select(Unit.code).join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
    return set(db.session.scalars(
        select(Unit.code).join(CampaignUnit, CampaignUnit.unit_id == Unit.id)
        .join(Campaign, CampaignUnit.campaign_id == Campaign.id)
        .where(Unit.code.in_(codes), where_results_ready(Campaign.status))
        .group_by(Unit.code).having(func.count(Campaign.id) > 1)))


def history(unit_code: str, known: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A unit's score and class in every campaign that has results, by year
    (campaigns share Unit records by code). ``known``: results already at
    hand, by campaign id."""
    rows = db.session.execute(
        select(Campaign, CampaignUnit).join(CampaignUnit, CampaignUnit.campaign_id == Campaign.id)
        .join(Unit).where(Unit.code == unit_code).order_by(Campaign.year, Campaign.id)).all()
    points = []
    for campaign, _cu in rows:
        if not campaign.state.results_ready:
            continue
        results = (known or {}).get(campaign.id) or results_for(campaign)
        result = next((u for u in results["units"] if u["code"] == unit_code), None)
        if result is not None:
            points.append({"year": campaign.year, "campaign": campaign.name, "score": result["score"],
                           "class": result["class"]})
    return points

