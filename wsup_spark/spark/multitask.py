"""Multi-task LF statistics, prediction and gold accuracy on Spark.

Statistics use the same distributed reduction as the single-task ones.

The votes table is the single-task one: ``votes`` holds, per row, each LF's vote on *its own* task
(``0..k_t-1`` or -1); the LF-to-task map comes from the LF set. Each partition turns its Arrow
batches into an (n_b, m) matrix and accumulates :class:`MultiTaskStats` (integer sums over rows);
:func:`~wsup_spark.spark.reduce.reduce_partitions` merges the partials (npz bytes carrying only the
block of indicator columns that fired). The result equals
``MultiTaskStats.from_matrix`` on the whole matrix exactly; nothing n-sized reaches the driver.

Labels (:func:`multitask_predict_transform`): the fitted model is broadcast and applied to whole
Arrow batches; per task ``t`` the labels carry ``probs_<t>`` (``P(Y_t | votes, t applies)``, k_t
probabilities) and ``label_<t>`` (argmax), both null where the task does not apply (probability
≤ 1/2, e.g. no finding on a normal X-ray), and, for a task that can be N/A, ``applies_<t>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    StructField,
    StructType,
)

from wsup_spark.errors import DataError
from wsup_spark.labelmodel.multitask_stats import MultiTaskStats
from wsup_spark.spark.apply import (
    VOTES_COL,
    add_constant_fields,
    append_constants,
    arrow_votes_matrix,
)
from wsup_spark.spark.predict import broadcast_object, unbroadcast
from wsup_spark.spark.reduce import reduce_partitions
from wsup_spark.tasks import TaskGraph

__all__ = [
    "MultiTaskStatsTap",
    "compute_multitask_stats",
    "gold_index_column",
    "multitask_gold_counts",
    "multitask_labels_schema",
    "multitask_labels_to_arrow",
    "multitask_lf_gold_counts",
    "multitask_predict_transform",
    "reduce_multitask_stats",
]


class MultiTaskStatsTap:
    """Accumulates a :class:`MultiTaskStats` partial from Arrow batches of ``votes``.

    ``template`` is the empty statistics of the LF set (:meth:`MultiTaskStats.empty`). Picklable;
    ``finish()`` returns npz bytes (:meth:`MultiTaskStats.to_bytes`).
    """

    def __init__(self, template: MultiTaskStats, votes_col: str = VOTES_COL) -> None:
        self.votes_col = votes_col
        self.stats = template

    def update(self, batch: Any) -> None:
        """Add one Arrow batch's votes."""
        if batch.num_rows:
            L = arrow_votes_matrix(batch, self.stats.m, self.votes_col)
            self.stats = self.stats.add_matrix(L)

    def finish(self) -> bytes:
        """The partial, serialised."""
        return self.stats.to_bytes()


def reduce_multitask_stats(
    votes_df: Any, template: MultiTaskStats, votes_col: str = VOTES_COL, depth: int = 2
) -> MultiTaskStats:
    """:func:`compute_multitask_stats` for the LF set the empty ``template`` describes."""

    def partial(batches: Iterator[Any]) -> bytes:
        tap = MultiTaskStatsTap(template, votes_col)
        for b in batches:
            tap.update(b)
        return tap.finish()

    return reduce_partitions(
        votes_df.select(votes_col), partial, MultiTaskStats.from_bytes, MultiTaskStats.merge,
        lambda: template, "multi-task LF statistics", depth, encode=MultiTaskStats.to_bytes,
    )  # fmt: skip


def compute_multitask_stats(
    votes_df: Any,
    graph: TaskGraph,
    lf_tasks: Sequence[str | int],
    lf_names: Sequence[str] | None = None,
    votes_col: str = VOTES_COL,
    depth: int = 2,
) -> MultiTaskStats:
    """Multi-task LF statistics of a votes DataFrame (one pass, per-partition numpy, tree reduce).

    Parameters
    ----------
    votes_df : pyspark.sql.DataFrame
        Has ``votes_col``: array of m votes per row, LF i's vote on task ``lf_tasks[i]``.
    graph : TaskGraph
    lf_tasks : (m,) task names or indices
    lf_names : (m,) str, optional
    depth : int
        1: every partial merged on the driver; 2 (default): first in a few merge tasks.
    """
    template = MultiTaskStats.empty(graph, lf_tasks, lf_names)
    return reduce_multitask_stats(votes_df, template, votes_col, depth)


