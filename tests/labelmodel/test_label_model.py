"""Label model v1 and majority vote on synthetic data with known LF accuracies."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from wsup_spark import LabelModel, LFStats, MajorityVote
from wsup_spark.errors import ModelError, StatsError


def synth(n, accs, covs, p, k=2, seed=0):
    """Conditionally independent LFs: LF j votes with prob covs[j], correctly with prob accs[j]."""
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=p)
    L = np.full((n, len(accs)), -1)
    for j, (a, c) in enumerate(zip(accs, covs, strict=True)):
        votes = rng.random(n) < c
        right = rng.random(n) < a
        wrong = (y + rng.integers(1, k, n)) % k
        L[votes, j] = np.where(right[votes], y[votes], wrong[votes])
    return L, y


ACCS = [0.95, 0.9, 0.85, 0.6, 0.6, 0.55, 0.7, 0.65]
COVS = [0.3, 0.4, 0.5, 0.9, 0.8, 0.9, 0.6, 0.7]


@pytest.fixture(scope="module")
def binary():
    L, y = synth(100_000, ACCS, COVS, [0.6, 0.4])
    return L, y, LFStats.from_matrix(L, 2)


def test_recovers_known_accuracies_within_0_03(binary):
    _L, _, stats = binary
    model = LabelModel(2).fit(stats)
    np.testing.assert_allclose(model.accuracies, ACCS, atol=0.03)


def test_beats_majority_vote(binary):
    L, y, stats = binary
    lm = (LabelModel(2).fit(stats).predict(L) == y).mean()
    mv = (MajorityVote(2).fit(stats).predict(L) == y).mean()
    assert lm > mv + 0.03, (lm, mv)


def test_multiclass_recovery():
    accs = [0.9, 0.8, 0.7, 0.6, 0.75]
    L, y = synth(60_000, accs, [0.5, 0.6, 0.7, 0.8, 0.5], [0.5, 0.3, 0.2], k=3, seed=1)
    stats = LFStats.from_matrix(L, 3)
    mv = (MajorityVote(3).fit(stats).predict(L) == y).mean()
    auto = LabelModel(3).fit(stats)
    assert auto.fit_info["balance"] == "estimated"  # imbalance detected from the moments
    for model in (auto, LabelModel(3).fit(stats, class_balance=[0.5, 0.3, 0.2])):
        np.testing.assert_allclose(model.accuracies, accs, atol=0.03)
        assert (model.predict(L) == y).mean() > mv + 0.01
    # a wrong (uniform) balance biases the fit, and the overdispersion says so
    forced = LabelModel(3, balance="uniform").fit(stats)
    assert forced.fit_info["overdispersion"] > 1.5 > auto.fit_info["overdispersion"]


def unipolar(n, prec, cls, cov, p, seed=0):
    """Unipolar LFs (vote their class or abstain) with precision ``prec`` = P(Y = cls | vote)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(p), size=n, p=p)
    L = np.full((n, len(prec)), -1)
    for j, (a, c, cv) in enumerate(zip(prec, cls, cov, strict=True)):
        rate = np.where(y == c, a / p[c], (1 - a) / (1 - p[c])) * cv
        L[rng.random(n) < rate, j] = c
    return L, y


def test_class_balance_recovery_with_unipolar_lfs():
    prec = [0.85, 0.8, 0.75, 0.9, 0.7, 0.8]
    L, y = unipolar(50_000, prec, [0, 0, 0, 1, 1, 1], [0.4, 0.3, 0.3, 0.15, 0.2, 0.1], [0.75, 0.25])
    stats = LFStats.from_matrix(L, 2)
    model = LabelModel(2).fit(stats)
    # third-order counts identify it (estimate 0.245); the balance used is the least skewed one
    # within two standard errors (0.30). Second moments alone estimate 0.30 too.
    assert model.fit_info["balance"] == "triplets"
    assert abs(model.fit_info["balance_triplets"]["estimate"][1] - 0.25) < 0.02
    np.testing.assert_allclose(model.class_balance, [0.75, 0.25], atol=0.06)
    pairwise = LabelModel(2).fit(dataclasses.replace(stats, triples=None))
    assert pairwise.fit_info["balance"] == "estimated"
    np.testing.assert_allclose(pairwise.class_balance, [0.75, 0.25], atol=0.06)
    np.testing.assert_allclose(model.accuracies, prec, atol=0.1)
    mv = (MajorityVote(2).fit(stats).predict(L) == y).mean()
    # 0.873 vs 0.865: abstains are informative here (the full naive Bayes with the true
    # parameters scores 0.896), and votes alone carry less; with the true likelihood ratios the
    # vote-only model scores 0.879. (Counting the balance in every vote as well scored 0.885
    # with these estimates, 0.864 with the true parameters.)
    assert (model.predict(L) == y).mean() > mv + 0.005


