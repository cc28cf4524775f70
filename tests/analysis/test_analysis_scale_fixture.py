"""The engine's figures do not move when its speed work changes how they are computed (issue 15).

Each case writes a bundle with bench/scale.py's generator (fixed seed;
fewer units than the benchmark so that every cell is large enough for the
trimmed bootstrap's "bulk" and windows: about 1,000 ballots a cell), runs
``python -m analysis evaluate`` on it in process and compares the bytes of
its output with a fixture written by the code before that work
(tests/data/scale/*.results.json.gz). The bootstrap is cut into several replicate
chunks, and the same bytes are expected with the summing matrices not kept
between chunks (the item cells then take their own passes over the
draws made again), the paths a province-sized bundle takes.

To write the fixtures again (only where SCORING.md changes a figure on
purpose): ``PINGYI_WRITE_SCALE_FIXTURES=1 pytest tests/analysis/test_analysis_scale_fixture.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from analysis.__main__ import main
from bench.scale import write_bundle

# The package exports a function named evaluate: the modules by name.
evaluate_mod = importlib.import_module("analysis.evaluate")
uncertainty_mod = importlib.import_module("analysis.uncertainty")

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "scale"
N_BALLOTS = 12_000
N_UNITS = 12
REPLICATES = 120


def _bundle(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.json"
    write_bundle(path, N_BALLOTS, seed=15, n_units=N_UNITS, per_ballot=6, replicates=REPLICATES)
    if case == "weighted":
        # Closed online batches (issued given, no source): the non-response
        # adjustment gives each batch of a group its own weight, and the
        # share rule adds the share columns to the summed blocks.
        doc: dict[str, Any] = json.loads(path.read_bytes())
        returned: dict[str, int] = {}
        for b in doc["ballots"]:
            returned[b["batch"]] = returned.get(b["batch"], 0) + 1
            b.pop("source", None)
        for batch in doc["batches"]:
            if batch["channel"] == "online":
                batch["issued"] = returned[batch["code"]] * 2 + 7
        doc["rules"]["max_dissatisfied_share"] = 0.2
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _run(path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> bytes:
    assert main(["evaluate", str(path)]) == 0
    out: bytes = capsysbinary.readouterr().out
    return out


@pytest.mark.parametrize("case", ["equal", "weighted"])
def test_results_byte_identical_to_fixture(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = _bundle(tmp_path, case)
    # Several replicate chunks, as a province-sized bundle has (the fixture
    # was written so: the last bits of a weighted sum follow the BLAS
    # product's shape, so the chunk size is part of what is compared).
    monkeypatch.setattr(uncertainty_mod, "_BLOCK", N_BALLOTS * 45)
    fixture = FIXTURES / f"{case}.results.json.gz"
    got = _run(path, capsysbinary)
    if os.environ.get("PINGYI_WRITE_SCALE_FIXTURES"):
        FIXTURES.mkdir(parents=True, exist_ok=True)
        fixture.write_bytes(gzip.compress(got, mtime=0))
    want = gzip.decompress(fixture.read_bytes())
    doc = json.loads(got)
    # The bundle is the one meant: trimmed, bootstrapped, every unit scored.
    assert doc["explain"]["replicates"] == REPLICATES
    assert len(doc["units"]) == N_UNITS and all(u["ci95"] is not None for u in doc["units"])
    assert got == want, (f"{case}: results differ from the fixture (sha256 {hashlib.sha256(got).hexdigest()} "
                         f"vs {hashlib.sha256(want).hexdigest()})")
    # No summing matrix kept between the chunks.
    monkeypatch.setattr(evaluate_mod, "_CACHE_BYTES", 2 << 20)
    assert _run(path, capsysbinary) == want, f"{case}: chunked and uncached results differ from the fixture"


@pytest.mark.parametrize("p", [0.0, 0.05, 0.2])
def test_cell_counts_are_the_drawn_ballots_of_each_cell(p: float) -> None:
    # The counts (n, kept) come from the sparse sum over each cell's rows:
    # checked against counting the drawn rows directly, with a last unit
    # nobody rated and a first one everybody did, and with the row-by-row
    # counts passed in or not.
    import numpy as np

    from analysis.scores import cell_sums, counts_by_row, prepare_group

    rng = np.random.default_rng(7)
    n = 4000
    s = rng.choice([0.0, 70.0, 100.0], size=(n, 4))
    s[rng.random((n, 4)) < 0.6] = np.nan
    s[:, 0] = 100.0
    s[:, 3] = np.nan
    cells = prepare_group(np.arange(n), np.ones(n), s, trim_per_end=p)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(9)]).astype(np.float64)
    got = cell_sums(cells, counts, p)
    defined = ~np.isnan(s)
    want_n = counts @ defined.astype(np.float64)
    assert np.array_equal(got.n, want_n)
    assert np.array_equal(got.kept, want_n - 2 * np.floor(p * want_n))
    again = cell_sums(cells, counts, p, counts_by_row(counts.astype(np.float32)))
    assert np.array_equal(again.num, got.num) and np.array_equal(again.den, got.den)
    assert np.isnan(got.score()[:, 3]).all() and not np.isnan(got.score()[:, :3]).any()
    with pytest.raises(ValueError, match="counts_t"):
        cell_sums(cells, counts, p, counts_by_row(counts[:3]))


@pytest.mark.parametrize("every_cell_scored", [True, False])
def test_share_blocks_of_equal_weights_are_counted_exactly(every_cell_scored: bool) -> None:
    # With equal weights the share blocks are counts of ballots (the lowest
    # option; any scored option, which is the cell's own count where every
    # rated unit has a scored overall answer): checked against summing the
    # drawn rows directly, and against the dense blocks of unequal weights.
    import numpy as np

    from analysis.scores import cell_sums, prepare_group

    rng = np.random.default_rng(11)
    n, U = 3000, 5
    overall = rng.integers(0, 3, size=(n, U)).astype(np.int8)  # options 0..2; 2 is not scored
    if every_cell_scored:
        overall[overall == 2] = 1
    s = np.where(overall == 0, 0.0, 100.0)
    s[rng.random((n, U)) < 0.7] = np.nan
    overall[np.isnan(s)] = -1
    scored = np.array([True, True, False])
    w = 0.5
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(7)]).astype(np.float64)
    cells = prepare_group(np.arange(n), np.full(n, w), s, trim_per_end=0.05, overall=overall,
                          lowest_option=0, scored_options=scored)
    assert cells.share_counts == (1 if every_cell_scored else 2)
    assert cells.stacked.shape == (n, U)  # only w·s is summed densely
    got = cell_sums(cells, counts, 0.05)
    defined = ~np.isnan(s)
    lowest = defined & (overall == 0)
    any_scored = defined & (overall >= 0) & (overall < 2)
    assert got.low_share is not None and got.any_share is not None
    assert np.array_equal(got.low_share, (counts @ lowest.astype(np.float64)) * w)
    assert np.array_equal(got.any_share, (counts @ any_scored.astype(np.float64)) * w)
    # Unequal weights keep the dense blocks; made equal again by hand they agree.
    uneven = np.full(n, w)
    uneven[0] = w * 2
    dense = prepare_group(np.arange(n), uneven, s, trim_per_end=0.05, overall=overall,
                          lowest_option=0, scored_options=scored)
    assert dense.share_counts == 0
    mask = np.arange(n) != 0
    got_dense = cell_sums(dense, counts * mask, 0.05)
    got_counted = cell_sums(cells, counts * mask, 0.05)
    assert got_dense.low_share is not None and got_dense.any_share is not None
    assert np.array_equal(got_dense.low_share, got_counted.low_share)
    assert np.array_equal(got_dense.any_share, got_counted.any_share)


@pytest.mark.parametrize("distinct", ["few", "many"])
def test_cells_are_sorted_by_score_then_ballot(distinct: str) -> None:
    # Each unit's cell in sorted order: by s(b, u), ties by row (ballot-id
    # order), with few distinct scores (ranks sorted) and with more than a
    # 16-bit rank holds (the scores themselves sorted); the bulks are left
    # out of the summed block, and the sample's trimmed sums are those of
    # the sorted cell.
    import numpy as np

    from analysis.scores import bulk_size, cell_sums, prepare_group, trim_count

    rng = np.random.default_rng(31)
    n, U, p = 90_000, 3, 0.05
    if distinct == "few":
        s = rng.choice([0.0, 60.0, 85.0, 100.0], size=(n, U))
    else:
        s = np.round(rng.random((n, U)) * 1e6) / 7.0  # about 600,000 distinct values, ties among them
    s[rng.random((n, U)) < 0.3] = np.nan
    s[:, 2] = np.nan
    cells = prepare_group(np.arange(n), np.ones(n), s, trim_per_end=p)
    sample = cell_sums(cells, None, p)
    for u in range(U):
        rows = np.flatnonzero(~np.isnan(s[:, u]))
        want = rows[np.lexsort((rows, s[rows, u]))]
        assert np.array_equal(cells.sorted_pos[u], want)
        m = len(want)
        a = bulk_size(p, m)
        in_block = np.flatnonzero(cells.stacked[:, u] != 0) if u < 2 else np.zeros(0, dtype=np.int64)
        kept_rows = np.sort(want[a:m - a]) if m else want
        assert np.array_equal(in_block, kept_rows[s[kept_rows, u] != 0])
        k = int(trim_count(p, m))
        middle = s[want[k:m - k], u]
        assert sample.kept[0, u] == m - 2 * k
        if m:
            assert sample.num[0, u] == pytest.approx(middle.sum(), rel=1e-12)
    if distinct == "many":
        assert len(np.unique(s[~np.isnan(s)])) > 65535
