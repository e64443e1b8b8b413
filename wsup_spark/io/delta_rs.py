"""The delta-rs writer: Spark tasks write Parquet files, the driver commits one Delta transaction.

Each task of ``df.mapInArrow`` streams its Arrow batches into ONE Parquet file in the table folder
(:mod:`wsup_spark.io.write_task`; empty partitions write nothing) and yields one row: the file's
relative path, size, row count, Delta statistics and the task's tap bytes. The driver collects
those rows (one per partition), checks every file (exists, size, row count, schema), and commits
them with deltalake's transaction API.
Readers see either the previous version or the whole write, never part of it.

Idempotency (append mode): the commit records the run in a Delta ``txn`` action
(``appId = "wsup_spark:<run_id>"``). Writing a run id the table already holds *replaces* that run's
earlier files in the same commit (remove + add), so a rerun never duplicates rows and the table
holds the rerun's output.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from wsup_spark.errors import DataError, WriteError, error_cause
from wsup_spark.io.base import (
    RUN_ID_KEY,
    WRITE_ID_KEY,
    BatchTransform,
    Tap,
    WriteResult,
    app_id,
    job_description,
    normalize_table_uri,
    run_tag,
    user_metadata_json,
)
from wsup_spark.io.schemas import (
    check_column_names,
    delta_schema,
    delta_schema_json,
    describe_schema_difference,
    nullable_schema,
    spark_to_arrow_schema,
    table_arrow_schema,
)
from wsup_spark.io.write_task import (
    CLOSED,
    FENCE_DIR,
    FILE_META_DDL,
    TaskSpec,
    close_and_clean,
    sweep_tombstones,
    write_partition,
)

logger = logging.getLogger(__name__)


#: Buffered bytes per task before a row group is flushed (bounds task memory).
def _open(uri: str, version: int | None = None) -> Any:
    """The ``DeltaTable`` at ``uri``, or None when no Delta table exists there."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(uri):
        return None
    return DeltaTable(uri, version=version)


def write_delta_rs(
    df: Any,
    uri: str,
    *,
    run_id: str,
    mode: str,
    user_meta: dict[str, Any],
    tap_factory: Callable[[], Tap] | None,
    description: str,
    transform: BatchTransform | None = None,
) -> WriteResult:
    """Write ``df`` to the Delta table at ``uri`` (normalised) with the delta-rs writer.

    See :func:`wsup_spark.io.delta.write_table` for the contract.
    """
    spark = df.sparkSession
    tz = spark.conf.get("spark.sql.session.timeZone", "UTC") or "UTC"
    out_schema = df.schema if transform is None else transform.schema
    check_column_names(out_schema.names, uri)
    schema = nullable_schema(spark_to_arrow_schema(out_schema, tz))
    before = _open(uri)
    start_version = None if before is None else before.version()
    if before is not None:
        _check_target(before, uri, schema, mode)
    sweep_tombstones(uri)
    write_id = uuid.uuid4().hex[:12]
    prefix = f"part-{run_tag(run_id)}-{write_id}"
    spec = TaskSpec(uri, prefix, schema, tap_factory,
                    transform=transform.fn if transform is not None else None)  # fmt: skip
    try:
        with job_description(spark, description):
            rows = df.mapInArrow(functools.partial(write_partition, spec), FILE_META_DDL).collect()
    except BaseException as e:
        removed = close_and_clean(uri, prefix)
        if not isinstance(e, Exception):
            raise
        state = "did not exist" if start_version is None else f"stays at version {start_version}"
        raise WriteError(
            f"writing Delta table {uri} (run_id={run_id!r}) failed in the Spark job; nothing was "
            f"committed and the table {state}; removed {len(removed)} partial data file(s). "
            f"Fix the cause and rerun with the same run_id. Cause: {error_cause(e)}"
        ) from e
    rows = sorted(rows, key=lambda r: r["partition_id"])
    if mode == "add" and not rows and start_version is not None:
        close_and_clean(uri, prefix)
        logger.info("nothing to add to %s (run %s): no commit", uri, run_id)
        return WriteResult(path=uri, version=start_version, num_rows=0, num_files=0, files=[],
                           taps=[] if tap_factory is not None else None, writer="delta-rs")
    try:
        _validate(uri, rows, schema)
        version, removed_files = _commit(uri, rows, schema, mode, run_id, user_meta, write_id)
    except BaseException:
        close_and_clean(uri, prefix)
        raise
    committed = {r["path"] for r in rows}
    close_and_clean(uri, prefix, keep=committed)  # files of failed or speculative task attempts
    num_rows = sum(int(r["num_rows"]) for r in rows)
    logger.info(
        "committed %s version %d: %d rows in %d files (run %s, %s, replaced %d files)",
        uri, version, num_rows, len(rows), run_id, mode, len(removed_files),
    )  # fmt: skip
    taps = [bytes(r["tap"]) for r in rows] if tap_factory is not None else None
    return WriteResult(
        path=uri, version=version, num_rows=num_rows, num_files=len(rows),
        files=[r["path"] for r in rows], taps=taps, writer="delta-rs",
        removed_files=removed_files,
    )  # fmt: skip


