"""Apply labeling functions over a Spark DataFrame with ``mapInArrow``.

Each task receives Arrow record batches of the corpus and runs the shared kernel
:func:`wsup_spark.lf.kernel.apply_lfs_to_batch` on them; the output is ``(id, votes)`` with
``votes`` an ``array<tinyint>`` (``array<smallint>`` when k > 127) in LF order. The LF objects and
their resources are captured by the task closure, so they ship once per task, never per row.
Nothing n-sized is collected to the driver.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import TaskContext
from pyspark.accumulators import AccumulatorParam
from pyspark.sql.types import ArrayType, ByteType, ShortType, StringType, StructField, StructType

from wsup_spark.errors import DataError
from wsup_spark.io.base import BatchTransform
from wsup_spark.lf.base import LabelingFunction, LFSet, vote_dtype
from wsup_spark.lf.kernel import OnError, apply_lfs_to_batch, check_columns, required_columns

logger = logging.getLogger(__name__)

VOTES_COL = "votes"


class LFErrorCounter:
    """A Spark accumulator of per-LF counts: failures under ``on_error="abstain"``, or seconds.

    Counts reach the driver once the action that runs the tasks has finished. As with every
    accumulator updated inside a transformation, a retried task can count its failures twice; the
    counts are a monitoring signal, not part of the labels.
    """

    def __init__(self, spark: Any) -> None:
        class _DictSum(AccumulatorParam):  # type: ignore[type-arg]
            def zero(self, value: dict[str, int]) -> dict[str, int]:
                return {}

            def addInPlace(self, a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
                for key, v in b.items():
                    a[key] = a.get(key, 0) + v
                return a

        self._acc = spark.sparkContext.accumulator({}, _DictSum())

    @property
    def accumulator(self) -> Any:
        """The underlying pyspark Accumulator (captured by task closures)."""
        return self._acc

    @property
    def value(self) -> dict[str, int]:
        """Per-LF failure counts seen so far (driver only)."""
        return dict(self._acc.value)


def votes_schema(id_type: Any, cardinality: int) -> Any:
    """Spark schema of the votes DataFrame: ``(id, votes array<tinyint|smallint>)``."""
    elem = ByteType() if vote_dtype(cardinality) == np.int8 else ShortType()
    return StructType(
        [StructField("id", id_type, nullable=False), StructField(VOTES_COL, ArrayType(elem, False))]
    )


def votes_to_arrow(ids: Any, L: np.ndarray) -> Any:
    """Build the Arrow batch ``(id, votes)`` from an id array and an (n, m) vote matrix."""
    n, m = L.shape
    offsets = pa.array(np.arange(0, n * m + 1, m, dtype=np.int32))
    votes = pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(L).reshape(-1)))
    return pa.RecordBatch.from_arrays([ids, votes], names=["id", VOTES_COL])


def arrow_votes_matrix(batch: Any, m: int, votes_col: str = VOTES_COL) -> np.ndarray:
    """Inverse of :func:`votes_to_arrow`: the (n, m) vote matrix of an Arrow batch."""
    col = batch.column(votes_col)
    n = batch.num_rows
    if n == 0:
        return np.empty((0, m), np.int8)
    values = col.flatten().to_numpy(zero_copy_only=False)
    if values.shape[0] != n * m:
        raise DataError(
            f"column {votes_col!r} holds {values.shape[0]} votes for {n} rows, expected m={m} per "
            "row: the votes table was written by a different LF set"
        )
    return np.asarray(values).reshape(n, m)


#: Per-task LF report of the fused apply + write (see :func:`apply_transform`): task attempt id →
#: {"errors": {lf: count}, "seconds": {lf: s}}. Filled by the apply step when its input ends and
#: read (popped) by :class:`~wsup_spark.spark.stats.VotesTap` in the same task and process.
TASK_REPORTS: dict[int, dict[str, dict[str, float]]] = {}


def task_attempt_id() -> int:
    """The running Spark task's attempt id (0 outside a task)."""
    ctx = TaskContext.get()
    return int(ctx.taskAttemptId()) if ctx is not None else 0


def add_constant_fields(schema: Any, constants: Mapping[str, str]) -> Any:
    """``schema`` (a Spark StructType) plus one non-null string field per constant column."""
    for c in constants:
        schema = schema.add(StructField(c, StringType(), nullable=False))
    return schema


def append_constants(batch: Any, constants: Mapping[str, str]) -> Any:
    """``batch`` (an Arrow RecordBatch) plus the constant string columns, in order."""
    for c, v in constants.items():
        batch = batch.append_column(c, pa.repeat(pa.scalar(v, pa.string()), batch.num_rows))
    return batch


def record_task_report(errors: dict[str, int], seconds: dict[str, float]) -> None:
    """Leave this task's LF report in :data:`TASK_REPORTS`.

    A module-level function, so task closures (which cloudpickle ships by value, copying the
    globals they name) reach the worker's real registry through it.
    """
    TASK_REPORTS[task_attempt_id()] = {"errors": dict(errors), "seconds": dict(seconds)}


