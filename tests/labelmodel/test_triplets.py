"""The two-class balance from third-order LF agreement (issue 14: a rare class that pairwise
statistics cannot see).

With k = 2 the second moments fit every balance in an interval equally well, so the binary
relation set (8% positives) could only be fit with the uniform balance or a wrong estimate. Triplets
of conditionally independent LFs identify it: ``(p₀ − p₁)/√(p₀p₁)`` per triplet.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_structure import _bench

from wsup_spark import LabelModel, LFStats, MajorityVote
from wsup_spark.labelmodel.triplets import triplet_balance
from wsup_spark.stats.lfstats import MAX_TRIPLE_LFS


def _brute_triples(L: np.ndarray) -> np.ndarray:
    n, m = L.shape
    X = np.zeros((n, 2 * m))
    for j in range(m):
        for c in (0, 1):
            X[:, 2 * j + c] = L[:, j] == c
    T = np.einsum("ra,rb,rc->abc", X, X, X)
    lf = np.arange(2 * m) // 2
    same = lf[:, None] == lf[None, :]
    T[same[:, :, None] | same[:, None, :] | same[None, :, :]] = 0
    return T.astype(np.int64)


def _relation_set(n: int, p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spouse-like votes: 5 LFs vote the rare positive class (precision 0.25-0.6), 3 precise LFs
    vote the negative one, all conditionally independent; most rows uncovered."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < p).astype(np.int64)
    spec = [(1, r1, r0) for r1, r0 in [(0.3, 0.02), (0.25, 0.03), (0.2, 0.01), (0.35, 0.04),
                                        (0.15, 0.015)]]  # fmt: skip
    spec += [(0, 0.002, 0.08), (0, 0.004, 0.12), (0, 0.001, 0.05)]
    cols = []
    for c, r1, r0 in spec:
        col = np.full(n, -1, np.int64)
        col[rng.random(n) < np.where(y == 1, r1, r0)] = c
        cols.append(col)
    return np.stack(cols, 1), y


def _f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = float(((pred == 1) & (y == 1)).sum())
    return 2 * tp / max(float((pred == 1).sum() + (y == 1).sum()), 1.0)


def test_triple_counts_are_exact_merge_and_round_trip():
    rng = np.random.default_rng(0)
    L = np.where(rng.random((3000, 6)) < 0.4, rng.integers(0, 2, (3000, 6)), -1)
    whole = LFStats.from_matrix(L, 2)
    assert whole.triples is not None
    np.testing.assert_array_equal(whole.triples, _brute_triples(L))
    halves = LFStats.from_matrix(L[:1234], 2).merge(LFStats.from_matrix(L[1234:], 2))
    assert halves == whole
    assert LFStats.empty(6, 2).merge(whole) == whole
    assert LFStats.from_bytes(whole.to_bytes()) == whole
    # only two classes and 3..MAX_TRIPLE_LFS LFs carry them
    assert LFStats.from_matrix(L, 3).triples is None
    wide = np.where(rng.random((50, MAX_TRIPLE_LFS + 1)) < 0.5, 1, -1)
    assert LFStats.from_matrix(wide, 2).triples is None
    assert LFStats.from_matrix(wide[:, :MAX_TRIPLE_LFS], 2).triples is not None


def test_statistics_saved_without_triples_still_load_and_fit():
    L, _ = _relation_set(20_000, 0.08, seed=1)
    old = dataclasses.replace(LFStats.from_matrix(L, 2), triples=None)
    loaded = LFStats.from_bytes(old.to_bytes())
    assert loaded.triples is None and loaded == old
    model = LabelModel(2).fit(loaded)
    assert model.fit_info["balance"] != "triplets"
    assert "balance_triplets" not in model.fit_info


def test_recovers_a_rare_class_that_pairwise_statistics_cannot_see():
    L, _ = _relation_set(60_000, 0.08, seed=2)
    stats = LFStats.from_matrix(L, 2)
    tri = triplet_balance(stats.counts, stats.triples, stats.n, np.arange(stats.m))
    assert tri is not None and tri.triplets >= 10
    assert abs(tri.estimate[1] - 0.08) < 0.03, tri
    # the balance used is the least skewed one within two standard errors: between the estimate
    # and uniform
    assert tri.balance is not None and tri.estimate[1] <= tri.balance[1] < 0.5
    model = LabelModel(2).fit(stats)
    info = model.fit_info
    assert info["balance"] == "triplets"
    assert info["balance_triplets"]["used"] == pytest.approx(model.class_balance.tolist())
    # on a fresh draw, scored as WRENCH scores (ties, i.e. rows without votes under the uniform
    # balance, broken at random): the rare-class F1 is far above majority vote, and on the rows
    # with votes it is no lower
    Lte, yte = _relation_set(20_000, 0.08, seed=3)
    bench, cov = _bench(), (Lte >= 0).any(axis=1)
    mv = MajorityVote(2).fit(stats)
    f1_lm = bench.score(bench.wrench_argmax(model.predict_proba(Lte)), yte, "f1")
    f1_mv = bench.score(bench.wrench_argmax(mv.predict_proba(Lte)), yte, "f1")
    assert f1_lm > f1_mv + 20, (f1_lm, f1_mv)  # measured: 57.3 vs 26.4
    assert _f1(model.predict(Lte)[cov], yte[cov]) >= _f1(mv.predict(Lte)[cov], yte[cov]) - 0.01


def test_balanced_classes_keep_the_uniform_balance():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 40_000)
    L = np.stack([np.where(rng.random(y.size) < cov,
                           np.where(rng.random(y.size) < acc, y, 1 - y), -1)
                  for acc, cov in [(0.8, 0.5), (0.75, 0.4), (0.7, 0.6), (0.85, 0.3), (0.65, 0.5)]],
                 axis=1)  # fmt: skip
    stats = LFStats.from_matrix(L, 2)
    tri = triplet_balance(stats.counts, stats.triples, stats.n, np.arange(stats.m))
    assert tri is not None and tri.balance is None  # the interval reaches the uniform balance
    assert abs(tri.estimate[1] - 0.5) < 0.05
    assert LabelModel(2).fit(stats).fit_info["balance"] != "triplets"


def test_a_single_triplet_cannot_be_checked_and_is_not_used():
    # three LFs: one triplet, no LF to leave out and still have an estimate
    L, _ = _relation_set(60_000, 0.08, seed=5)
    stats = LFStats.from_matrix(L[:, [0, 1, 3]], 2)
    tri = triplet_balance(stats.counts, stats.triples, stats.n, np.arange(stats.m))
    assert tri is not None and tri.triplets == 1
    assert tri.balance is None and tri.to_info()["se"] is None


def test_lfs_that_vote_against_their_class_do_not_fool_it():
    # planted problem 21: class 0 is 7.4%, and the LFs voting the 93% class are right only
    # 60-70% of the time, so they fire more often on class 0: their triplets say class 1 is rare,
    # the class-0 voters' triplets say class 0 is. They disagree far beyond sampling noise (τ²
    # ~ 10), the interval reaches the uniform balance, and the second-moment choice stays.
    L, y, k, _, _ = _bench().planted_problem(21)
    stats = LFStats.from_matrix(L, k)
    model = LabelModel(k).fit(stats)
    info = model.fit_info["balance_triplets"]
    assert info["used"] is None and info["tau2"] > 1.0
    assert model.fit_info["balance"] != "triplets"
    cov = (L >= 0).any(axis=1)
    mv = (MajorityVote(k).predict(L) == y)[cov].mean()
    assert (model.predict(L) == y)[cov].mean() > mv - 0.02


def test_dependent_lfs_share_no_triplet():
    # a declared dependency puts two LFs in one component: no triplet holds both
    L, _ = _relation_set(30_000, 0.08, seed=6)
    stats = LFStats.from_matrix(L, 2)
    free = triplet_balance(stats.counts, stats.triples, stats.n, np.arange(stats.m))
    linked = np.arange(stats.m)
    linked[1] = 0
    tied = triplet_balance(stats.counts, stats.triples, stats.n, linked)
    assert free is not None and tied is not None and tied.triplets < free.triplets


def test_fit_is_deterministic():
    L, _ = _relation_set(30_000, 0.08, seed=7)
    stats = LFStats.from_matrix(L, 2)
    a, b = LabelModel(2).fit(stats), LabelModel(2).fit(LFStats.from_bytes(stats.to_bytes()))
    assert a.fit_info == b.fit_info
    np.testing.assert_array_equal(a.class_balance, b.class_balance)
    np.testing.assert_array_equal(a.predict_proba(L), b.predict_proba(L))
