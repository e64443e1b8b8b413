"""Confidence histogram and gold diagnostics: numpy kernels vs brute force, Spark vs numpy."""

from __future__ import annotations

import numpy as np
import pytest

from wsup_spark.analysis.diagnostics import (
    GoldDiagnostics,
    bin_index,
    confidence_edges,
    gold_batch,
    histogram_from_probs,
)
from wsup_spark.analysis.progress import Progress
from wsup_spark.analysis.reductions import confidence_histogram, gold_diagnostics
from wsup_spark.errors import DataError
from wsup_spark.labelmodel import LabelModel, LFStats, MajorityVote


def _data(n=600, m=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    right = rng.random((n, m)) < 0.75
    votes = np.where(right, y[:, None], rng.integers(0, k, (n, m)))
    L = np.where(rng.random((n, m)) < 0.6, votes, -1)
    gold = np.where(rng.random(n) < 0.5, y, -1)
    model = LabelModel(k).fit(LFStats.from_matrix(L, k))
    return L, gold, model, k


def test_bins_cover_the_confidence_range():
    for k in (2, 3, 7):
        e = confidence_edges(k, 10)
        assert e[0] == pytest.approx(1 / k) and e[-1] == 1.0
        c = np.array([1 / k, (e[3] + e[4]) / 2, 1.0])
        assert bin_index(c, k, 10).tolist() == [0, 3, 9]


def test_histogram_matches_brute_force():
    L, _, model, k = _data()
    P = model.predict_proba(L)
    nv = (L >= 0).sum(1)
    h = histogram_from_probs(P, nv, 10)
    edges = confidence_edges(k, 10)
    assert h.n == len(L)
    for b in range(10):
        lo, hi = edges[b], edges[b + 1]
        c = P.max(1)
        sel = (c >= lo) & ((c < hi) if b < 9 else (c <= hi))
        assert h.counts[b].sum() + h.uncovered[b] == sel.sum()
        assert h.uncovered[b] == (sel & (nv == 0)).sum()
    assert h.label_counts.tolist() == np.bincount(P.argmax(1)[nv > 0], minlength=k).tolist()


def test_gold_batch_merges_like_the_whole():
    L, gold, model, k = _data()
    models = {"label_model": model, "majority_vote": MajorityVote(k)}
    whole = gold_batch(L, gold, models, k, 8)
    parts = [
        gold_batch(L[s : s + 97], gold[s : s + 97], models, k, 8) for s in range(0, len(L), 97)
    ]
    merged = GoldDiagnostics.zeros(list(models), L.shape[1], k, 8)
    for p in parts:
        merged = merged.merge(p)
    assert merged.n_gold == whole.n_gold == (gold >= 0).sum()
    for name in models:
        np.testing.assert_array_equal(merged.models[name], whole.models[name])
        np.testing.assert_array_equal(merged.calib_count[name], whole.calib_count[name])
        np.testing.assert_allclose(merged.calib_conf_sum[name], whole.calib_conf_sum[name])
    np.testing.assert_array_equal(merged.lfs, whole.lfs)
    keep = gold >= 0
    pred = model.predict(L)[keep]
    assert whole.accuracy("label_model") == pytest.approx((pred == gold[keep]).mean())
    f1s = []
    for a in range(k):
        tp = ((pred == a) & (gold[keep] == a)).sum()
        f1s.append(2 * tp / ((pred == a).sum() + (gold[keep] == a).sum()))
    assert whole.macro_f1("label_model") == pytest.approx(np.mean(f1s))
    assert 0 <= whole.ece("label_model") <= 1


def test_spark_reductions_equal_numpy(spark):
    L, gold, model, k = _data(n=400)
    P = model.predict_proba(L)
    n = len(L)
    rows = [(i, float(P[i].max()), int(P[i].argmax()), int((L[i] >= 0).sum()),
             "r1" if i < 300 else "r0") for i in range(n)]  # fmt: skip
    df = spark.createDataFrame(
        rows, "id long, confidence double, label int, n_votes int, run_id string"
    )
    h = confidence_histogram(df, k, 12, run_id="r1")
    want = histogram_from_probs(P[:300], (L[:300] >= 0).sum(1), 12)
    np.testing.assert_array_equal(h.counts, want.counts)
    np.testing.assert_array_equal(h.uncovered, want.uncovered)
    assert h.confidence_sum == pytest.approx(want.confidence_sum)
    votes = spark.createDataFrame(
        [(i, [int(v) for v in L[i]], None if gold[i] < 0 else int(gold[i])) for i in range(n)],
        "id long, votes array<tinyint>, gold int",
    )
    models = {"label_model": model, "majority_vote": MajorityVote(k)}
    g = gold_diagnostics(votes, models, L.shape[1], k, 12)
    w = gold_batch(L, gold, models, k, 12)
    assert g.n_gold == w.n_gold
    np.testing.assert_array_equal(g.lfs, w.lfs)
    for name in models:
        np.testing.assert_array_equal(g.models[name], w.models[name])
        np.testing.assert_array_equal(g.calib_correct[name], w.calib_correct[name])
    with pytest.raises(DataError, match="no gold column"):
        gold_diagnostics(votes.drop("gold"), models, L.shape[1], k)
    with pytest.raises(DataError, match="bins"):
        confidence_histogram(df, k, 0)


def test_progress_logs_when_not_interactive(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="wsup_spark.analysis.progress"):
        with Progress(2, "work", interactive=False) as p:
            p.step("one")
            p.step("two")
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[:2] == ["work [1/2] one", "work [2/2] two"] and "2 steps" in msgs[2]
    with Progress(2, "bar", interactive=True) as p:  # tqdm path must not raise
        p.step("a")
        p.step("b")