def test_balanced_classes_keep_the_uniform_prior(binary):
    # classes close to balanced: the estimate does not pay for its extra parameter
    L, _ = synth(50_000, [0.85, 0.8, 0.75, 0.7], [0.6, 0.7, 0.5, 0.8], [0.5, 0.5], seed=4)
    model = LabelModel(2).fit(LFStats.from_matrix(L, 2))
    assert model.fit_info["balance"] == "uniform"
    np.testing.assert_array_equal(model.class_balance, [0.5, 0.5])


def test_given_class_balance_is_used(binary):
    _, _, stats = binary
    model = LabelModel(2).fit(stats, class_balance=[0.6, 0.4])
    np.testing.assert_allclose(model.class_balance, [0.6, 0.4])
    with pytest.raises(ModelError, match="class_balance must be 2 positive"):
        LabelModel(2).fit(stats, class_balance=[1.0, 0.0])


def test_deterministic_and_fit_independent_of_n_scaling(binary):
    _L, _, stats = binary
    a, b = LabelModel(2).fit(stats), LabelModel(2).fit(stats)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())  # bit-identical parameters
    # 1000 copies of every row: O is the same to the last bit, so is the moment fit and its cost
    # under one balance (the balance choice sees n: more rows make a skew significant)
    big = scaled(stats, 1000)
    a = LabelModel(2, balance="uniform").fit(stats)
    c = LabelModel(2, balance="uniform").fit(big)
    assert np.array_equal(c.mu, a.mu)
    assert c.fit_info["iterations"] == a.fit_info["iterations"]
    np.testing.assert_allclose(c.accuracies, a.accuracies, atol=0.01)


def scaled(stats, f):
    from dataclasses import replace

    return replace(
        stats, n=stats.n * f, counts=stats.counts * f, overlaps=stats.overlaps * f,
        triples=None if stats.triples is None else stats.triples * f,
        conflicts=stats.conflicts * f, n_covered=stats.n_covered * f,
        n_overlap=stats.n_overlap * f, n_conflict=stats.n_conflict * f,
    )  # fmt: skip


def test_predictions_are_batch_invariant(binary):
    L, _, stats = binary
    model = LabelModel(2).fit(stats)
    full = model.predict_proba(L[:5000])
    parts = np.concatenate(
        [model.predict_proba(L[i : min(i + 777, 5000)]) for i in range(0, 5000, 777)]
    )
    assert np.array_equal(full, parts)  # bit-identical, whatever the batching


def test_save_load_roundtrip_json(binary, tmp_path):
    L, _, stats = binary
    model = LabelModel(2).fit(stats)
    path = tmp_path / "lm.json"
    model.save(str(path))
    assert json.loads(path.read_text())["kind"] == "label_model"
    loaded = LabelModel.load(str(path))
    assert np.array_equal(loaded.predict_proba(L[:100]), model.predict_proba(L[:100]))
    assert np.array_equal(loaded.accuracies, model.accuracies)
    # parameters saved by version 1 (μ and p only) still load: accuracies derived from μ
    old = {k: v for k, v in model.to_dict().items() if k not in ("accuracies", "vote_scale")}
    v1 = LabelModel.from_dict(old)
    np.testing.assert_allclose(v1.accuracies, model.raw_accuracies)


