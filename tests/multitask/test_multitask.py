"""Multi-task label model: statistics algebra, one task == LabelModel, recovery, JSON, errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from wsup_spark import LabelModel, LFStats, ModelError, StatsError
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats, implied_values
from wsup_spark.tasks import NA, Task, TaskGraph

# coarse (3) -> fine (6), two fine values under each coarse value
TREE = TaskGraph(
    [Task("coarse", 3), Task("fine", 6, parent="coarse", parent_of=(0, 0, 1, 1, 2, 2))]
)
XRAY = TaskGraph([Task("abnormal", 2), Task("finding", 3, parent="abnormal", active_when=(1,))])


def noisy(rng: np.random.Generator, y: np.ndarray, k: int, acc: float, cov: float) -> np.ndarray:
    """One-coin LF: right with probability acc, else a uniformly drawn wrong value; abstains
    (independently of y) with probability 1 - cov. N/A truth (-1) always gets a wrong vote."""
    wrong = (np.maximum(y, 0) + rng.integers(1, k, y.size)) % k
    vote = np.where((rng.random(y.size) < acc) & (y >= 0), y, wrong)
    return np.where(rng.random(y.size) < cov, vote, -1)


def synthetic(
    graph: TaskGraph, n: int, accs: list[tuple[str, float, float]], seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    Y = graph.feasible[rng.choice(graph.n_joint, n, p=graph.uniform_balance())]
    cols, tasks = [], []
    for task, acc, cov in accs:
        t = graph.index(task)
        cols.append(noisy(rng, Y[:, t], graph.cardinalities[t], acc, cov))
        tasks.append(task)
    return np.stack(cols, axis=1), Y, tasks


COARSE_ACC = [0.85, 0.75, 0.65, 0.8]
FINE_ACC = [0.9, 0.8, 0.7]
LFS = [("coarse", a, 0.7) for a in COARSE_ACC] + [("fine", a, 0.6) for a in FINE_ACC]


@pytest.fixture(scope="module")
def tree_data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    return synthetic(TREE, 20000, LFS)


# ---------------------------------------------------------------------- statistics
@pytest.mark.parametrize("graph", [TREE, XRAY])
def test_stats_are_a_sum_over_row_blocks(graph: TaskGraph) -> None:
    accs = [(graph.names[0], 0.8, 0.7)] * 2 + [(graph.names[1], 0.7, 0.5)] * 3
    L, _, tasks = synthetic(graph, 3001, accs, seed=1)
    whole = MultiTaskStats.from_matrix(L, graph, tasks)
    parts = [MultiTaskStats.from_matrix(L[s : s + 700], graph, tasks) for s in range(0, 3001, 700)]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    assert merged == whole
    assert merged.n == 3001 and merged.counts.dtype == np.int64


def test_task_stats_equal_single_task_stats(tree_data: tuple[np.ndarray, ...]) -> None:
    L, _, tasks = tree_data
    stats = MultiTaskStats.from_matrix(L, TREE, tasks)
    for t, k in (("coarse", 3), ("fine", 6)):
        cols = [i for i, x in enumerate(tasks) if x == t]
        assert stats.task_stats(t) == LFStats.from_matrix(L[:, cols], k)


def test_level_stats_project_child_votes(tree_data: tuple[np.ndarray, ...]) -> None:
    L, _, tasks = tree_data
    stats = MultiTaskStats.from_matrix(L, TREE, tasks)
    level, lfs = stats.level_stats("coarse")
    assert lfs.tolist() == list(range(L.shape[1]))
    parent = np.array(implied_values(TREE, 1, 0))
    proj = L.copy()
    fine = [i for i, x in enumerate(tasks) if x == "fine"]
    proj[:, fine] = np.where(L[:, fine] >= 0, parent[np.maximum(L[:, fine], 0)], -1)
    expected = LFStats.from_matrix(proj, 3)
    assert np.array_equal(level.counts, expected.counts)
    assert np.array_equal(level.overlaps, expected.overlaps)


def test_conflicts_count_inconsistent_votes_across_tasks() -> None:
    # coarse LF votes 0; fine LF votes 2 (under coarse 1): inconsistent; fine 1 (under 0): fine
    L = np.array([[0, 2], [0, 1], [-1, 3]])
    s = MultiTaskStats.from_matrix(L, TREE, ["coarse", "fine"])
    assert s.conflicts.tolist() == [[0, 1], [1, 0]]
    assert s.overlaps.tolist() == [[0, 2], [2, 0]] and s.overlaps_any.tolist() == [2, 2]


def test_stats_errors_name_lf_and_task() -> None:
    with pytest.raises(StatsError, match="lf_f.*7.*'fine'"):
        MultiTaskStats.from_matrix(np.array([[0, 7]]), TREE, ["coarse", "fine"], ["lf_c", "lf_f"])
    with pytest.raises(ValueError, match="'medium'"):
        MultiTaskStats.from_matrix(np.array([[0]]), TREE, ["medium"])
    a = MultiTaskStats.from_matrix(np.array([[0, 1]]), TREE, ["coarse", "fine"])
    b = MultiTaskStats.from_matrix(np.array([[0, 1]]), TREE, ["coarse", "coarse"])
    with pytest.raises(StatsError, match="different"):
        a.merge(b)


# ---------------------------------------------------------------------- one task == LabelModel
def test_one_task_is_the_single_task_model_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 5000)
    L = np.stack([noisy(rng, y, 4, a, c) for a, c in [(0.9, 0.5), (0.7, 0.8), (0.6, 0.9),
                                                        (0.8, 0.3), (0.55, 0.6)]], 1)  # fmt: skip
    graph = TaskGraph.single(4)
    mt = MultiTaskLabelModel(graph).fit(MultiTaskStats.from_matrix(L, graph, ["task"] * 5))
    st = LabelModel(4).fit(LFStats.from_matrix(L, 4))
    P = st.predict_proba(L)
    assert np.array_equal(mt.predict_joint_proba(L), P)
    assert np.array_equal(mt.predict_proba(L)["task"], P)
    assert np.array_equal(mt.predict(L)[:, 0], st.predict(L))
    assert np.array_equal(mt.accuracies, st.accuracies, equal_nan=True)
    back = MultiTaskLabelModel.from_dict(json.loads(json.dumps(mt.to_dict())))
    assert np.array_equal(back.predict_joint_proba(L), P)


# ---------------------------------------------------------------------- recovery
def test_recovers_known_accuracies_on_hierarchical_data(tree_data: tuple[np.ndarray, ...]) -> None:
    L, _, tasks = tree_data
    stats = MultiTaskStats.from_matrix(L, TREE, tasks)
    model = MultiTaskLabelModel(TREE).fit(stats)
    assert model.fit_info["method"] == "hierarchical"
    # own-task accuracies of every LF
    assert np.allclose(model.accuracies, COARSE_ACC + FINE_ACC, atol=0.03)
    # a fine LF's coarse-level accuracy: right fine, or a wrong fine under the right coarse
    coarse_level, _ = model._levels[0]
    implied = [a + (1 - a) / 5 for a in FINE_ACC]
    assert np.allclose(coarse_level.accuracies[4:], implied, atol=0.03)
    # the class balance over the 6 joint values is the (uniform) truth
    assert np.allclose(model.class_balance, 1 / 6, atol=0.02)


def test_chain_accuracies_never_increase_down_the_hierarchy() -> None:
    # identifiable fine level: the chain is (coarse-level, fine-level) accuracy, coarse >= fine
    L, _, tasks = synthetic(TREE, 20000, LFS)
    model = MultiTaskLabelModel(TREE).fit(MultiTaskStats.from_matrix(L, TREE, tasks))
    for i in range(L.shape[1]):
        chain = model.chain_accuracies(i)
        assert all(a >= b for a, b in itertools.pairwise(chain))
    # fine level not identifiable (one fine LF per class): its own accuracy counts at the prior
    # precision, which floors the coarse-level accuracy — a precise fine LF that disagreeing
    # coarse LFs pull toward chance still outweighs one weak coarse vote
    rng = np.random.default_rng(5)
    Y = TREE.feasible[rng.integers(0, TREE.n_joint, 20000)]
    cols = [noisy(rng, Y[:, 0], 3, a, 0.6) for a in (0.6, 0.55, 0.6, 0.5)]
    cols.append(np.where(rng.random(Y.shape[0]) < 0.2, Y[:, 1], -1))
    tasks = ["coarse"] * 4 + ["fine"]
    L = np.stack(cols, 1)
    model = MultiTaskLabelModel(TREE).fit(MultiTaskStats.from_matrix(L, TREE, tasks))
    assert not model._identified[1][0]
    coarse_acc, fine_acc = model.chain_accuracies(4)
    assert fine_acc == model.init_precision and coarse_acc >= model.init_precision
    with pytest.raises(ModelError, match="hierarchical"):
        MultiTaskLabelModel(TREE, method="moments").fit(
            MultiTaskStats.from_matrix(L, TREE, tasks)
        ).chain_accuracies(0)


def _unidentified_coarse(seed: int = 3, fine_acc: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One coarse LF (accuracy 0.75) and one fine LF: two LFs per coarse class, so the coarse
    level cannot identify the coarse LF's accuracy from its moments."""
    rng = np.random.default_rng(seed)
    Y = TREE.feasible[rng.integers(0, TREE.n_joint, 20000)]
    L = np.stack([noisy(rng, Y[:, 0], 3, 0.75, 0.7), noisy(rng, Y[:, 1], 6, fine_acc, 0.5)], 1)
    return L, Y