# --------------------------------------------------------------------------- labels


def multitask_labels_schema(id_type: Any, graph: TaskGraph) -> Any:
    """Spark schema of the multi-task labels: ``id``, per task ``probs_<t>`` (nullable array),
    ``label_<t>`` (nullable int) and, for a task that can be N/A, ``applies_<t>``; ``n_votes``."""
    fields = [StructField("id", id_type, nullable=False)]
    for j, t in enumerate(graph.tasks):
        fields.append(StructField(f"probs_{t.name}", ArrayType(DoubleType(), False), True))
        fields.append(StructField(f"label_{t.name}", IntegerType(), True))
        if graph.can_be_na(j):
            fields.append(StructField(f"applies_{t.name}", DoubleType(), False))
    fields.append(StructField("n_votes", IntegerType(), nullable=False))
    return StructType(fields)


def multitask_labels_to_arrow(
    ids: Any, L: np.ndarray, marginals: Mapping[str, np.ndarray], graph: TaskGraph
) -> Any:
    """Arrow batch of :func:`multitask_labels_schema` from ids, votes (n, m) and the per-task
    marginals (name -> (n, k_t), rows summing to P(task applies)).

    Examples
    --------
    >>> from wsup_spark.tasks import Task
    >>> g = TaskGraph([Task("abn", 2), Task("finding", 2, parent="abn", active_when=(1,))])
    >>> marg = {"abn": np.array([[0.9, 0.1], [0.2, 0.8]]),
    ...         "finding": np.array([[0.05, 0.05], [0.2, 0.6]])}
    >>> b = multitask_labels_to_arrow(pa.array([1, 2]), np.array([[0], [1]]), marg, g)
    >>> b.column("label_finding").to_pylist(), np.round(b.column("probs_finding")[1].values, 2)
    ([None, 1], array([0.25, 0.75]))
    """
    n = L.shape[0]
    cols, names = [ids], ["id"]
    for j, t in enumerate(graph.tasks):
        P = np.asarray(marginals[t.name], np.float64).reshape(n, t.cardinality)
        applies = P.sum(axis=1)
        na = applies <= 0.5  # as MultiTaskLabelModel.predict
        cond = P / np.where(applies > 0, applies, 1.0)[:, None]
        offsets = pa.array(np.arange(0, n * t.cardinality + 1, t.cardinality, dtype=np.int32))
        cols.append(pa.ListArray.from_arrays(offsets, pa.array(cond.ravel()), mask=pa.array(na)))
        cols.append(pa.array(cond.argmax(axis=1).astype(np.int32), mask=na))
        names += [f"probs_{t.name}", f"label_{t.name}"]
        if graph.can_be_na(j):
            cols.append(pa.array(np.clip(applies, 0.0, 1.0)))
            names.append(f"applies_{t.name}")
    cols.append(pa.array((L >= 0).sum(axis=1).astype(np.int32)))
    names.append("n_votes")
    return pa.RecordBatch.from_arrays(cols, names=names)


def multitask_predict_transform(
    votes_df: Any,
    model: Any,
    m: int,
    votes_col: str = VOTES_COL,
    constants: Mapping[str, str] | None = None,
) -> Any:
    """The multi-task prediction step as a :class:`~wsup_spark.io.base.BatchTransform` over
    ``votes_df.select("id", votes_col)`` (``write_table`` fuses it into its write tasks).

    ``model`` is a fitted :class:`~wsup_spark.labelmodel.multitask.MultiTaskLabelModel`
    (broadcast once; ``predict_proba`` per Arrow batch).
    """
    from wsup_spark.io.base import BatchTransform

    graph = model.graph
    bc = broadcast_object(votes_df.sparkSession, model)
    consts = dict(constants or {})
    schema = add_constant_fields(
        multitask_labels_schema(votes_df.schema["id"].dataType, graph), consts
    )

    def predict_partition(batches: Iterator[Any]) -> Iterator[Any]:
        mdl = unbroadcast(bc)
        for b in batches:
            L = arrow_votes_matrix(b, m, votes_col)
            marg = mdl.predict_proba(L)
            yield append_constants(multitask_labels_to_arrow(b.column("id"), L, marg, graph),
                                   consts)  # fmt: skip

    return BatchTransform(predict_partition, schema)


