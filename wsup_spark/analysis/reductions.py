"""The report's two distributed reductions (Spark), each returning arrays whose size does not
depend on n (see :mod:`~wsup_spark.analysis.diagnostics` for the numbers and their in-memory
versions):

* :func:`confidence_histogram` — Spark SQL aggregates over the labels table: rows per
  (confidence bin, predicted label, covered?) and the confidence sum.
* :func:`gold_diagnostics` — one ``mapInArrow`` pass over the gold rows of the votes table with the
  models broadcast, partials merged by :func:`~wsup_spark.spark.reduce.reduce_partitions`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from pyspark.sql import functions as F

from wsup_spark.analysis.diagnostics import (
    DEFAULT_BINS,
    ConfidenceHistogram,
    GoldDiagnostics,
    _check_bins,
    _pack,
    _unpack,
    confidence_edges,
    gold_batch,
)
from wsup_spark.errors import DataError
from wsup_spark.io.base import job_description
from wsup_spark.spark.apply import VOTES_COL, arrow_votes_matrix
from wsup_spark.spark.predict import broadcast_object, unbroadcast
from wsup_spark.spark.reduce import reduce_partitions


def confidence_histogram(
    labels_df: Any, k: int, bins: int = DEFAULT_BINS, run_id: str | None = None
) -> ConfidenceHistogram:
    """Distributed :class:`ConfidenceHistogram` of a labels table (Spark SQL aggregates only).

    Parameters
    ----------
    labels_df : pyspark DataFrame
        The labels table: ``confidence``, ``label``, ``n_votes`` (and ``run_id``).
    k : int
        Number of classes.
    bins : int
        Confidence bins over ``[1/k, 1]``.
    run_id : str, optional
        Keep only this run's rows (tables written in append mode hold several runs).
    """
    bins = _check_bins(bins)
    missing = [c for c in ("confidence", "label", "n_votes") if c not in labels_df.columns]
    if missing:
        raise DataError(f"labels table lacks column(s) {missing}; columns are {labels_df.columns}")
    if run_id is not None and "run_id" in labels_df.columns:
        labels_df = labels_df.where(F.col("run_id") == run_id)
    lo = 1.0 / k
    span = 1.0 - lo
    b = F.least(
        F.greatest(
            F.floor((F.col("confidence") - F.lit(lo)) / F.lit(span) * F.lit(float(bins))), F.lit(0)
        ),
        F.lit(bins - 1),
    )
    with job_description(labels_df.sparkSession, "report: confidence histogram (labels table)"):
        rows = (
            labels_df.select(
                b.cast("int").alias("b"),
                "label",
                (F.col("n_votes") > 0).alias("covered"),
                "confidence",
            )
            .groupBy("b", "label", "covered")
            .agg(F.count(F.lit(1)).alias("n"), F.sum("confidence").alias("s"))
            .collect()
        )
    counts = np.zeros((bins, k), np.int64)
    uncovered = np.zeros(bins, np.int64)
    total = 0.0
    for r in rows:
        if r["covered"]:
            counts[r["b"], r["label"]] += r["n"]
        else:
            uncovered[r["b"]] += r["n"]
        total += float(r["s"] or 0.0)
    return ConfidenceHistogram(confidence_edges(k, bins), counts, uncovered, total)


def gold_diagnostics(
    votes_df: Any,
    models: Mapping[str, Any],
    m: int,
    k: int,
    bins: int = DEFAULT_BINS,
    gold_col: str = "gold",
    run_id: str | None = None,
) -> GoldDiagnostics:
    """Distributed :class:`GoldDiagnostics` over the rows of a votes table that have gold labels.

    The models are broadcast; each partition evaluates them on its Arrow batches and yields one
    small partial; partials are tree-reduced. Only (k, k), (m, k, k) and (bins,) arrays reach the
    driver.
    """
    bins = _check_bins(bins)
    if gold_col not in votes_df.columns:
        raise DataError(f"votes table has no gold column {gold_col!r}; columns {votes_df.columns}")
    if run_id is not None and "run_id" in votes_df.columns:
        votes_df = votes_df.where(F.col("run_id") == run_id)
    names = list(models)
    bc = broadcast_object(votes_df.sparkSession, dict(models))

    def partial(batches: Iterator[Any]) -> bytes:
        acc = GoldDiagnostics.zeros(names, m, k, bins)
        mdls = unbroadcast(bc)
        for batch in batches:
            if batch.num_rows:
                L = arrow_votes_matrix(batch, m, VOTES_COL)
                g = np.asarray(batch.column(gold_col).to_numpy(zero_copy_only=False), np.int64)
                acc = acc.merge(gold_batch(L, g, mdls, k, bins))
        return _pack(acc)

    src = votes_df.where(F.col(gold_col).isNotNull()).select(VOTES_COL, gold_col)
    return reduce_partitions(
        src, partial, lambda data: _unpack(data, names), GoldDiagnostics.merge,
        lambda: GoldDiagnostics.zeros(names, m, k, bins),
        "report: gold evaluation and calibration (votes table)",
    )  # fmt: skip
