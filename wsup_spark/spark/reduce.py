"""One distributed reduction: a small partial per partition (numpy on Arrow batches), combined
in two levels, so the driver receives a few partials and nothing n-sized.

DataFrame APIs only (Spark Connect has no RDDs): ``mapInArrow`` makes one partial per partition,
``repartition(groups)`` gathers them into a few tasks that merge theirs (a second ``mapInArrow``),
and the driver merges those ``groups`` partials. The merge must be associative and commutative;
for the exact integer counts of the LF statistics the result does not depend on the order.

Used for the LF statistics (:func:`~wsup_spark.spark.stats.compute_stats`) and the gold
diagnostics of the report (:func:`~wsup_spark.analysis.diagnostics.gold_diagnostics`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pyarrow as pa
from pyspark.sql.types import BinaryType, StructField, StructType

from wsup_spark.io.base import job_description

T = TypeVar("T")

_SCHEMA = StructType([StructField("partial", BinaryType(), False)])


def reduce_partitions(
    df: Any,
    partial: Callable[[Iterator[pa.RecordBatch]], bytes],
    decode: Callable[[bytes], T],
    merge: Callable[[T, T], T],
    zero: Callable[[], T],
    description: str,
    depth: int = 2,
    encode: Callable[[T], bytes] | None = None,
    groups: int = 16,
) -> T:
    """``merge`` over the partitions of ``df`` of ``decode(partial(batches))``.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Select only the columns ``partial`` reads before calling.
    partial : picklable ``Iterator[RecordBatch] -> bytes``
        One partition's summary, serialised (runs in the Python workers).
    decode, merge, zero
        Bytes → value, an associative and commutative merge, and its identity (empty input).
    description : str
        Spark job description (Spark UI).
    depth : int
        Kept for compatibility: 1 merges every partition's partial on the driver.
    encode : value → bytes, optional
        Inverse of ``decode``; with it, partials are first merged in ``groups`` tasks (so the
        driver holds ``groups`` partials, not one per partition).
    groups : int
        Number of merge tasks of the first level.
    """
    if depth <= 1:
        groups = 1

    def per_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield pa.RecordBatch.from_arrays([pa.array([partial(batches)], pa.binary())], ["partial"])

    def merge_group(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        assert encode is not None
        acc: Any = None
        for b in batches:
            for raw in b.column(0).to_pylist():
                value = decode(bytes(raw))
                acc = value if acc is None else merge(acc, value)
        if acc is not None:
            yield pa.RecordBatch.from_arrays([pa.array([encode(acc)], pa.binary())], ["partial"])

    with job_description(df.sparkSession, description):
        parts = df.mapInArrow(per_partition, _SCHEMA)
        if encode is not None and groups > 1:
            parts = parts.repartition(groups).mapInArrow(merge_group, _SCHEMA)
        rows = parts.collect()
    result: T = zero()
    for row in rows:
        result = merge(result, decode(bytes(row[0])))
    return result