# --------------------------------------------------------------------------- gold


def gold_indices(values: Any, class_names: Sequence[str] | None, k: int) -> np.ndarray:
    """(n,) int64 gold class indices of an Arrow/numpy column of class indices or names; -1 for
    null, unknown names and out-of-range values (rows without gold for the task).

    Examples
    --------
    >>> gold_indices(pa.array(["normal", None, "abnormal", "x"]), ["normal", "abnormal"], 2)
    array([ 0, -1,  1, -1])
    >>> gold_indices(pa.array([1, None, 5]), None, 3).tolist()
    [1, -1, -1]
    """
    vals = values.to_pylist() if hasattr(values, "to_pylist") else list(values)
    names = {c: i for i, c in enumerate(class_names or ())}
    out = np.full(len(vals), -1, np.int64)
    for r, v in enumerate(vals):
        if v is None:
            continue
        if isinstance(v, str) and v in names:
            out[r] = names[v]
        elif isinstance(v, str) and v.strip().lstrip("-").isdigit():
            out[r] = int(v)
        elif isinstance(v, (int, np.integer, float)) and float(v) == int(v):
            out[r] = int(v)
    out[(out < 0) | (out >= k)] = -1
    return out


def multitask_gold_counts(
    votes_df: Any, model: Any, m: int, gold_cols: Mapping[str, str], votes_col: str = VOTES_COL
) -> dict[str, dict[str, Any]]:
    """Per task with a gold column: rows with gold, rows the model gets right (a predicted N/A
    counts as wrong) and the (k_t, k_t) confusion counts (gold row, predicted column), by a
    distributed reduction over the votes (which carry the gold columns).

    Parameters
    ----------
    gold_cols : mapping task name -> column of ``votes_df`` with that task's gold (index or
        class name; null where the task does not apply).
    """
    graph = model.graph
    bc = broadcast_object(votes_df.sparkSession, model)
    tasks = [(graph.index(t), c) for t, c in gold_cols.items()]

    def partial(batches: Iterator[Any]) -> bytes:
        mdl = unbroadcast(bc)
        acc = {graph.tasks[j].name: np.zeros((graph.cardinalities[j], graph.cardinalities[j] + 1),
                                             np.int64) for j, _ in tasks}  # fmt: skip
        for b in batches:
            if not b.num_rows:
                continue
            pred = mdl.predict(arrow_votes_matrix(b, m, votes_col))
            for j, col in tasks:
                t = graph.tasks[j]
                y = gold_indices(b.column(col), t.class_names, t.cardinality)
                has = y >= 0
                p = np.where(pred[has, j] < 0, t.cardinality, pred[has, j])  # N/A: last column
                np.add.at(acc[t.name], (y[has], p), 1)
        return json.dumps({k: v.tolist() for k, v in acc.items()}).encode()

    def decode(data: bytes) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.int64) for k, v in json.loads(data.decode()).items()}

    def merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: a[k] + b[k] for k in a}

    def zero() -> dict[str, np.ndarray]:
        return {graph.tasks[j].name: np.zeros((graph.cardinalities[j],
                                               graph.cardinalities[j] + 1), np.int64)
                for j, _ in tasks}  # fmt: skip

    cols = [votes_col, *sorted({c for _, c in tasks})]
    conf = reduce_partitions(votes_df.select(*cols), partial, decode, merge, zero,
                             "multi-task gold accuracy")  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for name, C in conf.items():
        n = int(C.sum())
        right = int(np.trace(C[:, :-1]))
        out[name] = {"n_gold": n, "accuracy": right / n if n else None,
                     "predicted_na": int(C[:, -1].sum()), "confusion": C.tolist()}  # fmt: skip
    return out