def _check_target(dt: Any, uri: str, schema: pa.Schema, mode: str) -> None:
    """Refuse, before any Spark work, writes the table cannot take."""
    parts = list(dt.metadata().partition_columns)
    if parts:
        raise DataError(
            f"Delta table {uri} is partitioned by {parts}; the delta-rs writer writes "
            "unpartitioned tables only. Write to a new path, or use writer='spark' on a session "
            "with Delta configured"
        )
    if mode in ("append", "add"):
        current = table_arrow_schema(dt)
        if delta_schema_json(current) != delta_schema_json(schema):
            raise DataError(
                f"cannot append to Delta table {uri}: the DataFrame's schema differs from the "
                f"table's ({describe_schema_difference(current, schema)}). Select/cast the "
                "columns to the table's schema, or write with mode='overwrite' to replace the "
                "table and its schema"
            )


def _validate(uri: str, rows: list[Any], schema: pa.Schema) -> None:
    """Every reported file exists with its size, row count and schema (deltalake checks none)."""
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs

    if not rows:
        return
    fs, root = pafs.FileSystem.from_uri(uri)
    paths = [f"{root.rstrip('/')}/{r['path']}" for r in rows]
    for row, info in zip(rows, fs.get_file_info(paths), strict=True):
        if info.type != pafs.FileType.File:
            raise WriteError(
                f"data file {row['path']} written by partition {row['partition_id']} is missing "
                f"from {uri}; nothing was committed. Either the path is local to the driver while "
                "executors run on other machines (use a shared filesystem or an object-store "
                "URI), or another process deleted the file (vacuum?)"
            )
        if info.size != row["size"]:
            raise WriteError(
                f"data file {row['path']} in {uri} is {info.size} bytes, but its task wrote "
                f"{row['size']}; nothing was committed. Rerun the write"
            )
    expected = delta_schema_json(schema)

    def footer(path: str) -> tuple[int, str]:
        md = pq.read_metadata(path, filesystem=fs)
        return md.num_rows, delta_schema_json(md.schema.to_arrow_schema())

    with ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
        footers = list(pool.map(footer, paths))
    for row, (n, got) in zip(rows, footers, strict=True):
        if n != row["num_rows"] or got != expected:
            raise WriteError(
                f"data file {row['path']} in {uri} has {n} rows and schema {got}, expected "
                f"{row['num_rows']} rows and {expected}; nothing was committed. Rerun the write"
            )


def _commit(
    uri: str,
    rows: list[Any],
    schema: pa.Schema,
    mode: str,
    run_id: str,
    user_meta: dict[str, Any],
    write_id: str,
) -> tuple[int, list[str]]:
    """Commit ``rows``' files as one Delta transaction; return (version, replaced files)."""
    from deltalake.transaction import (
        AddAction,
        CommitProperties,
        Transaction,
        create_table_with_add_actions,
    )

    now = int(time.time() * 1000)
    adds = [
        AddAction(r["path"], int(r["size"]), {}, int(r["modification_time"]), True, r["stats"])
        for r in rows
    ]
    custom = {
        "userMetadata": user_metadata_json(user_meta),
        RUN_ID_KEY: run_id,
        WRITE_ID_KEY: write_id,
    }
    dt = _open(uri)
    txn_version = now
    if dt is not None:
        previous = dt.transaction_version(app_id(run_id))
        if previous is not None:
            txn_version = max(now, int(previous) + 1)
    props = CommitProperties(
        custom_metadata=custom, app_transactions=[Transaction(app_id(run_id), txn_version)]
    )
    removes: list[Any] = []
    if dt is not None and mode == "append" and dt.transaction_version(app_id(run_id)) is not None:
        removes = _run_files(dt, uri, run_id, now)  # a DataError here is the user's to see
    try:
        if dt is None:
            create_table_with_add_actions(
                uri, delta_schema(schema), adds, mode="error", commit_properties=props
            )
            return _find_commit(uri, write_id, 0), []
        dt.create_write_transaction(
            [*adds, *removes], mode="overwrite" if mode == "overwrite" else "append",
            schema=delta_schema(schema), commit_properties=props,
        )
    except Exception as e:
        raise WriteError(
            f"committing {len(adds)} data file(s) to Delta table {uri} (run_id={run_id!r}) "
            f"failed; nothing was committed. A concurrent writer may have changed the table; "
            f"rerun the write. Cause: {error_cause(e)}"
        ) from e
    return _find_commit(uri, write_id, dt.version() + 1), [r.path for r in removes]