def test_unidentified_parent_accuracy_is_the_agreement_with_child_lfs() -> None:
    L, _ = _unidentified_coarse()
    model = MultiTaskLabelModel(TREE).fit(MultiTaskStats.from_matrix(L, TREE, ["coarse", "fine"]))
    assert not model._identified[0].any()
    assert model.fit_info["levels"]["coarse"]["anchored_lfs"] == 1
    # a perfect fine LF: the agreement rate is the coarse LF's accuracy
    assert abs(model.accuracies[0] - 0.75) < 0.02
    assert model.chain_accuracies(0) == [model.accuracies[0]]
    # an imperfect one: a lower bound (the accuracy it would have if the fine votes were right)
    L, _ = _unidentified_coarse(fine_acc=0.6)
    model = MultiTaskLabelModel(TREE).fit(MultiTaskStats.from_matrix(L, TREE, ["coarse", "fine"]))
    assert 1 / 3 < model.accuracies[0] < 0.75
    back = MultiTaskLabelModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(back.predict_joint_proba(L[:500]), model.predict_joint_proba(L[:500]))
    assert np.array_equal(back.accuracies, model.accuracies)


def test_identified_parent_accuracies_stay_the_moment_estimates(
    tree_data: tuple[np.ndarray, ...],
) -> None:
    L, _, tasks = tree_data
    model = MultiTaskLabelModel(TREE).fit(MultiTaskStats.from_matrix(L, TREE, tasks))
    assert model._identified[0].all()
    assert model.fit_info["levels"]["coarse"]["anchored_lfs"] == 0
    lm, _ = model._levels[0]
    assert np.array_equal(model.accuracies[:4], lm.accuracies[:4])


