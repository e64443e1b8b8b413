"""Learned LF dependencies (issue 14): recovery of planted structure, a class balance that
dependent LFs cannot fool, determinism."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from script_modules import load_script

from wsup_spark import LabelModel, LFStats, MajorityVote
from wsup_spark.errors import ModelError
from wsup_spark.labelmodel.structure import learn_structure


def _bench():
    return load_script("scripts/bench_structure.py")


def unipolar(n, prec, cls, cov, p, seed=0):
    """Unipolar LFs (vote their class or abstain) with precision ``prec`` = P(Y = cls | vote)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(p), size=n, p=p)
    L = np.full((n, len(prec)), -1)
    for j, (a, c, cv) in enumerate(zip(prec, cls, cov, strict=True)):
        rate = np.where(y == c, a / p[c], (1 - a) / (1 - p[c])) * cv
        L[rng.random(n) < rate, j] = c
    return L, y


def near_copies(L, src, count, keep, seed):
    rng = np.random.default_rng(seed)
    cols = [np.where(rng.random(L.shape[0]) < keep, L[:, src], -1) for _ in range(count)]
    return np.hstack([L, np.stack(cols, 1)])


# ---------------------------------------------------------------------- recovery
def test_recovers_copies_and_a_shared_dictionary_exactly():
    rng = np.random.default_rng(4)
    n = 100_000
    y = rng.integers(0, 2, n)
    L = np.stack([np.where(rng.random(n) < a, y, 1 - y) for a in (0.85, 0.8, 0.75, 0.7, 0.65)], 1)
    L = np.where(rng.random(L.shape) < 0.5, L, -1)  # coverage 50%
    L = near_copies(L, 1, 2, 0.9, seed=5)  # LFs 5, 6: near-copies of LF 1
    trigger = (y == 1) & (rng.random(n) < 0.3)  # a dictionary of class-1 words
    dic = [np.where(trigger & (rng.random(n) < part), 1, -1) for part in (0.8, 0.6, 0.7)]
    L = np.hstack([L, np.stack(dic, 1)])  # LFs 7, 8, 9 share it, each covering part of it
    s = learn_structure(LFStats.from_matrix(L, 2))
    assert s.edges == [(1, 5), (1, 6), (5, 6), (7, 8), (7, 9), (8, 9)]
    assert all(s.scores[i, j] > s.threshold for i, j in s.edges)
    # most of a copy's votes are co-votes the class signal does not explain, both ways
    assert s.redundancy[5, 1] > 0.5 and s.redundancy[1, 5] > 0.5
    # and nothing is learned from conditionally independent LFs
    assert learn_structure(LFStats.from_matrix(L[:, :5], 2)).edges == []


@pytest.mark.parametrize("problem", [0, 1, 4, 6, 7, 11, 12, 14, 15])
def test_planted_structure_recovered_at_100k_rows(problem):
    # the identifiable problems of scripts/bench_structure.py --edges (every class voted by >= 3
    # conditionally independent LFs), and four where a class has < 3 free LFs and dense clusters
    # of copies outweigh the class signal (recovered by restarting the decomposition)
    L, _, k, edges, desc = _bench().planted_problem(problem, n=100_000)
    model = LabelModel(k).fit(LFStats.from_matrix(L, k), dependencies="auto")
    found = {tuple(e) for e in model.fit_info["learned_dependencies"]["edges"]}
    tp = len(found & set(edges))
    assert tp / max(len(found), 1) >= 0.9 and tp / len(edges) >= 0.8, (desc, found, edges)


def test_planted_edges_precision_and_recall_at_100k_rows():
    # issue 14's target on scripts/bench_structure.py --edges 16: precision >= 0.9, recall >= 0.8
    bench = _bench()
    ps, rs = [], []
    for t in range(16):
        L, _, k, edges, _ = bench.planted_problem(t, n=100_000)
        found = learn_structure(LFStats.from_matrix(L, k)).edges
        pr, rc = bench.precision_recall(found, edges)
        ps.append(pr)
        rs.append(rc)
    assert np.mean(ps) >= 0.9 and np.mean(rs) >= 0.8, (np.mean(ps), np.mean(rs))