def _run_files(dt: Any, uri: str, run_id: str, now: int) -> list[Any]:
    """Remove actions for the files an earlier commit of ``run_id`` added to the table."""
    from deltalake.transaction import RemoveAction

    actions = pa.table(dt.get_add_actions(flatten=True))
    tag = f"part-{run_tag(run_id)}-"
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    names = actions.column_names
    lo = actions.column("min.run_id").to_pylist() if "min.run_id" in names else [None] * len(paths)
    hi = actions.column("max.run_id").to_pylist() if "max.run_id" in names else [None] * len(paths)
    old = []
    for p, s, a, b in zip(paths, sizes, lo, hi, strict=True):
        if os.path.basename(p).startswith(tag) or (a == run_id and b == run_id):
            old.append((p, s))  # ours by name, or written by another writer (Spark's) for the run
        elif a is not None and b is not None and a <= run_id <= b:
            raise DataError(
                f"Delta table {uri}: data file {p} holds rows of several runs ({a!r} .. {b!r}), "
                f"run {run_id!r} among them possibly, and the delta-rs writer replaces whole "
                "files only; rerun this run with output.writer=spark (replaceWhere), or with a "
                "new run_id, or write in overwrite mode"
            )
    if not old:
        logger.warning(
            "Delta table %s records run %r but holds none of its files (overwritten, or "
            "compacted into other files); if its rows are still there the rerun adds them again",
            uri, run_id,
        )  # fmt: skip
    else:
        logger.info("run %r is already in %s: replacing its %d files", run_id, uri, len(old))
    return [RemoveAction(p, True, now, int(s), {}) for p, s in old]


def sweep_orphans(uri: str) -> int:
    """Remove what crashed drivers left in the table folder at ``uri``; returns how many writes.

    A write whose fence has no ``CLOSED`` marker was cut off with its driver. When its write id is
    in no commit of the table, its data files were never committed: they and the fence go. When
    it did commit (the driver died during cleanup), only the fence goes; files of its failed task
    attempts stay until ``VACUUM``. Call it only while no other writer can write to this table
    (the pipeline does, holding the output path's claim in the run manifest).
    """
    from pyarrow import fs as pafs

    uri = normalize_table_uri(uri)
    fs, root = pafs.FileSystem.from_uri(uri)
    fences = fs.get_file_info(pafs.FileSelector(f"{root}/{FENCE_DIR}", allow_not_found=True))
    open_ = [f for f in fences if fs.get_file_info(f"{f.path}/{CLOSED}").type
             == pafs.FileType.NotFound]  # fmt: skip
    if not open_:
        return 0
    dt = _open(uri)
    committed = {str(e.get(WRITE_ID_KEY)) for e in dt.history()} if dt is not None else set()
    for fence in open_:
        prefix = fence.base_name
        if prefix.rsplit("-", 1)[-1] not in committed:
            n = len(close_and_clean(uri, prefix, wait_s=0.0))
            logger.warning("removed %d uncommitted file(s) of crashed write %s from %s", n,
                           prefix, uri)  # fmt: skip
        fs.delete_dir(fence.path)
    return len(open_)


def _find_commit(uri: str, write_id: str, at_least: int) -> int:
    """Version of the commit carrying ``write_id`` (a concurrent commit may have come first)."""
    dt = _open(uri)
    latest = int(dt.version())
    for entry in dt.history(max(1, latest - at_least + 1)):
        if entry.get(WRITE_ID_KEY) == write_id:
            return int(entry["version"])
    return latest