def test_never_voting_lf_and_empty_rows_give_no_nan():
    L, _ = synth(20_000, [0.9, 0.8, 0.7], [0.5, 0.5, 0.5], [0.5, 0.5])
    L = np.hstack([L, np.full((len(L), 1), -1)])
    model = LabelModel(2).fit(LFStats.from_matrix(L, 2))
    P = model.predict_proba(np.array([[-1, -1, -1, -1], [0, 1, -1, -1], [1, 1, 1, -1]]))
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(1), 1.0)
    assert np.isnan(model.accuracies[3])
    json.dumps(model.to_dict(), allow_nan=False)  # strict JSON (NaN written as null)
    # no LF overlaps another: nothing identifiable, every voting LF keeps the prior precision
    L = np.array([[0, -1, -1], [-1, 1, -1], [-1, -1, 0], [1, -1, -1]] * 10)
    lonely = LabelModel(2).fit(LFStats.from_matrix(L, 2))
    np.testing.assert_array_equal(lonely.accuracies, [0.7, 0.7, 0.7])
    json.dumps(lonely.to_dict(), allow_nan=False)


def test_errors():
    with pytest.raises(ModelError, match="not fitted"):
        LabelModel(2).predict_proba(np.zeros((1, 2), int))
    with pytest.raises(StatsError, match="k=3 but the label model has cardinality=2"):
        LabelModel(2).fit(LFStats.from_matrix(np.zeros((5, 2), int), 3))
    with pytest.raises(ModelError, match="cardinality must be >= 2"):
        LabelModel(1)
    with pytest.raises(ModelError, match="zero rows"):
        LabelModel(2).fit(LFStats.empty(3, 2))
    stats = LFStats.from_matrix(np.array([[0, 1, 0], [1, 1, -1]]), 2)
    with pytest.raises(ModelError, match="outside 0..2"):
        LabelModel(2).fit(stats, dependencies=[(0, 7)])
    with pytest.raises(ModelError, match="two different LFs"):
        LabelModel(2).fit(stats, dependencies=[(1, 1)])
    with pytest.raises(ModelError, match="balance must be"):
        LabelModel(2, balance="guess")


def test_majority_vote_ties_and_prior():
    mv = MajorityVote(3).fit(LFStats.empty(2, 3), class_balance=[0.2, 0.3, 0.5])
    P = mv.predict_proba(np.array([[0, 1], [-1, -1], [2, 2]]))
    np.testing.assert_allclose(P, [[0.5, 0.5, 0], [0.2, 0.3, 0.5], [0, 0, 1]])


def test_equal_accuracies_reproduce_majority_vote_exactly(binary):
    # what the shrinkage yields when the LFs cannot be told apart (τ² = 0): majority vote, ties
    # included (the same rows tie, so WRENCH's tie-break picks the same class)
    L, _, stats = binary
    params = LabelModel(2).fit(stats).to_dict()
    params["accuracies"] = params["vote_accuracies"] = [0.77] * stats.m
    params["class_balance"] = [0.5, 0.5]
    model = LabelModel.from_dict(params)
    P, Pmv = model.predict_proba(L[:5000]), MajorityVote(2).predict_proba(L[:5000])
    ties, ties_mv = P[:, 0] == P[:, 1], Pmv[:, 0] == Pmv[:, 1]
    np.testing.assert_array_equal(ties, ties_mv)
    np.testing.assert_array_equal(P[~ties].argmax(1), Pmv[~ties].argmax(1))


def test_duplicated_lf_counts_once():
    accs = [0.9, 0.85, 0.8, 0.6, 0.7]
    L, y = synth(60_000, accs, [0.6, 0.6, 0.6, 0.9, 0.7], [0.5, 0.5], seed=6)
    Ld = np.hstack([L, L[:, [3, 3]]])  # the weakest LF, three times
    base = LabelModel(2).fit(LFStats.from_matrix(L, 2))
    stats = LFStats.from_matrix(Ld, 2)
    declared = LabelModel(2).fit(stats, dependencies=[(3, 5), (5, 6)])
    auto = LabelModel(2).fit(stats)  # exact copies are detected from the statistics
    assert declared.dependencies == auto.dependencies == [(3, 5), (3, 6), (5, 6)]
    assert any("counts them as one" in w for w in auto.warnings)
    for model in (declared, auto):
        w = model.weights
        np.testing.assert_allclose(w[[3, 5, 6]].sum(), base.weights[3], rtol=0.15)
        np.testing.assert_allclose(w[:3], base.weights[:3], rtol=0.15)
        assert (model.predict(Ld) == base.predict(L)).mean() > 0.99
    # without the dependency the copies get triple weight and outvote the good LFs
    naive = LabelModel(2, merge_identical=False, structure="none").fit(stats)
    assert (naive.predict(Ld) == y).mean() < (auto.predict(Ld) == y).mean() - 0.005


