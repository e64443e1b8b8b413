"""Evaluation against gold labels by a distributed reduction (rows with a gold label only).

One pass over a votes DataFrame ``(id, votes, gold)`` computes, with integer counts:

* per model: the (k, k) confusion matrix ``C[y_true, y_pred]``;
* per LF: the (k, k) confusion of its non-abstain votes against gold (→ empirical accuracy).

Partials are tree-reduced; only (k, k) and (m, k, k) arrays reach the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.spark.apply import VOTES_COL, arrow_votes_matrix
from wsup_spark.spark.predict import ProbabilisticModel, broadcast_object, unbroadcast


@dataclass(frozen=True)
class GoldEval:
    """Confusion counts against gold.

    Attributes
    ----------
    n_gold : int
        Rows with a gold label.
    models : dict of str to (k, k) int64
        Confusion matrix per model, rows = gold class, columns = predicted class.
    lfs : (m, k, k) int64
        Per-LF confusion of non-abstain votes.
    """

    n_gold: int
    models: dict[str, np.ndarray]
    lfs: np.ndarray

    def accuracy(self, model: str) -> float:
        """Accuracy of a model on the gold rows."""
        c = self.models[model]
        return float(np.trace(c) / max(c.sum(), 1))

    def f1(self, model: str, positive: int = 1) -> float:
        """F1 of class ``positive``."""
        c = self.models[model]
        tp = c[positive, positive]
        fp = c[:, positive].sum() - tp
        fn = c[positive, :].sum() - tp
        return float(2 * tp / max(2 * tp + fp + fn, 1))

    @property
    def lf_accuracy(self) -> np.ndarray:
        """(m,) empirical accuracy of each LF where it votes (NaN when it never votes on gold)."""
        tot = self.lfs.sum(axis=(1, 2)).astype(float)
        correct = np.trace(self.lfs, axis1=1, axis2=2).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, correct / np.maximum(tot, 1), np.nan)

    def merge(self, other: GoldEval) -> GoldEval:
        """Sum of two partials."""
        return GoldEval(
            self.n_gold + other.n_gold,
            {k: v + other.models[k] for k, v in self.models.items()},
            self.lfs + other.lfs,
        )


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) int64 confusion counts.

    >>> confusion(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k).astype(np.int64)


def eval_batch(
    L: np.ndarray, gold: np.ndarray, models: Mapping[str, ProbabilisticModel], k: int
) -> GoldEval:
    """Evaluate on one in-memory batch; ``gold`` < 0 marks rows without a gold label."""
    keep = gold >= 0
    L, y = L[keep], gold[keep].astype(np.int64)
    m = L.shape[1]
    per_model = {
        name: confusion(y, np.asarray(mdl.predict_proba(L)).argmax(axis=1), k)
        for name, mdl in models.items()
    }
    lfs = np.zeros((m, k, k), np.int64)
    for j in range(m):
        v = L[:, j] >= 0
        lfs[j] = confusion(y[v], L[v, j].astype(np.int64), k)
    return GoldEval(int(keep.sum()), per_model, lfs)


def evaluate_gold(
    votes_df: Any,
    models: Mapping[str, ProbabilisticModel],
    m: int,
    k: int,
    gold_col: str = "gold",
    votes_col: str = VOTES_COL,
) -> GoldEval:
    """Distributed evaluation of ``models`` and of every LF on rows with a non-null gold label."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType, StructField, StructType

    spark = votes_df.sparkSession
    bc = broadcast_object(spark, dict(models))
    names = list(models)

    def partial(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        acc = GoldEval(0, {nm: np.zeros((k, k), np.int64) for nm in names},
                       np.zeros((m, k, k), np.int64))  # fmt: skip
        mdls = unbroadcast(bc)
        for b in batches:
            if b.num_rows:
                L = arrow_votes_matrix(b, m, votes_col)
                g = b.column(gold_col).to_numpy(zero_copy_only=False)
                acc = acc.merge(eval_batch(L, np.asarray(g, np.int64), mdls, k))
        yield pa.RecordBatch.from_arrays([pa.array([_pack(acc)], pa.binary())], ["eval"])

    schema = StructType([StructField("eval", BinaryType(), False)])
    spark.sparkContext.setJobDescription("evaluate against gold")
    try:
        src = votes_df.where(F.col(gold_col).isNotNull()).select(votes_col, gold_col)
        parts = src.mapInArrow(partial, schema).rdd.map(lambda r: _unpack(bytes(r[0]), names))
        if parts.getNumPartitions() == 0:
            return GoldEval(0, {nm: np.zeros((k, k), np.int64) for nm in names},
                            np.zeros((m, k, k), np.int64))  # fmt: skip
        return parts.treeReduce(GoldEval.merge)  # type: ignore[no-any-return]
    finally:
        spark.sparkContext.setJobDescription(None)  # type: ignore[arg-type]


def _pack(e: GoldEval) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, n=np.array(e.n_gold), lfs=e.lfs, **{f"m_{k}": v for k, v in e.models.items()})
    return buf.getvalue()


def _unpack(data: bytes, names: list[str]) -> GoldEval:
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return GoldEval(int(z["n"]), {nm: z[f"m_{nm}"] for nm in names}, z["lfs"])
