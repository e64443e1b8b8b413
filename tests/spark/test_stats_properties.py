"""Property tests: LFStats partials form a commutative monoid; Spark's reduction is exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wsup_spark.spark.apply import votes_to_arrow
from wsup_spark.spark.stats import StatsTap, compute_stats, merge_partials
from wsup_spark.stats.lfstats import LFStats


@st.composite
def label_matrices(draw, max_rows=60):
    k = draw(st.integers(2, 4))
    m = draw(st.integers(1, 5))
    n = draw(st.integers(0, max_rows))
    L = draw(arrays(np.int8, (n, m), elements=st.integers(-1, k - 1)))
    return L, k


@settings(max_examples=60, deadline=None)
@given(label_matrices(), st.data())
def test_merge_is_associative_commutative_and_exact(Lk, data):
    L, k = Lk
    n = len(L)
    i = data.draw(st.integers(0, n))
    j = data.draw(st.integers(i, n))
    a, b, c = (LFStats.from_matrix(part, k) for part in (L[:i], L[i:j], L[j:]))
    whole = LFStats.from_matrix(L, k)
    assert a.merge(b).merge(c) == a.merge(b.merge(c)) == whole
    assert a.merge(b) == b.merge(a)
    assert LFStats.empty(L.shape[1], k).merge(whole) == whole
    assert LFStats.from_bytes(whole.to_bytes()) == whole


@settings(max_examples=60, deadline=None)
@given(label_matrices(), st.data())
def test_vote_patterns_merge_exactly(Lk, data):
    """The pattern histogram is a union with added counts: same monoid laws, sums to n."""
    L, k = Lk
    n = len(L)
    i = data.draw(st.integers(0, n))
    j = data.draw(st.integers(i, n))
    a, b, c = (LFStats.from_matrix(part, k, patterns=True) for part in (L[:i], L[i:j], L[j:]))
    whole = LFStats.from_matrix(L, k, patterns=True)
    assert a.merge(b).merge(c) == a.merge(b.merge(c)) == whole == b.merge(a).merge(c)
    assert whole.patterns.n == n and len(whole.patterns.rows) == len({tuple(r) for r in L})
    assert LFStats.from_bytes(whole.to_bytes()) == whole
    assert whole != LFStats.from_matrix(L, k)  # patterns are part of the value
    assert a.merge(LFStats.from_matrix(L[i:], k)).patterns is None  # one side without: dropped
    if len(whole.patterns.rows) > 1:  # over the cap: dropped, and stays dropped
        capped = LFStats.from_matrix(L, k, patterns=True, max_patterns=1)
        assert capped.patterns.capped and capped.merge(whole).patterns.capped


@settings(max_examples=30, deadline=None)
@given(label_matrices(max_rows=200), st.integers(1, 7))
def test_tap_partials_equal_from_matrix(Lk, n_parts):
    L, k = Lk
    m = L.shape[1]
    parts = []
    for chunk in np.array_split(np.arange(len(L)), n_parts):
        tap = StatsTap(LFStats.empty(m, k))
        tap.update(votes_to_arrow(_ids(chunk), L[chunk]))
        parts.append(tap.finish())
    assert merge_partials(parts, LFStats.empty(m, k)) == LFStats.from_matrix(L, k)
    parts = []
    for chunk in np.array_split(np.arange(len(L)), n_parts):
        tap = StatsTap(LFStats.empty(m, k, patterns=True))
        tap.update(votes_to_arrow(_ids(chunk), L[chunk]))
        parts.append(tap.finish())
    whole = LFStats.from_matrix(L, k, patterns=True)
    assert merge_partials(parts, LFStats.empty(m, k, patterns=True)) == whole


def _ids(idx):
    import pyarrow as pa

    return pa.array(idx.astype(np.int64))


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(label_matrices(max_rows=300), st.integers(1, 5))
def test_spark_reduction_equals_in_memory(spark, Lk, n_parts):
    L, k = Lk
    m = L.shape[1]
    pdf = pd.DataFrame({"id": np.arange(len(L)), "votes": list(L.astype(np.int8))})
    if len(L) == 0:
        return
    df = spark.createDataFrame(pdf, "id long, votes array<tinyint>").repartition(n_parts)
    assert compute_stats(df, m, k) == LFStats.from_matrix(L, k)
    assert compute_stats(df, m, k, patterns=True) == LFStats.from_matrix(L, k, patterns=True)