def test_child_balance_spreads_errors_within_the_parent() -> None:
    # coarse A has 4 fine values (0 common, 1 rare), coarse B 20; one fine LF per voted value,
    # so the fine level is not identifiable (prior precision 0.7) and its balance is the vote
    # shares. A lone vote for the rare value must win within A: its odds against the common
    # sibling, 0.7 · 3 / 0.3 = 7, exceed the prior odds once the common value's votes lend
    # their within-parent errors (30%) to its siblings. (Spreading each vote's errors evenly
    # over all 24 values instead left the rare value ~11 times less likely a priori.)
    graph = TaskGraph([Task("coarse", 2), Task("fine", 24, parent="coarse",
                                                parent_of=(0,) * 4 + (1,) * 20)])  # fmt: skip
    rng = np.random.default_rng(0)
    fine = np.concatenate([np.zeros(1000, int), np.ones(40, int), 4 + np.arange(2000) % 20])
    Y = graph.feasible[fine]  # joint index = fine index (coarse A's values come first)
    coarse = [noisy(rng, Y[:, 0], 2, a, 0.7) for a in (0.9, 0.85, 0.8)]
    lf = [np.where(fine == 0, 0, -1), np.where(fine == 1, 1, -1), np.where(fine >= 4, fine, -1)]
    L = np.stack(coarse + lf, 1)
    tasks = ["coarse"] * 3 + ["fine"] * 3
    model = MultiTaskLabelModel(graph).fit(MultiTaskStats.from_matrix(L, graph, tasks))
    assert not model._identified[1].any()
    assert model.predict(np.array([[-1, -1, -1, -1, 1, -1]])).tolist() == [[0, 1]]
    assert model.predict(np.array([[-1, -1, -1, 0, -1, -1]])).tolist() == [[0, 0]]
    assert np.isclose(model.class_balance.sum(), 1.0)


