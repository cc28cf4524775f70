"""A campaign's results snapshot: computed from the campaign's ballots (the columnar path),
fingerprinted, stored (``ResultSnapshot``: the cache, recomputed where the
campaign's data changed, or the final record) and parsed once per process."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from analysis import effective_rules as analysis_rules
from analysis import evaluate
from survey import caches, jobs
from survey.bundles import bundle_campaign
from survey.clock import utcnow
from survey.database import prepared
from survey.extensions import db
from survey.models import Ballot, Batch, Campaign, CampaignGroup, CampaignUnit, ObjectiveScore, ResultSnapshot, Veto
from survey.results import artifacts
from survey.results.frozen import BundleSink


def canonical_json(doc: Any) -> str:
    """The JSON text that is stored and hashed: keys in their given order (order
    is content in a bundle), UTF-8 characters kept, no NaN."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@prepared
def _fingerprint_query() -> Select[Any]:
    """The fingerprint's statement, built once (every results request runs it)."""
    campaign_id: BindParameter[int] = bindparam("campaign_id")
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


def compute(campaign: Campaign, rules_override: dict[str, Any] | None = None, *,
            sink: BundleSink | None = None) -> tuple[str, dict[str, Any]]:
    """Evaluate the campaign on the columnar path: (its bundle's SHA-256, results document).

    The ballots are read from the database in chunks straight into the
    engine's arrays (``survey.bundles.bundle_campaign``) while the bundle
    text is written to `sink` (its SHA-256; finalization's sink also keeps
    it for the frozen store). The results are those of
    ``evaluate_document(json.loads(canonical_json(export_bundle(campaign))))``
    (the JSON path: import, export, the command line), to the last byte.
    """
    sink = sink if sink is not None else BundleSink()
    results = evaluate(bundle_campaign(campaign, sink.write, rules_override)).to_json()
    return sink.sha256, results


def stored_values(campaign: Campaign, bundle_sha256: str, results: dict[str, Any]) -> dict[str, Any]:
    """The columns of a snapshot of these results (cache or final)."""
    results_text = canonical_json(results)
    return {"fingerprint": fingerprint(campaign), "bundle_sha256": bundle_sha256,
            "results_json": results_text, "results_sha256": sha256(results_text)}


def final_snapshot(campaign: Campaign, version: int | None = None) -> ResultSnapshot | None:
    """The campaign's final snapshot: the latest version, or the one asked for."""
    q = select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign.id, ResultSnapshot.kind == "final")
    if version is not None:
        q = q.where(ResultSnapshot.version == version)
    return db.session.scalar(q.order_by(ResultSnapshot.version.desc()).limit(1))


def final_versions(campaign: Campaign) -> list[ResultSnapshot]:
    """Every version of the campaign's final snapshot, the first first (without their texts)."""
    return list(db.session.scalars(
        select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign.id, ResultSnapshot.kind == "final")
        .options(defer(ResultSnapshot.results_json), defer(ResultSnapshot.overrides_json))
        .order_by(ResultSnapshot.version)))


def _by_kind(snaps: Any) -> dict[str, ResultSnapshot]:
    """A campaign's stored snapshots by kind: the cache, and the latest final version."""
    stored: dict[str, ResultSnapshot] = {}
    for snap in snaps:
        if snap.kind not in stored or snap.version > stored[snap.kind].version:
            stored[snap.kind] = snap
    return stored


def _stored_cache(campaign: Campaign, values: dict[str, Any]) -> ResultSnapshot:
    """A first cache row for the campaign, or the one another request stored
    while this one computed (the same data: the same figures)."""
    cache = ResultSnapshot(campaign_id=campaign.id, kind="cache", **values)
    try:
        with db.session.begin_nested():
            db.session.add(cache)
    except IntegrityError:
        other = db.session.scalar(select(ResultSnapshot).where(
            ResultSnapshot.campaign_id == campaign.id, ResultSnapshot.kind == "cache"))
        if other is None:
            raise
        cache = other
    return cache


@prepared
def _snapshots_of() -> Select[ResultSnapshot]:
    """A campaign's stored snapshots, without their results text (read only where
    this process has not parsed it yet: ``parsed``)."""
    return (select(ResultSnapshot).where(ResultSnapshot.campaign_id == bindparam("campaign_id"))
            .options(defer(ResultSnapshot.results_json)))


def current_snapshot(campaign: Campaign) -> ResultSnapshot:
    """The stored results the pages show: the final snapshot once there is
    one (its latest version), otherwise the cache, recomputed where the
    campaign's data changed."""
    # The results text is read only where this process has not parsed it yet (``parsed``).
    stored = _by_kind(db.session.scalars(_snapshots_of(), {"campaign_id": campaign.id}))
    if "final" in stored:
        return stored["final"]
    cache = stored.get("cache")
    if cache is not None and cache.fingerprint == fingerprint(campaign):
        return cache
    values = {**stored_values(campaign, *compute(campaign)), "created_at": utcnow()}
    if cache is None:
        cache = _stored_cache(campaign, values)
    for name, value in values.items():
        setattr(cache, name, value)
    db.session.flush()
    artifacts.prune(campaign.id)
    queue_drawing(campaign, cache)
    return cache


def shown_snapshot(campaign: Campaign) -> ResultSnapshot | None:
    """The stored snapshot the pages show (final, else the cache), as it is:
    never recomputed here."""
    stored = _by_kind(db.session.scalars(
        select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign.id)))
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


#: Snapshots' results parsed once per process, keyed by their SHA-256: the
#: text under one hash never changes, and a recomputation that changes the
#: results gives a new hash, so a stale entry is never found again (it ages out).
_parsed: caches.Cache[str, dict[str, Any]] = caches.Cache("results.parsed", 16)


def parsed(snap: ResultSnapshot) -> dict[str, Any]:
    """The results document of a stored snapshot, shared by the requests of
    this process: callers read it and never change it."""
    results = _parsed.get(snap.results_sha256)
    if results is None:
        results = _parsed.put(snap.results_sha256, json.loads(snap.results_json))
    return results


def results_for(campaign: Campaign) -> dict[str, Any]:
    """The results document the pages show (``current_snapshot``)."""
    return parsed(current_snapshot(campaign))


def effective_rules(campaign: Campaign) -> dict[str, Any]:
    """The rules the campaign's results are computed with (SCORING.md section 1)."""
    return analysis_rules(campaign.rules or None)
