"""One distributed reduction: a small partial per partition (numpy on Arrow batches), combined
by a tree reduction, so the driver receives one merged value and nothing n-sized.

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
        ``treeReduce`` depth.
    """

    def per_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield pa.RecordBatch.from_arrays([pa.array([partial(batches)], pa.binary())], ["partial"])

    with job_description(df.sparkSession, description):
        parts = df.mapInArrow(per_partition, _SCHEMA).rdd.map(lambda row: decode(bytes(row[0])))
        if parts.getNumPartitions() == 0:
            return zero()
        return parts.treeReduce(merge, depth=depth)  # type: ignore[no-any-return]
