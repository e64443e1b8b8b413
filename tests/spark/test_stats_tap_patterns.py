"""StatsTap counts vote patterns and builds the statistics once: exactly ``from_matrix``'s."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsup_spark.errors import WsupError
from wsup_spark.spark import stats as spark_stats
from wsup_spark.spark.apply import votes_to_arrow
from wsup_spark.spark.predict import predict_by_pattern
from wsup_spark.spark.stats import PatternCounts, StatsTap, distinct_rows
from wsup_spark.stats.lfstats import LFStats


def _tap(L: np.ndarray, k: int, patterns: bool, batches: int) -> LFStats:
    tap = StatsTap(LFStats.empty(L.shape[1], k, patterns=patterns))
    for chunk in np.array_split(np.arange(len(L)), batches):
        tap.update(votes_to_arrow(pa.array(chunk.astype(np.int64)), L[chunk]))
    return LFStats.from_bytes(tap.finish())


@st.composite
def repetitive_votes(draw):
    """Few distinct rows repeated many times (counts with many bits), dense or sparse numbering."""
    k = draw(st.sampled_from([2, 3, 5, 130]))
    m = draw(st.sampled_from([1, 3, 10, 30, 60]))
    n_distinct = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(0, 3000))
    rng = np.random.default_rng(seed)
    dtype = np.int8 if k <= 127 else np.int16
    distinct = rng.integers(-1, k, (n_distinct, m)).astype(dtype)
    return distinct[rng.integers(0, n_distinct, n)], k


@settings(max_examples=40, deadline=None)
@given(repetitive_votes(), st.booleans(), st.integers(1, 6))
def test_tap_equals_from_matrix_over_many_batches(Lk, patterns, batches):
    L, k = Lk
    assert _tap(L, k, patterns, batches) == LFStats.from_matrix(L, k, patterns=patterns)


def test_pattern_numbering_dense_sparse_or_none():
    assert PatternCounts.create(10, 2).dense is not None  # 3**10 numbers
    assert PatternCounts.create(30, 2).dense is None  # 3**30: sorted counts
    assert PatternCounts.create(60, 2) is None  # 3**60 does not fit an int64


def test_too_many_patterns_fall_back_to_batch_by_batch(monkeypatch):
    monkeypatch.setattr(spark_stats, "MAX_PATTERNS", 5)
    rng = np.random.default_rng(0)
    L = rng.integers(-1, 3, (500, 8)).astype(np.int8)
    for patterns in (False, True):
        tap = StatsTap(LFStats.empty(8, 3, patterns=patterns))
        for chunk in np.array_split(np.arange(500), 4):
            tap.update(votes_to_arrow(pa.array(chunk), L[chunk]))
        assert tap.counts is None  # gave up counting after the first batch
        stats = LFStats.from_bytes(tap.finish())
        assert stats == LFStats.from_matrix(L, 3, patterns=patterns)


def test_votes_out_of_range_are_still_rejected():
    L = np.array([[0, 1], [5, -1]], np.int8)
    tap = StatsTap(LFStats.empty(2, 2))
    with pytest.raises(WsupError, match="vote 5 outside -1..1"):
        tap.update(votes_to_arrow(pa.array([0, 1]), L))


@settings(max_examples=30, deadline=None)
@given(repetitive_votes())
def test_distinct_rows_rebuild_the_matrix(Lk):
    L, k = Lk
    got = distinct_rows(L, k)
    if got is None:
        assert PatternCounts.create(L.shape[1], k) is None or not L.size
        return
    U, inverse = got
    assert np.array_equal(U[inverse], L) and len(U) == len({tuple(r) for r in L})


@pytest.mark.parametrize("model_kind", ["label_model", "majority_vote", "dawid_skene"])
@pytest.mark.parametrize(
    ("n", "m", "k", "n_distinct"),
    [(50, 4, 2, 3), (5000, 10, 2, 40), (3000, 14, 3, 20), (2000, 6, 4, 1500)],
)
def test_predict_by_pattern_equals_predict_proba_bitwise(model_kind, n, m, k, n_distinct):
    from wsup_spark.labelmodel import DawidSkene, LabelModel, MajorityVote

    rng = np.random.default_rng(n + m)
    L = rng.integers(-1, k, (n_distinct, m)).astype(np.int8)[rng.integers(0, n_distinct, n)]
    cls = {"label_model": LabelModel, "majority_vote": MajorityVote, "dawid_skene": DawidSkene}
    model = cls[model_kind](k)
    model.fit(LFStats.from_matrix(L, k, patterns=True))
    expected = np.asarray(model.predict_proba(L), np.float64)
    got = predict_by_pattern(model, L)
    assert got.dtype == np.float64 and np.array_equal(got, expected)


def test_predict_by_pattern_leaves_bad_votes_and_plain_models_to_the_model():
    calls: list[int] = []

    class Plain:  # no cardinality: every row goes to the model
        def predict_proba(self, L):
            calls.append(len(L))
            return np.full((len(L), 2), 0.5)

    L = np.zeros((100, 3), np.int8)
    assert predict_by_pattern(Plain(), L).shape == (100, 2) and calls == [100]

    class Strict(Plain):
        cardinality = 2

        def predict_proba(self, L):
            if L.max() >= 2:
                raise ValueError("vote 7 is not a class")
            return super().predict_proba(L)

    assert predict_by_pattern(Strict(), L).shape == (100, 2) and calls[-1] == 1  # one pattern
    L[5, 1] = 7
    with pytest.raises(ValueError, match="vote 7"):
        predict_by_pattern(Strict(), L)
