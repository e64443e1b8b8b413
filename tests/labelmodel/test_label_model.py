"""Label model v1 and majority vote on synthetic data with known LF accuracies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsup_spark import LabelModel, LFStats, MajorityVote
from wsup_spark.core.errors import ModelError, StatsError


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
    model = LabelModel(3).fit(LFStats.from_matrix(L, 3))
    np.testing.assert_allclose(model.accuracies, accs, atol=0.04)
    assert (model.predict(L) == y).mean() > 0.8


def test_given_class_balance_is_used(binary):
    _, _, stats = binary
    model = LabelModel(2).fit(stats, class_balance=[0.6, 0.4])
    np.testing.assert_allclose(model.class_balance, [0.6, 0.4])
    with pytest.raises(ModelError, match="class_balance must be 2 positive"):
        LabelModel(2).fit(stats, class_balance=[1.0, 0.0])


def test_deterministic_and_fit_independent_of_n_scaling(binary):
    _L, _, stats = binary
    a, b = LabelModel(2).fit(stats, seed=0), LabelModel(2).fit(stats, seed=0)
    assert np.array_equal(a.mu, b.mu) and np.array_equal(a.class_balance, b.class_balance)
    # doubling every row leaves O unchanged, hence the parameters
    c = LabelModel(2).fit(stats.merge(stats))
    np.testing.assert_allclose(c.mu, a.mu, atol=1e-5)


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


def test_never_voting_lf_and_empty_rows_give_no_nan():
    L, _ = synth(20_000, [0.9, 0.8, 0.7], [0.5, 0.5, 0.5], [0.5, 0.5])
    L = np.hstack([L, np.full((len(L), 1), -1)])
    model = LabelModel(2).fit(LFStats.from_matrix(L, 2))
    P = model.predict_proba(np.array([[-1, -1, -1, -1], [0, 1, -1, -1], [1, 1, 1, -1]]))
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(1), 1.0)
    assert np.isnan(model.accuracies[3])


def test_errors():
    with pytest.raises(ModelError, match="not fitted"):
        LabelModel(2).predict_proba(np.zeros((1, 2), int))
    with pytest.raises(StatsError, match="k=3 but the label model has cardinality=2"):
        LabelModel(2).fit(LFStats.from_matrix(np.zeros((5, 2), int), 3))
    with pytest.raises(ModelError, match="cardinality must be >= 2"):
        LabelModel(1)
    with pytest.raises(ModelError, match="zero rows"):
        LabelModel(2).fit(LFStats.empty(3, 2))


def test_majority_vote_ties_and_prior():
    mv = MajorityVote(3).fit(LFStats.empty(2, 3), class_balance=[0.2, 0.3, 0.5])
    P = mv.predict_proba(np.array([[0, 1], [-1, -1], [2, 2]]))
    np.testing.assert_allclose(P, [[0.5, 0.5, 0], [0.2, 0.3, 0.5], [0, 0, 1]])