def test_restart_recovers_copies_that_outweigh_the_class_signal():
    # planted problem 14: two clusters of 4 near-copies (correlation ~0.85) outweigh the weak
    # class signal (correlations <= 0.1): from the first threshold the rank-3 part absorbs one
    # cluster; a restart finds both, with a clearly smaller robust loss
    L, _, k, edges, _ = _bench().planted_problem(14, n=100_000)
    stats = LFStats.from_matrix(L, k)
    one, default = learn_structure(stats, starts=1), learn_structure(stats)
    assert set(one.edges) < set(edges) and set(default.edges) == set(edges)
    assert default.loss < one.loss - default.threshold**2


def test_an_excess_at_the_floor_from_few_co_votes_is_no_edge():
    # a pair of copies seen on 5 rows is a significant dependence (z > threshold) with excess
    # ~1, but 5 co-votes cannot show that it exceeds the 30% floor at level alpha; 50 can
    rng = np.random.default_rng(0)
    n = 20_000
    y = rng.integers(0, 2, n)
    L = np.stack([np.where(rng.random(n) < a, y, 1 - y) for a in (0.85, 0.8, 0.75, 0.7)], 1)
    L = np.where(rng.random(L.shape) < 0.3, L, -1)
    pos = np.flatnonzero(y == 1)
    rare, common = np.full(n, -1), np.full(n, -1)
    rare[pos[:5]] = 1
    common[pos[100:150]] = 1
    L = np.hstack([L, np.stack([rare, rare, common, common], 1)])
    s = learn_structure(LFStats.from_matrix(L, 2))
    assert s.scores[4, 5] > s.threshold and s.excess[4, 5] > 0.9
    assert s.edges == [(6, 7)]
    assert s.to_info()["excess_threshold"] == pytest.approx(2.326, abs=1e-3)


def test_structure_learning_is_skipped_with_too_few_lfs():
    # a 6-class task with 3 LFs: the class signal (rank 5) cannot be told from dependence
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 5000)
    L = np.stack([np.where(rng.random(5000) < 0.8, y, (y + 1) % 6) for _ in range(3)], 1)
    s = learn_structure(LFStats.from_matrix(L, 6))
    assert s.edges == [] and s.iterations == 0


# ---------------------------------------------------------------------- class balance
def test_balance_estimate_not_fooled_by_undeclared_copies():
    # 75% / 25% classes; three near-copies of one class-1 LF make class 1 look voted for by
    # four "independent" LFs: without structure the balance estimate absorbs the dependency
    prec = [0.85, 0.8, 0.75, 0.9, 0.7, 0.8]
    L, y = unipolar(60_000, prec, [0, 0, 0, 1, 1, 1], [0.4, 0.3, 0.3, 0.15, 0.2, 0.1], [0.75, 0.25])
    Ld = near_copies(L, 4, 3, 0.9, seed=1)
    stats = LFStats.from_matrix(Ld, 2)
    model = LabelModel(2).fit(stats)
    learned = {tuple(e) for e in model.fit_info["learned_dependencies"]["edges"]}
    assert {(4, 6), (4, 7), (4, 8), (6, 7), (6, 8), (7, 8)} <= learned
    # with third-order counts the balance comes from triplets of unlinked LFs (0.265)
    assert model.fit_info["balance"] == "triplets"
    assert np.abs(model.class_balance - [0.75, 0.25]).max() < 0.03
    # the second-moment estimate (statistics without them): the one the LFs give without the
    # copies (the copies move it by < 0.01; structure-blind, by 0.12)
    pairwise = dataclasses.replace(stats, triples=None)
    clean = LabelModel(2).fit(dataclasses.replace(LFStats.from_matrix(L, 2), triples=None))
    np.testing.assert_allclose(LabelModel(2).fit(pairwise).class_balance, clean.class_balance,
                               atol=0.01)  # fmt: skip
    blind = LabelModel(2, structure="none").fit(pairwise)
    assert blind.fit_info["balance"] == "estimated"
    assert np.abs(blind.class_balance - clean.class_balance).max() > 0.1
    covered = (Ld >= 0).any(axis=1)
    mv = (MajorityVote(2).fit(stats).predict(Ld) == y)[covered].mean()
    # (0.864 vs 0.848; test_label_model's test_class_balance_recovery_with_unipolar_lfs says
    # why this problem's votes alone carry less than its abstains). The blind model's balance
    # is 0.12 off; since the balance enters a prediction once (the prior) rather than in every
    # vote as well, that costs it no accuracy here (0.865; it scored below majority vote before)
    assert (model.predict(Ld) == y)[covered].mean() > mv + 0.01


