"""Distributed prediction: ship the fitted label model to the tasks, ``mapInArrow`` over the votes.

Output columns: ``id``, ``probs array<double>`` (P(Y | votes), length k), ``label int`` (argmax,
lowest class on ties), ``confidence double`` (max probability), ``n_votes int`` (non-abstaining
LFs on the row, so consumers can drop rows no LF labelled).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from pyspark import cloudpickle
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    StructField,
    StructType,
)

from wsup_spark.io.base import BatchTransform
from wsup_spark.spark.apply import (
    VOTES_COL,
    add_constant_fields,
    append_constants,
    arrow_votes_matrix,
)
from wsup_spark.spark.stats import distinct_rows


class ProbabilisticModel(Protocol):
    """Anything with ``predict_proba(L: (n, m) int) -> (n, k) float``, row by row: a row's
    probabilities depend on its votes only (``P(Y | λ)``). A model with a ``cardinality`` (k)
    attribute is called once per distinct vote row of a batch (:func:`predict_by_pattern`)."""

    def predict_proba(self, L: np.ndarray) -> np.ndarray: ...


def broadcast_object(spark: Any, obj: Any) -> bytes:
    """``obj`` serialised with cloudpickle, to ship inside a task closure (models defined in
    notebooks or scripts travel by value). Read it back in a task with :func:`unbroadcast`.

    No ``sparkContext.broadcast``: Spark Connect sessions have none, and a fitted label model is
    small (its parameters are O(m·k), or O(d²) for a multi-task model), so shipping it with each
    task's closure costs little. ``spark`` is kept for API compatibility.
    """
    del spark
    return cloudpickle.dumps(obj)  # type: ignore[no-untyped-call,no-any-return]


def unbroadcast(bc: bytes) -> Any:
    """The object behind :func:`broadcast_object`'s bytes (inside a task)."""
    return pickle.loads(bc)  # trusted: bytes produced by this job's driver


def labels_schema(id_type: Any) -> Any:
    """Spark schema of the labels DataFrame."""
    return StructType(
        [
            StructField("id", id_type, nullable=False),
            StructField("probs", ArrayType(DoubleType(), False), nullable=False),
            StructField("label", IntegerType(), nullable=False),
            StructField("confidence", DoubleType(), nullable=False),
            StructField("n_votes", IntegerType(), nullable=False),
        ]
    )


def probs_to_arrow(ids: Any, L: np.ndarray, P: np.ndarray) -> Any:
    """Arrow batch of the labels schema from ids, votes (n, m) and probabilities (n, k)."""
    n, k = P.shape
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    probs = pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(P, np.float64).ravel()))
    label = P.argmax(axis=1)
    # per-column passes: numpy's row reductions over a few columns cost ~10x more per row
    n_votes = np.zeros(n, np.int32)
    for j in range(L.shape[1]):
        n_votes += L[:, j] >= 0
    return pa.RecordBatch.from_arrays(
        [
            ids,
            probs,
            pa.array(label.astype(np.int32)),
            pa.array(P[np.arange(n), label].astype(np.float64)),  # the row max
            pa.array(n_votes),
        ],
        names=["id", "probs", "label", "confidence", "n_votes"],
    )


def predict_transform(
    votes_df: Any,
    model: ProbabilisticModel,
    m: int,
    votes_col: str = VOTES_COL,
    constants: Mapping[str, str] | None = None,
) -> Any:
    """The prediction step as a :class:`~wsup_spark.io.base.BatchTransform` over
    ``votes_df.select("id", votes_col)``: ``write_table`` fuses it into its write tasks.

    The model travels in the task closure; each task calls ``model.predict_proba`` on whole Arrow
    batches.
    ``constants`` are string columns of one value appended to the labels (e.g. the run id).
    """
    bc = broadcast_object(votes_df.sparkSession, model)
    consts = dict(constants or {})
    schema = add_constant_fields(labels_schema(votes_df.schema["id"].dataType), consts)

    def predict_partition(batches: Iterator[Any]) -> Iterator[Any]:
        mdl = unbroadcast(bc)
        for b in batches:
            L = arrow_votes_matrix(b, m, votes_col)
            P = predict_by_pattern(mdl, L)
            yield append_constants(probs_to_arrow(b.column("id"), L, P), consts)

    return BatchTransform(predict_partition, schema)


def predict_by_pattern(model: ProbabilisticModel, L: np.ndarray) -> np.ndarray:
    """(n, k) float64 ``model.predict_proba(L)``, computed once per distinct row of L.

    ``P(Y | λ)`` depends on a row's votes only, and a batch's rows repeat a few vote patterns:
    the model sees the distinct rows and their probabilities are spread back to every row
    (the same values row by row). Rows that cannot be numbered, or that hardly repeat, go to
    the model as they are.
    """
    n = len(L)
    k = int(getattr(model, "cardinality", 0) or 0)
    distinct = distinct_rows(L, k) if k >= 2 and n >= 64 else None
    if distinct is None or 2 * len(distinct[0]) > n:
        return np.asarray(model.predict_proba(L), dtype=np.float64).reshape(n, -1)
    U, inverse = distinct
    P = np.asarray(model.predict_proba(U), dtype=np.float64).reshape(len(U), -1)
    return np.asarray(P[inverse])


def predict_labels(
    votes_df: Any, model: ProbabilisticModel, m: int, votes_col: str = VOTES_COL
) -> Any:
    """Probabilistic labels for every row of a votes DataFrame ``(id, votes)``.

    The model travels in the task closure; each task calls ``model.predict_proba`` on whole Arrow
    batches.
    """
    t = predict_transform(votes_df, model, m, votes_col)
    return votes_df.select("id", votes_col).mapInArrow(t.fn, t.schema)