def apply_transform(
    df: Any,
    lfset: LFSet,
    id_col: str,
    *,
    on_error: OnError = "raise",
    error_counter: LFErrorCounter | None = None,
    carry: Sequence[str] = (),
    time_counter: LFErrorCounter | None = None,
    max_ms_per_row: float | None = None,
    constants: dict[str, str] | None = None,
    report: bool = False,
) -> tuple[Any, Any]:
    """Applying LFs as a :class:`~wsup_spark.io.base.BatchTransform` over ``src``.

    ``src.mapInArrow(t.fn, t.schema)`` is :func:`apply_lfs`'s result; ``write_table(src, ...,
    transform=t)`` runs the LFs inside the write tasks instead (one Python stage). Parameters as
    :func:`apply_lfs`, plus ``constants``: string columns of one value appended after the carried
    columns, and ``report``: each task leaves its per-LF failure counts and seconds in
    :data:`TASK_REPORTS` for a :class:`~wsup_spark.spark.stats.VotesTap` on the same write to
    pick up (exact per committed attempt, unlike accumulators).

    Returns
    -------
    (src, BatchTransform)
    """
    lfs = list(lfset.lfs)
    cardinality = lfset.cardinality
    if id_col not in df.columns:
        raise DataError(
            f"id column {id_col!r} is not in the corpus; columns are {df.columns}. Set "
            "source.id_col to a stable unique row id column"
        )
    check_columns(lfs, df.columns, hidden=carry)  # carried (gold) columns: not for LFs
    missing = [c for c in carry if c not in df.columns]
    if missing:
        raise DataError(f"column(s) {missing} to carry into the votes are not in the corpus")
    needed = required_columns(lfs)
    cols = df.columns if needed is None else [id_col, *sorted(needed - {id_col})]
    cols += [c for c in carry if c not in cols]
    src = df.select(*cols)
    schema: StructType = votes_schema(src.schema[id_col].dataType, cardinality)
    for c in carry:
        schema = schema.add(src.schema[c])
    consts = dict(constants or {})
    schema = add_constant_fields(schema, consts)
    carry = list(carry)
    lf_list = lfs
    acc = error_counter.accumulator if error_counter is not None else None
    tacc = time_counter.accumulator if time_counter is not None else None

    def apply_partition(batches: Iterator[Any]) -> Iterator[Any]:
        errors: dict[str, int] = {}
        seconds: dict[str, float] = {}
        for batch in batches:
            L = apply_lfs_to_batch(batch, lf_list, cardinality, id_col, on_error, errors,
                                   seconds, max_ms_per_row, hidden=carry)  # fmt: skip
            out = votes_to_arrow(batch.column(id_col), L)
            for c in carry:
                out = out.append_column(c, batch.column(c))
            yield append_constants(out, consts)
        if report:
            record_task_report(errors, seconds)
        if acc is not None and errors:
            acc.add(errors)
        if tacc is not None and seconds:
            tacc.add(seconds)

    return src, BatchTransform(apply_partition, schema)


def apply_lfs(
    df: Any,
    lfs: Sequence[LabelingFunction],
    id_col: str,
    cardinality: int,
    *,
    on_error: OnError = "raise",
    error_counter: LFErrorCounter | None = None,
    carry: Sequence[str] = (),
    time_counter: LFErrorCounter | None = None,
    max_ms_per_row: float | None = None,
) -> Any:
    """Apply LFs to every row of ``df``.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The corpus; must contain ``id_col`` and every column the LFs declare.
    lfs : sequence of LabelingFunction
        m LFs with unique names; the votes array follows this order.
    id_col : str
        A stable row id column (renamed ``id`` in the output).
    cardinality : int
        Number of classes k.
    on_error : {"raise", "abstain"}
        LF failure policy (see :mod:`wsup_spark.lf.kernel`).
    error_counter : LFErrorCounter, optional
        Receives per-LF failure counts under ``on_error="abstain"``.
    time_counter : LFErrorCounter, optional
        Receives per-LF wall seconds (same dict-sum accumulator).
    max_ms_per_row : float, optional
        Slow-LF guard (see :func:`wsup_spark.lf.kernel.apply_lfs_to_batch`).
    carry : sequence of str
        Corpus columns passed through unchanged after ``votes`` (e.g. a gold-label column).

    Returns
    -------
    pyspark.sql.DataFrame
        ``(id, votes, *carry)``, lazily evaluated; one row per input row.
    """
    src, t = apply_transform(df, LFSet.of(lfs, cardinality), id_col, on_error=on_error,
                             error_counter=error_counter, carry=carry, time_counter=time_counter,
                             max_ms_per_row=max_ms_per_row)  # fmt: skip
    return src.mapInArrow(t.fn, t.schema)
