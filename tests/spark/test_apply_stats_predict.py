"""Applying LFs, LF statistics and prediction on a real local SparkSession."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from pyspark import cloudpickle

from wsup_spark.analysis.reductions import gold_diagnostics
from wsup_spark.errors import DataError, LFError
from wsup_spark.lf.base import ABSTAIN, labeling_function, vectorized_lf
from wsup_spark.lf.kernel import apply_lfs_local
from wsup_spark.spark.apply import LFErrorCounter, apply_lfs
from wsup_spark.spark.predict import predict_labels
from wsup_spark.spark.stats import compute_stats
from wsup_spark.stats.lfstats import LFStats

K = 3

# Test-module classes must travel to Python workers by value (workers cannot import this file).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@labeling_function()
def lf_a(x):
    return 0 if "a" in x.text else ABSTAIN


@labeling_function(columns=["text"])
def lf_len(x):
    return 1 if len(x.text) > 6 else ABSTAIN


@vectorized_lf(columns=["num"])
def lf_num(df):
    return np.where(df["num"] > 50, 2, np.where(df["num"] < 10, 0, ABSTAIN))


@vectorized_lf(columns=["text"], batch_format="arrow")
def lf_b_arrow(batch):
    import pyarrow.compute as pc

    hit = pc.match_substring(batch.column("text"), "b")
    return np.where(hit.to_numpy(zero_copy_only=False), 1, ABSTAIN)


LFS = [lf_a, lf_len, lf_num, lf_b_arrow]


def _corpus(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(["a", "b", "cc", "abc", "dddd", "bbbbbbb", "xyz"])
    return pd.DataFrame(
        {
            "doc_id": np.arange(n, dtype=np.int64) * 7 + 3,
            "text": [" ".join(rng.choice(words, 2)) for _ in range(n)],
            "num": rng.integers(0, 100, n).astype(np.int64),
            "gold": rng.integers(0, K, n).astype(np.int64),
        }
    )


class _Uniformish:
    """A tiny model: majority vote with uniform fallback (predict_proba over (n, m) votes)."""

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        P = np.ones((len(L), K))
        for a in range(K):
            P[:, a] += 10 * (L == a).sum(axis=1)
        return P / P.sum(axis=1, keepdims=True)


def test_spark_votes_equal_local_votes(spark):
    pdf = _corpus()
    df = spark.createDataFrame(pdf).repartition(3)
    votes = apply_lfs(df, LFS, "doc_id", K).toPandas().sort_values("id")
    local = apply_lfs_local(pdf, LFS, K, "doc_id")
    got = np.stack(votes["votes"].to_numpy())
    assert votes["id"].tolist() == pdf["doc_id"].tolist()
    assert got.dtype == np.int8 or got.dtype == np.int64
    np.testing.assert_array_equal(got, local)
    assert (local != ABSTAIN).any(axis=0).all(), "every LF votes somewhere in this corpus"


def test_spark_stats_equal_from_matrix_exactly(spark):
    pdf = _corpus(3000, seed=1)
    df = spark.createDataFrame(pdf).repartition(4)
    names = [lf.name for lf in LFS]
    stats = compute_stats(apply_lfs(df, LFS, "doc_id", K), len(LFS), K, names)
    expected = LFStats.from_matrix(apply_lfs_local(pdf, LFS, K, "doc_id"), K, names)
    assert stats == expected
    assert stats.n == 3000 and stats.lf_names == tuple(names)


def test_predict_and_evaluate(spark):
    pdf = _corpus(1500, seed=2)
    df = spark.createDataFrame(pdf).repartition(2)
    votes = apply_lfs(df, LFS, "doc_id", K, carry=["gold"]).cache()
    model = _Uniformish()
    labels = predict_labels(votes, model, len(LFS)).toPandas().sort_values("id")
    L = apply_lfs_local(pdf, LFS, K, "doc_id")
    P = model.predict_proba(L)
    np.testing.assert_allclose(np.stack(labels["probs"].to_numpy()), P)
    assert labels["label"].tolist() == P.argmax(1).tolist()
    assert labels["n_votes"].tolist() == (L >= 0).sum(1).tolist()
    ev = gold_diagnostics(votes, {"m": model}, len(LFS), K)
    assert ev.n_gold == 1500
    want = np.zeros((K, K), int)
    np.add.at(want, (pdf["gold"].to_numpy(), P.argmax(1)), 1)
    np.testing.assert_array_equal(ev.models["m"], want)
    for j in range(len(LFS)):
        v = L[:, j] >= 0
        assert ev.lfs[j].sum() == v.sum()
        assert ev.lfs[j].trace() == (L[v, j] == pdf["gold"].to_numpy()[v]).sum()


def test_lf_error_policies(spark):
    @labeling_function()
    def boom(x):
        if x.num == 13:
            raise RuntimeError("bad row")
        return 0

    pdf = _corpus(400)
    pdf.loc[pdf["num"] == 13, "num"] = 14
    pdf.loc[5, "num"] = 13
    bad_id = int(pdf.loc[5, "doc_id"])
    df = spark.createDataFrame(pdf).repartition(2)
    with pytest.raises(Exception, match=rf"boom.*row id {bad_id}"):
        apply_lfs(df, [boom], "doc_id", K).collect()
    counter = LFErrorCounter(spark)
    votes = apply_lfs(df, [boom], "doc_id", K, on_error="abstain", error_counter=counter)
    L = np.stack(votes.toPandas().sort_values("id")["votes"].to_numpy())
    assert counter.value == {"boom": 1}
    assert (L[:, 0] == ABSTAIN).sum() == 1 and L[5, 0] == ABSTAIN


def test_bad_config_errors_before_running(spark):
    df = spark.createDataFrame(_corpus(10))
    with pytest.raises(DataError, match="id column 'nope'"):
        apply_lfs(df, LFS, "nope", K)

    @vectorized_lf(columns=["missing_col"])
    def needs_missing(df):
        return np.zeros(len(df))

    with pytest.raises(DataError, match=r"needs_missing.*missing_col"):
        apply_lfs(df, [needs_missing], "doc_id", K)
    with pytest.raises(LFError, match="duplicate LF name"):
        apply_lfs(df, [lf_a, lf_a], "doc_id", K)