def test_near_duplicate_declared_as_dependency():
    accs = [0.9, 0.85, 0.8, 0.6]
    L, y = synth(60_000, accs, [0.6, 0.6, 0.6, 0.9], [0.5, 0.5], seed=8)
    copy = L[:, 3].copy()
    copy[::50] = -1  # abstains on 2% of rows: no longer an exact copy
    Ld = np.hstack([L, copy[:, None]])
    stats = LFStats.from_matrix(Ld, 2)
    naive = LabelModel(2, structure="none").fit(stats)
    assert naive.dependencies == []
    assert LabelModel(2).fit(stats).dependencies == [(3, 4)]  # learned from the statistics
    dep = LabelModel(2, structure="none").fit(stats, dependencies=[(3, 4)])
    assert dep.weights[3] + dep.weights[4] < naive.weights[3] + naive.weights[4]
    assert (dep.predict(Ld) == y).mean() > (naive.predict(Ld) == y).mean()


def test_dependencies_by_lf_name():
    L, _ = synth(5_000, [0.9, 0.8, 0.7], [0.6, 0.6, 0.6], [0.5, 0.5], seed=7)
    stats = LFStats.from_matrix(np.hstack([L, L[:, [0]]]), 2, lf_names=["a", "b", "c", "a2"])
    model = LabelModel(2).fit(stats, dependencies=[("a", "a2")])
    assert model.dependencies == [(0, 3)]
    with pytest.raises(ModelError, match="not in the stats"):
        LabelModel(2).fit(stats, dependencies=[("a", "zz")])


def test_semeval_sized_fit_is_fast_and_deterministic():
    import time

    from script_modules import load_script

    bench = load_script("scripts/bench_fit.py")
    L, y, _ = bench.synthetic_votes(8_000, 164, 9, 0.1)
    stats = LFStats.from_matrix(L, 9)
    t0 = time.perf_counter()
    a = LabelModel(9).fit(stats)
    elapsed = time.perf_counter() - t0
    b = LabelModel(9).fit(stats)
    assert np.array_equal(a.mu, b.mu) and a.fit_info == b.fit_info
    assert elapsed < 10.0  # ≤ 2 s unloaded (scripts/bench_fit.py); generous for shared CI
    # the cost does not depend on n (100× the rows: the structure test and the balance choice
    # see more evidence, the work is the same)
    t0 = time.perf_counter()
    LabelModel(9).fit(scaled(stats, 100))
    assert time.perf_counter() - t0 < 10.0
    assert (a.predict(L) == y).mean() > 0.5


def test_class_balance_not_estimated_when_not_identifiable():
    # class 1 is voted by only two LFs: p is not identifiable from second moments, keep uniform
    prec = [0.85, 0.8, 0.75, 0.9, 0.7]
    L, _ = unipolar(50_000, prec, [0, 0, 0, 1, 1], [0.4, 0.3, 0.3, 0.15, 0.2], [0.75, 0.25])
    stats = LFStats.from_matrix(L, 2)
    model = LabelModel(2).fit(dataclasses.replace(stats, triples=None))
    assert model.fit_info["min_independent_lfs_per_class"] == 2
    assert model.fit_info["balance"] == "uniform"
    # third-order counts do identify it: triplets of two class-1 LFs and a class-0 one
    tri = LabelModel(2).fit(stats).fit_info
    assert tri["balance"] == "triplets"
    assert abs(tri["balance_triplets"]["estimate"][1] - 0.25) < 0.03
    forced = LabelModel(2, balance="estimate").fit(LFStats.from_matrix(L, 2))
    assert forced.fit_info["balance"] == "estimated"