def test_balance_estimate_that_makes_a_class_wrong_is_rejected():
    # the semi-synthetic SMS shape: a correct-looking imbalanced estimate under which the
    # minority class's voters would be no better than random must not become the prior
    L, y = unipolar(
        20_000, [0.9, 0.85, 0.95, 0.9, 0.8], [0, 0, 0, 1, 1], [0.3, 0.2, 0.2, 0.05, 0.05],
        [0.9, 0.1], seed=3,
    )  # fmt: skip
    model = LabelModel(2).fit(LFStats.from_matrix(L, 2))
    info = model.fit_info
    if info["balance"] == "estimated":  # accepted only with every class's votes mostly right
        assert min(info["balance_estimate_precision"]) > 0.5
    else:
        np.testing.assert_allclose(model.class_balance, [0.5, 0.5])
    mv = (MajorityVote(2).predict(L) == y)[(L >= 0).any(axis=1)].mean()
    assert (model.predict(L) == y)[(L >= 0).any(axis=1)].mean() >= mv - 0.005


# ---------------------------------------------------------------------- API, determinism
def test_dependencies_argument_and_fit_info():
    L, _ = unipolar(20_000, [0.85, 0.8, 0.75, 0.9], [0, 0, 1, 1], [0.4, 0.3, 0.3, 0.3], [0.5, 0.5])
    stats = LFStats.from_matrix(near_copies(L, 0, 1, 0.9, seed=2), 2, lf_names=list("abcde"))
    auto = LabelModel(2, structure="none").fit(stats, dependencies="auto")
    info = auto.fit_info["learned_dependencies"]
    assert info["edges"] == [[0, 4]] and info["names"] == [["a", "e"]]
    assert info["scores"][0] > info["threshold"] and info["excess"][0] >= info["min_excess"]
    assert auto.dependencies == [(0, 4)]
    off = LabelModel(2).fit(stats, dependencies="none")
    assert "learned_dependencies" not in off.fit_info and off.dependencies == []
    with pytest.raises(ModelError, match="'auto' or 'none'"):
        LabelModel(2).fit(stats, dependencies="sometimes")
    with pytest.raises(ModelError, match="structure"):
        LabelModel(2, structure="maybe")


def test_fit_is_deterministic_and_round_trips():
    L, _, k, _, _ = _bench().planted_problem(3, n=20_000)
    stats = LFStats.from_matrix(L, k)
    a, b = LabelModel(k).fit(stats), LabelModel(k).fit(stats)
    assert np.array_equal(a.mu, b.mu) and np.array_equal(a.weights, b.weights)
    assert json.dumps(a.fit_info, sort_keys=True) == json.dumps(b.fit_info, sort_keys=True)
    s1, s2 = learn_structure(stats), learn_structure(stats)
    assert s1.edges == s2.edges and np.array_equal(s1.scores, s2.scores)
    back = LabelModel.from_dict(json.loads(json.dumps(a.to_dict())))
    assert back.structure == "auto" and back.dependencies == a.dependencies
    P = a.predict_proba(L)
    assert np.array_equal(back.predict_proba(L), P)
    # batch-invariant: rows predicted in pieces give the same bits
    assert np.array_equal(np.vstack([a.predict_proba(L[:777]), a.predict_proba(L[777:])]), P)