def multitask_lf_gold_counts(
    votes_df: Any,
    graph: TaskGraph,
    lf_tasks: Sequence[int],
    gold_cols: Mapping[str, str],
    votes_col: str = VOTES_COL,
) -> dict[str, dict[str, np.ndarray]]:
    """Per task with a gold column, the votes of that task's LFs on the rows with its gold: a
    distributed reduction over the votes (which carry the gold columns).

    Parameters
    ----------
    votes_df : the votes (``votes`` and the gold columns)
    graph, lf_tasks : the task graph and each LF's task index (vote order)
    gold_cols : task name -> gold column (indices or class names; null where unknown or N/A)

    Returns
    -------
    task name -> ``{"lfs": (m_t,) LF indices, "confusion": (m_t, k_t, k_t) int64}`` (rows = gold
    class, columns = the LF's vote) and ``"na": (m_t,) int64`` — votes on rows where this task
    has no gold but another task has (a finding vote on a report whose gold says NORMAL).
    """
    m = len(lf_tasks)
    tasks = [(graph.index(t), c) for t, c in gold_cols.items()]
    lfs_of = {j: [i for i in range(m) if lf_tasks[i] == j] for j, _ in tasks}

    def zero() -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for j, _ in tasks:
            k, name = graph.cardinalities[j], graph.tasks[j].name
            out[f"{name}/confusion"] = np.zeros((len(lfs_of[j]), k, k), np.int64)
            out[f"{name}/na"] = np.zeros(len(lfs_of[j]), np.int64)
        return out

    def partial(batches: Iterator[Any]) -> bytes:
        acc = zero()
        for b in batches:
            if not b.num_rows:
                continue
            L = arrow_votes_matrix(b, m, votes_col)
            ys = {j: gold_indices(b.column(c), graph.tasks[j].class_names,
                                  graph.cardinalities[j]) for j, c in tasks}  # fmt: skip
            any_gold = np.zeros(b.num_rows, bool)
            for y in ys.values():
                any_gold |= y >= 0
            for j, _ in tasks:
                name, y = graph.tasks[j].name, ys[j]
                for pos, i in enumerate(lfs_of[j]):
                    v = L[:, i]
                    has = (y >= 0) & (v >= 0)
                    np.add.at(acc[f"{name}/confusion"][pos], (y[has], v[has]), 1)
                    acc[f"{name}/na"][pos] += int(((y < 0) & any_gold & (v >= 0)).sum())
        return json.dumps({k: v.tolist() for k, v in acc.items()}).encode()

    def decode(data: bytes) -> dict[str, np.ndarray]:
        z = zero()
        return {k: np.asarray(v, np.int64).reshape(z[k].shape)
                for k, v in json.loads(data.decode()).items()}  # fmt: skip

    def merge(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: a[k] + b[k] for k in a}

    cols = [votes_col, *sorted({c for _, c in tasks})]
    got = reduce_partitions(votes_df.select(*cols), partial, decode, merge, zero,
                            "report: per-LF gold counts per task")  # fmt: skip
    return {graph.tasks[j].name: {"lfs": np.array(lfs_of[j], np.int64),
                                  "confusion": got[f"{graph.tasks[j].name}/confusion"],
                                  "na": got[f"{graph.tasks[j].name}/na"]}
            for j, _ in tasks}  # fmt: skip


def gold_index_column(df: Any, col: str, task: Any) -> Any:
    """Spark column of ``task``'s gold class index (int) from ``df[col]`` — class indices or names,
    as :func:`gold_indices` reads them; null for nulls, unknown names and out-of-range values.

    Parameters
    ----------
    df : DataFrame holding ``col``
    col : the task's gold column (``tasks[].gold_col``)
    task : the :class:`~wsup_spark.tasks.Task`
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType, StringType

    k = int(task.cardinality)
    c = F.col(col)
    dtype = df.schema[col].dataType
    if isinstance(dtype, StringType):
        idx: Any = F.lit(None).cast("int")
        names = list(task.class_names or ())
        # names first (a class named "3" means that class), then digit strings
        for a in reversed(range(k)):
            idx = F.when(F.trim(c) == F.lit(str(a)), F.lit(a)).otherwise(idx)
        for a in reversed(range(len(names))):
            idx = F.when(c == F.lit(names[a]), F.lit(a)).otherwise(idx)
        return idx.cast("int")
    if isinstance(dtype, NumericType):
        ok = c.isNotNull() & (c == F.floor(c)) & (c >= 0) & (c < k)
        return F.when(ok, c.cast("int")).otherwise(F.lit(None).cast("int"))
    raise DataError(
        f"gold column {col!r} of task {task.name!r} has type {dtype.simpleString()}; expected "
        "class indices (integers) or class names (strings)"
    )
