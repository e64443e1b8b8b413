"""The Arrow helpers of the apply and predict tasks build exactly the columns they declare."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from wsup_spark.errors import LFError
from wsup_spark.lf.base import ABSTAIN, vectorized_lf
from wsup_spark.lf.kernel import apply_lfs_to_batch
from wsup_spark.spark.apply import append_constants, votes_to_arrow
from wsup_spark.spark.predict import probs_to_arrow


@pytest.mark.parametrize("n", [0, 1, 7])
def test_constant_columns_are_plain_strings_in_order(n):
    L = np.full((n, 2), ABSTAIN, np.int8)
    out = append_constants(votes_to_arrow(pa.array(np.arange(n)), L), {"run_id": "r-1", "h": "ab"})
    assert out.schema.names == ["id", "votes", "run_id", "h"]
    assert out.column("run_id").equals(pa.array(["r-1"] * n, pa.string()))
    assert out.column("h").equals(pa.array(["ab"] * n, pa.string()))
    assert out.column("run_id").null_count == 0


@pytest.mark.parametrize(("n", "m", "k"), [(0, 3, 2), (5, 1, 2), (1000, 12, 3), (50, 200, 300)])
def test_labels_batch_matches_numpy_row_reductions(n, m, k):
    rng = np.random.default_rng(n + m + k)
    L = rng.integers(-1, k, (n, m)).astype(np.int8 if k < 128 else np.int16)
    P = rng.random((n, k))
    P /= np.maximum(P.sum(axis=1, keepdims=True), 1e-12)
    P[: min(n, 3)] = 1.0 / k  # ties: the first class, as argmax
    b = probs_to_arrow(pa.array(np.arange(n)), L, P)
    assert b.column("label").type == pa.int32() and b.column("n_votes").type == pa.int32()
    assert b.column("confidence").type == pa.float64()
    assert b.column("label").to_pylist() == P.argmax(axis=1).tolist()
    assert b.column("confidence").to_pylist() == P.max(axis=1).tolist()
    assert b.column("n_votes").to_pylist() == (L >= 0).sum(axis=1).tolist()
    assert b.column("probs").to_pylist() == P.tolist()


def test_vectorized_lf_errors_still_name_the_row_id():
    @vectorized_lf(columns=["x"], batch_format="arrow")
    def lf_bad(batch):
        return np.array([0, 1, 5])

    batch = pa.record_batch({"id": [10, 20, 30], "x": [1, 2, 3]})
    with pytest.raises(LFError, match=r"'lf_bad' voted 5 for row id 30"):
        apply_lfs_to_batch(batch, [lf_bad], 2, "id")
    batch = pa.record_batch({"id": ["a", "b", "c"], "x": [1, 2, 3]})
    with pytest.raises(LFError, match=r"'lf_bad' voted 5 for row id 'c'"):
        apply_lfs_to_batch(batch, [lf_bad], 2, "id")
