"""Executor side of the delta-rs writer: one ``mapInArrow`` task writes one Parquet data file.

The task streams its Arrow batches into ``part-<run tag>-<write id>-p<partition>-a<attempt>-
t<task attempt id>.<codec>.parquet`` in the table folder (nothing for an empty partition), feeds
each batch to the optional tap, and yields one :data:`FILE_META_SCHEMA` row for the driver. The
name is unique per task attempt, so retried and speculative attempts never overwrite each other's
files; the driver commits only the files of the attempts Spark kept.

Cleanup is correct under every interleaving of the driver and still-running tasks (a failed job's
sibling tasks, losing speculative attempts) thanks to a small fence in
``<table>/_wsup_writes/<prefix>/``: each task holds a ``running-*`` marker while it writes, and
checks for the driver's ``CLOSED`` marker before it creates its file and after it closed it — a
task that sees ``CLOSED`` deletes its own file. The driver (:func:`close_and_clean`) writes
``CLOSED``, waits until the running markers are gone (bounded: a killed Python worker never removes
its marker), then deletes every file of the write it does not keep. A file finished before the
driver listed the folder is deleted by the driver; one finished after it is deleted by its task;
a task launched but not yet started sees ``CLOSED`` and writes nothing. ``CLOSED`` therefore stays
as a small tombstone; later writes sweep tombstones older than a day.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from wsup_spark.errors import DataError, WriteError
from wsup_spark.io.base import Tap
from wsup_spark.io.file_stats import FileStats

logger = logging.getLogger(__name__)

FENCE_DIR = "_wsup_writes"
CLOSED = "CLOSED"
CLEANUP_WAIT_S = 20.0  # how long the driver waits for running tasks before it cleans up anyway
TOMBSTONE_TTL_S = 24 * 3600.0  # closed writes' markers older than this are swept
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

    Yields one :data:`FILE_META_SCHEMA` row, or nothing for an empty partition or a write the
    driver closed. On any error the partial file is deleted (best effort) and the error
    propagates, failing the task. The task holds a ``running-*`` marker in the write's fence
    folder from its start to its end (see the module docstring).
    """
    from pyarrow import fs as pafs
    from pyspark import TaskContext

    ctx = TaskContext.get()
    pid = ctx.partitionId() if ctx else 0
    attempt = ctx.attemptNumber() if ctx else 0
    task_id = ctx.taskAttemptId() if ctx else 0
    tag = f"p{pid:05d}-a{attempt}-t{task_id}"
    fs, root = pafs.FileSystem.from_uri(spec.table_uri)
    fence = fence_path(root, spec.prefix)
    marker = f"{fence}/running-{tag}"
    fs.create_dir(fence, recursive=True)
    fs.open_output_stream(marker).close()
    try:
        if _closed(fs, fence):
            raise WriteError(
                f"write {spec.prefix} was closed by the driver (its job failed or this is a "
                "losing speculative attempt); this task writes nothing"
            )
        row = _write_file(spec, batches, fs, root, f"{spec.prefix}-{tag}", fence)
    finally:
        try:
            fs.delete_file(marker)
        except Exception:
            pass
    if row is not None:
        row.update(partition_id=pid, attempt=attempt)
        yield pa.RecordBatch.from_pylist([row], schema=FILE_META_SCHEMA)


def _write_file(
    spec: TaskSpec,
    batches: Iterator[pa.RecordBatch],
    fs: Any,
    root: str,
    stem: str,
    fence: str,
) -> dict[str, Any] | None:
    """Stream ``batches`` into ``<root>/<stem>.<codec>.parquet``; its metadata row, or ``None``
    when there was nothing to write or the driver closed the write meanwhile (file deleted)."""
    import pyarrow.parquet as pq

    name = f"{stem}.{spec.compression}.parquet"
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
            return None
        if buf:
            writer.write_table(pa.Table.from_batches(buf, spec.schema))
        writer.close()
        size = sink.tell()
        sink.close()
        if _closed(fs, fence):  # the driver gave up on this write and may have listed already
            fs.delete_file(full)
            return None
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
    return {
        "path": name,
        "size": size,
        "num_rows": stats.num_records,
        "stats": stats.to_json(),
        "tap": tap.finish() if tap is not None else None,
        "modification_time": int(time.time() * 1000),
    }


