"""Executor side of the delta-rs writer: one ``mapInArrow`` task writes one Parquet data file.

The task streams its Arrow batches into ``part-<run tag>-<write id>-p<partition>-a<attempt>-
t<task attempt id>.<codec>.parquet`` in the table folder (nothing for an empty partition), feeds
each batch to the optional tap, and yields one :data:`FILE_META_SCHEMA` row for the driver. The
name is unique per task attempt, so retried and speculative attempts never overwrite each other's
files; the driver commits only the files of the attempts Spark kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from wsup_spark.errors import DataError
from wsup_spark.io.base import Tap
from wsup_spark.io.file_stats import FileStats

logger = logging.getLogger(__name__)

ROW_GROUP_BYTES = 64 * 1024 * 1024
COMPRESSION = "snappy"
FILE_META_DDL = (
    "path string, size long, num_rows long, stats string, tap binary, partition_id int, "
    "attempt int, modification_time long"
)
FILE_META_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("num_rows", pa.int64()),
        ("stats", pa.string()),
        ("tap", pa.binary()),
        ("partition_id", pa.int32()),
        ("attempt", pa.int32()),
        ("modification_time", pa.int64()),
    ]
)


@dataclass(frozen=True)
class TaskSpec:
    """Plain, picklable values a write task needs (no session, no driver objects)."""

    table_uri: str
    prefix: str
    schema: pa.Schema
    tap_factory: Callable[[], Tap] | None = None
    compression: str = COMPRESSION
    transform: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] | None = None


def write_partition(spec: TaskSpec, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: write this partition's batches into one Parquet file.

    Yields one :data:`FILE_META_SCHEMA` row, or nothing for an empty partition. On any error the
    partial file is deleted (best effort) and the error propagates, failing the task.
    """
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs
    from pyspark import TaskContext

    ctx = TaskContext.get()
    pid = ctx.partitionId() if ctx else 0
    attempt = ctx.attemptNumber() if ctx else 0
    task_id = ctx.taskAttemptId() if ctx else 0
    name = f"{spec.prefix}-p{pid:05d}-a{attempt}-t{task_id}.{spec.compression}.parquet"
    fs, root = pafs.FileSystem.from_uri(spec.table_uri)
    full = f"{root.rstrip('/')}/{name}"
    sink: Any = None
    writer: Any = None
    tap = None
    stats = FileStats(spec.schema)
    buf: list[pa.RecordBatch] = []
    buffered = 0
    if spec.transform is not None:  # fused mapInArrow step (see io.base.BatchTransform)
        batches = spec.transform(batches)
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if writer is None:
                fs.create_dir(root, recursive=True)
                sink = fs.open_output_stream(full)
                writer = pq.ParquetWriter(sink, spec.schema, compression=spec.compression)
                tap = spec.tap_factory() if spec.tap_factory is not None else None
            if tap is not None:
                tap.update(batch)
            out = _conform(batch, spec.schema)
            stats.update(out)
            buf.append(out)
            buffered += out.nbytes
            if buffered >= ROW_GROUP_BYTES:
                writer.write_table(pa.Table.from_batches(buf, spec.schema))
                buf, buffered = [], 0
        if writer is None:
            return
        if buf:
            writer.write_table(pa.Table.from_batches(buf, spec.schema))
        writer.close()
        size = sink.tell()
        sink.close()
    except BaseException:
        for closable in (writer, sink):
            try:
                if closable is not None:
                    closable.close()
            except Exception:
                pass
        if writer is not None:
            try:
                fs.delete_file(full)
            except Exception:
                pass
        raise
    row = {
        "path": name,
        "size": size,
        "num_rows": stats.num_records,
        "stats": stats.to_json(),
        "tap": tap.finish() if tap is not None else None,
        "partition_id": pid,
        "attempt": attempt,
        "modification_time": int(time.time() * 1000),
    }
    yield pa.RecordBatch.from_pylist([row], schema=FILE_META_SCHEMA)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s types and nullability (same columns, same order)."""
    if batch.schema.equals(schema):
        return batch
    if batch.schema.names != schema.names:
        raise DataError(
            f"a write task got columns {batch.schema.names}, expected {schema.names}; the "
            "DataFrame changed between planning and execution"
        )
    table = pa.Table.from_batches([batch]).cast(schema)
    return table.combine_chunks().to_batches()[0]
