"""Dawid-Skene EM on the vote-pattern histogram: recovery, determinism, errors, pipeline use."""

from __future__ import annotations

import numpy as np
import pytest

from wsup_spark.errors import ModelError
from wsup_spark.labelmodel import DawidSkene, LFStats, MajorityVote


def synthetic(n=20000, k=3, seed=0):
    """Conditionally independent LFs with known class-dependent accuracies and coverages."""
    rng = np.random.default_rng(seed)
    p = np.array([0.5, 0.3, 0.2])[:k]
    y = rng.choice(k, n, p=p)
    acc = np.array([0.9, 0.8, 0.75, 0.65, 0.6, 0.85])
    cov = np.array([0.9, 0.6, 0.8, 0.7, 0.9, 0.3])
    L = np.full((n, len(acc)), -1)
    for i, (a, c) in enumerate(zip(acc, cov, strict=True)):
        votes = rng.random(n) < c
        right = rng.random(n) < a
        wrong = (y + rng.integers(1, k, n)) % k
        L[votes, i] = np.where(right, y, wrong)[votes]
    return L, y, acc, p


def test_recovers_accuracies_and_balance_and_beats_majority_vote():
    L, y, acc, p = synthetic()
    stats = LFStats.from_matrix(L, 3, patterns=True)
    ds = DawidSkene(3).fit(stats)
    assert np.abs(ds.accuracies - acc).max() < 0.03
    assert np.abs(ds.class_balance - p).max() < 0.02
    assert ds.fit_info["converged"] and ds.fit_info["patterns"] == len(stats.patterns.rows)
    ds_acc = (ds.predict(L) == y).mean()
    mv_acc = (MajorityVote(3).fit(stats).predict(L) == y).mean()
    assert ds_acc > mv_acc + 0.01, (ds_acc, mv_acc)  # 0.937 vs 0.919 with this seed


def test_deterministic_batch_invariant_and_serialisable():
    L, _, _, _ = synthetic(n=5000)
    stats = LFStats.from_matrix(L, 3, patterns=True)
    a, b = DawidSkene(3).fit(stats), DawidSkene(3).fit(stats)
    assert np.array_equal(a.theta, b.theta) and np.array_equal(a.p, b.p)
    whole = a.predict_proba(L)
    assert np.array_equal(np.concatenate([a.predict_proba(L[:1234]), a.predict_proba(L[1234:])]),
                          whole)  # fmt: skip
    assert np.allclose(whole.sum(axis=1), 1) and not np.isnan(whole).any()
    c = DawidSkene.from_dict(a.to_dict())
    assert np.array_equal(c.predict_proba(L), whole)
    fixed = DawidSkene(3).fit(stats, class_balance=[1, 1, 1])
    assert np.allclose(fixed.class_balance, 1 / 3)


def test_needs_the_pattern_histogram():
    L, _, _, _ = synthetic(n=500)
    with pytest.raises(ModelError, match="were not collected.*patterns=True"):
        DawidSkene(3).fit(LFStats.from_matrix(L, 3))
    with pytest.raises(ModelError, match="overflowed their cap"):
        DawidSkene(3).fit(LFStats.from_matrix(L, 3, patterns=True, max_patterns=5))
    with pytest.raises(ModelError, match="not fitted"):
        DawidSkene(3).predict_proba(L)