def fence_path(root: str, prefix: str) -> str:
    """The fence folder of the write ``prefix`` in the table folder ``root``."""
    return f"{root.rstrip('/')}/{FENCE_DIR}/{prefix}"


def _closed(fs: Any, fence: str) -> bool:
    from pyarrow import fs as pafs

    return bool(fs.get_file_info(f"{fence}/{CLOSED}").type != pafs.FileType.NotFound)


def close_and_clean(
    table_uri: str, prefix: str, keep: set[str] | None = None, wait_s: float = CLEANUP_WAIT_S
) -> list[str]:
    """Driver side: close the write ``prefix``, wait for its running tasks, delete its files.

    Deletes the files named ``prefix*`` in the table folder that are not in ``keep`` (``None``:
    all) and returns their names. The ``CLOSED`` marker stays as a tombstone, so that a task of
    this write that Spark had launched but not yet started still writes nothing; tombstones older
    than :data:`TOMBSTONE_TTL_S` are swept by later writes (:func:`sweep_tombstones`). Best
    effort: errors are logged, never raised.
    """
    from pyarrow import fs as pafs

    removed: list[str] = []
    try:
        fs, root = pafs.FileSystem.from_uri(table_uri)
        fence = fence_path(root, prefix)
        fs.create_dir(fence, recursive=True)
        fs.open_output_stream(f"{fence}/{CLOSED}").close()
        deadline = time.monotonic() + wait_s
        while running := [
            i.base_name
            for i in fs.get_file_info(pafs.FileSelector(fence, allow_not_found=True))
            if i.base_name.startswith("running-")
        ]:
            if time.monotonic() >= deadline:
                logger.warning(
                    "%d task(s) of write %s still hold a marker after %.0f s (a killed Python "
                    "worker leaves one); cleaning up anyway",
                    len(running), prefix, wait_s,
                )  # fmt: skip
                for name in running:  # a task still alive sees CLOSED and deletes its own file
                    fs.delete_file(f"{fence}/{name}")
                break
            time.sleep(0.05)
        removed = _delete_prefixed(fs, root, prefix, keep)
    except Exception as e:
        logger.warning("could not clean up write %s in %s: %s", prefix, table_uri, e)
    if removed:
        logger.info("removed %d uncommitted files %s* from %s", len(removed), prefix, table_uri)
    return removed


def sweep_tombstones(table_uri: str, ttl_s: float = TOMBSTONE_TTL_S) -> int:
    """Remove the fence folders of closed writes older than ``ttl_s`` (with any file of theirs
    a task still left behind); returns how many. Called at the start of each write."""
    from pyarrow import fs as pafs

    swept = 0
    try:
        fs, root = pafs.FileSystem.from_uri(table_uri)
        base = f"{root.rstrip('/')}/{FENCE_DIR}"
        now = time.time()
        for info in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
            closed = fs.get_file_info(f"{info.path}/{CLOSED}")
            if closed.type == pafs.FileType.NotFound or closed.mtime is None:
                continue  # a live write, or a crashed driver's: not ours to judge here
            if now - closed.mtime.timestamp() < ttl_s:
                continue
            _delete_prefixed(fs, root, info.base_name, None)
            fs.delete_dir(info.path)
            swept += 1
    except Exception as e:
        logger.warning("could not sweep old write markers in %s: %s", table_uri, e)
    return swept


def _delete_prefixed(fs: Any, root: str, prefix: str, keep: set[str] | None) -> list[str]:
    from pyarrow import fs as pafs

    removed: list[str] = []
    for info in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
        if info.type == pafs.FileType.File and info.base_name.startswith(prefix):
            if keep is None or info.base_name not in keep:
                fs.delete_file(info.path)
                removed.append(info.base_name)
    return removed


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