def test_moment_fit_recovers_accuracies(tree_data: tuple[np.ndarray, ...]) -> None:
    L, _, tasks = tree_data
    stats = MultiTaskStats.from_matrix(L, TREE, tasks)
    model = MultiTaskLabelModel(TREE, method="moments").fit(stats)
    assert np.allclose(model.raw_accuracies, COARSE_ACC + FINE_ACC, atol=0.04)


def test_joint_beats_independent_on_both_tasks(tree_data: tuple[np.ndarray, ...]) -> None:
    L, Y, tasks = tree_data
    stats = MultiTaskStats.from_matrix(L, TREE, tasks)
    joint = MultiTaskLabelModel(TREE).fit(stats).predict(L)
    c, f = [i for i, t in enumerate(tasks) if t == "coarse"], [i for i, t in enumerate(tasks)
                                                                if t == "fine"]  # fmt: skip
    ind_c = LabelModel(3).fit(stats.task_stats("coarse")).predict(L[:, c])
    ind_f = LabelModel(6).fit(stats.task_stats("fine")).predict(L[:, f])
    acc = lambda p, t: float((p == Y[:, t]).mean())  # noqa: E731
    assert acc(joint[:, 0], 0) > acc(ind_c, 0) + 0.01
    assert acc(joint[:, 1], 1) > acc(ind_f, 1) + 0.05


def test_child_task_na_when_parent_says_normal() -> None:
    L, Y, tasks = synthetic(XRAY, 8000, [("abnormal", 0.9, 0.8), ("abnormal", 0.8, 0.8),
                                         ("abnormal", 0.75, 0.8), ("finding", 0.85, 0.5),
                                         ("finding", 0.75, 0.5)], seed=2)  # fmt: skip
    model = MultiTaskLabelModel(XRAY).fit(MultiTaskStats.from_matrix(L, XRAY, tasks))
    # a finding is defined under one parent value (ABNORMAL): every finding vote implies it,
    # so the hierarchical fit applies
    assert model.fit_info["method"] == "hierarchical"
    pred = model.predict(L)
    normal = Y[:, 0] == 0
    assert (pred[normal & (pred[:, 0] == 0), 1] == NA).all()
    marg = model.predict_proba(L)
    assert np.allclose(marg["abnormal"].sum(axis=1), 1.0)
    assert np.allclose(marg["finding"].sum(axis=1), marg["abnormal"][:, 1])
    assert float((pred[:, 0] == Y[:, 0]).mean()) > 0.85


# ---------------------------------------------------------------------- persistence, errors
@pytest.mark.parametrize("method", ["hierarchical", "moments"])
def test_json_round_trip(tree_data: tuple[np.ndarray, ...], method: str) -> None:
    L, _, tasks = tree_data
    model = MultiTaskLabelModel(TREE, method=method).fit(MultiTaskStats.from_matrix(L, TREE, tasks))
    back = MultiTaskLabelModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(back.predict_joint_proba(L[:500]), model.predict_joint_proba(L[:500]))


def test_fit_is_deterministic(tree_data: tuple[np.ndarray, ...]) -> None:
    L, _, tasks = tree_data
    stats = MultiTaskStats.from_matrix(L, TREE, tasks)
    a = MultiTaskLabelModel(TREE).fit(stats).predict_joint_proba(L[:300])
    b = MultiTaskLabelModel(TREE).fit(stats).predict_joint_proba(L[:300])
    assert np.array_equal(a, b)


def test_model_errors() -> None:
    with pytest.raises(ModelError, match="not fitted"):
        MultiTaskLabelModel(TREE).predict(np.zeros((1, 2), int))
    two_parents = TaskGraph([Task("a", 3), Task("b", 2, parent="a", active_when=(1, 2))])
    with pytest.raises(ModelError, match="parent_of"):
        MultiTaskLabelModel(two_parents, method="hierarchical")
    L = np.array([[0, 1], [1, 2], [2, 4], [0, 0]])
    model = MultiTaskLabelModel(TREE).fit(MultiTaskStats.from_matrix(L, TREE, ["coarse", "fine"]))
    with pytest.raises(ModelError, match="LF 1 votes 6 on task 'fine'"):
        model.predict(np.array([[0, 6]]))
    with pytest.raises(StatsError):
        MultiTaskLabelModel(XRAY).fit(MultiTaskStats.from_matrix(L, TREE, ["coarse", "fine"]))
