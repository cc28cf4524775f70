"""The columnar path of the results and of finalization (issue #15): ballots
read from the database in chunks into the engine's arrays, the bundle text
written as they are read, and the frozen bundle kept in pieces.

It must give what the JSON path gives (export the document, serialise,
parse, evaluate): the same bundle text, byte for byte, and the same
pingyi-results/1, with the same seed (``results_sha256`` equal)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from typing import Any

import pytest
from sqlalchemy import select, update

from analysis import BundleError, evaluate_document
from survey import bundles
from survey.bundles import export_bundle, import_bundle
from survey.extensions import db
from survey.models import Ballot, BundleChunk, Campaign, ResultSnapshot
from survey.results import frozen, snapshots
from survey.results.snapshots import canonical_json, sha256
from tests.factories import bundle

N_BALLOTS = 3000


def large_bundle(n: int = N_BALLOTS, seed: int = 15) -> dict[str, Any]:
    """A campaign with what the results read from ballots: two groups, a paper
    batch and an open online one (sources, some shared, some repeated
    answers: duplicates), durations (some speeders), raked attributes of
    every JSON kind, units left out, objective scores and a veto."""
    rng = random.Random(seed)
    units = [f"u{k + 1}" for k in range(8)]
    start = dt.datetime(2026, 11, 2, 8, 0)
    ballots = []
    for k in range(n):
        online = k % 3 == 0
        answers = {u: {f"i{j}": rng.choice("SSSBBDU") for j in range(2) if rng.random() < 0.95}
                   for u in rng.sample(units, 5)}
        answers = {u: per_item for u, per_item in answers.items() if per_item}
        if online and k % 30 in (0, 3):
            answers = {"u1": {"i0": "S", "i1": "S"}}  # the same answers from one address: duplicates
        ballot: dict[str, Any] = {"id": f"{k + 1:06d}", "batch": "p1" if online else "e1",
                                  "submitted_at": (start + dt.timedelta(seconds=37 * k)).isoformat() + "+08:00"}
        if k % 11:
            ballot["duration_s"] = 4 if k % 97 == 0 else rng.randint(60, 900) + (0.5 if k % 7 == 0 else 0)
        if online:
            ballot["source"] = "10.0.0.9" if k % 30 in (0, 3) else f"10.{rng.randint(0, 3)}.{rng.randint(0, 9)}.{k % 250 + 1}"
        if not online:
            ballot["attributes"] = {"区域": rng.choice(["东区", "西区", "东区"]), "age": rng.choice([1, 2, 2.0])}
        ballot["answers"] = answers
        ballots.append(ballot)
    doc = bundle("big2026", units=len(units), items=2, ballots=ballots)
    doc["batches"][0]["issued"] = n
    doc["margins"] = {"client": {"区域": {"东区": 0.55, "西区": 0.45}}}
    doc["objective_scores"] = [{"unit": u, "component": "kpi", "score": 60 + 4 * k} for k, u in enumerate(units)]
    doc["vetoes"] = [{"unit": "u5", "reason": "安全生产事故"}]
    doc["rules"] = {"objective_components": {"kpi": 0.2}, "ballot_share": 0.8, "trim_per_end": 0.05,
                    "bootstrap": {"replicates": 120, "seed": 7}}
    return doc


def json_path(campaign: Campaign) -> tuple[str, str, dict[str, Any]]:
    """(bundle SHA-256, results SHA-256, results) the document way: export, serialise, parse, evaluate."""
    text = canonical_json(export_bundle(campaign))
    results = evaluate_document(json.loads(text)).to_json()
    return sha256(text), sha256(canonical_json(results)), results


def columnar_path(campaign: Campaign, **kw: Any) -> tuple[str, str, dict[str, Any]]:
    bundle_sha, results = snapshots.compute(campaign, **kw)
    return bundle_sha, sha256(canonical_json(results)), results


def test_columnar_and_json_paths_give_the_same_bundle_and_results(ctx, monkeypatch):
    campaign = import_bundle(large_bundle())
    # Ballots submitted here come after the imported ones (no position), in submission order.
    batch = next(b for b in campaign.batches if b.code == "e1")
    for k in range(3):
        db.session.add(Ballot(campaign_id=campaign.id, batch_id=batch.id, public_id=f"here{k}",
                              submitted_at=dt.datetime(2026, 11, 20, 1, k), duration_s=300.0))
    db.session.commit()
    monkeypatch.setattr(bundles, "BALLOT_CHUNK", 700)  # several chunks, one of them short
    monkeypatch.setattr(bundles, "WRITE_BUFFER", 5000)
    expected = json_path(campaign)
    got = columnar_path(campaign)
    assert got[0] == expected[0] and got[1] == expected[1]
    results = got[2]
    assert results["ballots"]["received"] + results["ballots"]["blank"] == N_BALLOTS + 3
    # What is compared is not trivial: flags, raking, objective scores and the veto all took part.
    assert results["ballots"]["excluded"] > 0 and results["ballots"]["flags"]["duplicate"] > 0
    vetoed = next(u for u in results["units"] if u["code"] == "u5")
    assert vetoed["class"] == "dissatisfied" and vetoed["explain"]["class_set_by"] == ["veto"]

    # Bundle order that is not id order (positions reversed): the chunks read their ids, not a range.
    db.session.execute(update(Ballot).where(Ballot.campaign_id == campaign.id, Ballot.position.is_not(None))
                       .values(position=N_BALLOTS - Ballot.position))
    db.session.commit()
    reversed_expected = json_path(campaign)
    assert reversed_expected[0] != expected[0]
    assert columnar_path(campaign)[:2] == reversed_expected[:2]
    # An override of the rules (the committee's preview of exclude_flags) too.
    override = {"exclude_flags": []}
    text = canonical_json(export_bundle(campaign))
    preview = evaluate_document(json.loads(text), override).to_json()
    assert columnar_path(campaign, rules_override=override)[1] == sha256(canonical_json(preview))


def test_the_frozen_bundle_is_kept_in_pieces_and_read_back(ctx, monkeypatch):
    campaign = import_bundle(large_bundle(400))
    monkeypatch.setattr(frozen, "CHUNK_BYTES", 2048)
    sink = frozen.BundleSink(keep=True)
    bundle_sha, _results = snapshots.compute(campaign, sink=sink)
    chunks = sink.store(campaign.id)
    text = canonical_json(export_bundle(campaign))
    assert bundle_sha == hashlib.sha256(text.encode()).hexdigest() and sink.size == len(text.encode())
    assert chunks > 3
    snap = ResultSnapshot(campaign_id=campaign.id, kind="final", version=1, bundle_chunks=chunks,
                          fingerprint="f", bundle_sha256=bundle_sha, results_json="{}", results_sha256="r")
    db.session.add(snap)
    db.session.commit()
    assert frozen.bundle_text(snap) == text
    assert sum(len(p) for p in frozen.pieces(snap)) == len(text.encode())
    # Storing the same text again keeps the pieces there (the versions share them).
    again = frozen.BundleSink(keep=True)
    snapshots.compute(campaign, sink=again)
    assert again.store(campaign.id) == chunks
    assert len(db.session.scalars(select(BundleChunk.seq)).all()) == chunks
    # A piece changed or missing is found out, never served as the bundle.
    piece = db.session.scalar(select(BundleChunk).where(BundleChunk.seq == 1))
    piece.data = piece.data[:-1] + bytes([piece.data[-1] ^ 1])
    db.session.commit()
    with pytest.raises(LookupError):
        frozen.bundle_text(snap)
    db.session.delete(piece)
    db.session.commit()
    with pytest.raises(LookupError, match="piece 1"):
        frozen.bundle_text(snap)


def test_a_snapshot_with_its_bundle_inline_is_still_served(app, ctx):
    """Final snapshots stored before the frozen store keep their text in ``bundle_json``."""
    campaign = import_bundle(large_bundle(30))
    text = canonical_json(export_bundle(campaign))
    snap = ResultSnapshot(campaign_id=campaign.id, kind="final", version=1, bundle_json=text, fingerprint="f",
                          bundle_sha256=sha256(text), results_json="{}", results_sha256="r")
    db.session.add(snap)
    db.session.commit()
    assert frozen.bundle_text(snap) == text
    # Neither kind of bundle: the database refuses the final snapshot.
    db.session.add(ResultSnapshot(campaign_id=campaign.id, kind="final", version=2, fingerprint="f",
                                  bundle_sha256="x", results_json="{}", results_sha256="r"))
    with pytest.raises(Exception, match="(?i)check"):
        db.session.commit()
    db.session.rollback()


def test_the_columnar_path_refuses_what_the_document_path_refuses(ctx):
    """A ballot the engine would refuse in the document is refused on the columnar path, with its path."""
    campaign = import_bundle(large_bundle(50))
    db.session.execute(update(Ballot).where(Ballot.campaign_id == campaign.id, Ballot.public_id == "000002")
                       .values(attributes=["东区"]))  # not an object: the engine refuses it
    db.session.commit()
    with pytest.raises(BundleError) as document_way:
        evaluate_document(json.loads(canonical_json(export_bundle(campaign))))
    with pytest.raises(BundleError) as columnar_way:
        snapshots.compute(campaign)
    assert [p.path for p in columnar_way.value.problems] == [p.path for p in document_way.value.problems]
    assert any(p.path.startswith("ballots[1]") for p in columnar_way.value.problems)
