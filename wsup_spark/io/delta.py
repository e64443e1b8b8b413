"""Write Spark DataFrames to Delta tables and read them back.

Two writers, chosen by ``writer="auto"``:

* ``"delta-rs"`` (the default wherever Spark has no Delta jars): Spark tasks write Parquet files
  into the table folder and the driver commits them as ONE Delta transaction with deltalake
  (:mod:`wsup_spark.io.delta_rs`). Supports taps (a per-task summary computed in the same pass).
* ``"spark"`` (when ``delta_configured(spark)``): Spark's own ``format("delta")``
  (:mod:`wsup_spark.io.delta_spark`).

Every write records its run: ``userMetadata`` is the JSON of ``metadata`` + ``run_id`` + ``writer``
(Spark and Databricks show it in ``DESCRIBE HISTORY``), and :func:`commit_history` parses it back.

Rerunning a run id (append mode) replaces that run's earlier rows in the same commit instead of
adding them twice; the table then holds the rerun's output. Overwrite mode replaces the whole table
(and its schema) whatever the run id.

Reads without Delta jars resolve the version's data files with deltalake and read them with Spark
(:func:`read_table`) or pyarrow (:func:`read_arrow`); deltalake's own readers are avoided because
they can abort the interpreter at exit.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable
from pyarrow import fs as pafs

from wsup_spark.errors import ConfigError, DataError
from wsup_spark.io.base import (
    MODES,
    RUN_ID_KEY,
    WRITERS,
    BatchTransform,
    Tap,
    WriteResult,
    check_run_id,
    normalize_table_uri,
    user_metadata,
)
from wsup_spark.io.delta_rs import write_delta_rs
from wsup_spark.io.delta_spark import write_spark_delta
from wsup_spark.io.files import as_uri
from wsup_spark.io.schemas import arrow_to_spark_schema, table_arrow_schema

logger = logging.getLogger(__name__)

__all__ = [
    "BatchTransform",
    "Tap",
    "WriteResult",
    "commit_history",
    "delta_configured",
    "read_arrow",
    "read_table",
    "resolve_writer",
    "restore_table",
    "table_files",
    "table_version",
    "write_table",
]


def write_table(
    df: Any,
    path: str,
    *,
    run_id: str,
    mode: str = "append",
    metadata: Mapping[str, Any] | None = None,
    writer: str = "auto",
    tap_factory: Callable[[], Tap] | None = None,
    description: str | None = None,
    transform: BatchTransform | None = None,
) -> WriteResult:
    """Write ``df`` to the Delta table at ``path`` as one commit.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Rows to write; its schema becomes the table's (every column nullable).
    path : str
        Table location: a local path or a URI pyarrow and deltalake understand (``s3://``,
        ``gs://``, ``abfss://``, ...). Created when absent.
    run_id : str
        Id of the run producing the rows. Recorded in the commit; rerunning the same id in
        append mode replaces that run's earlier rows instead of duplicating them.
    mode : {"append", "overwrite", "add"}
        ``"overwrite"`` replaces every row and the schema; ``"append"`` requires the table's schema
        (and replaces the rows an earlier write of ``run_id`` added); ``"add"`` appends and
        replaces nothing (incremental runs adding new rows).
    metadata : mapping, optional
        JSON-serialisable values stored in the commit's ``userMetadata`` (NaN/inf become null).
    writer : {"auto", "delta-rs", "spark"}
        ``"auto"`` is ``"spark"`` when the session has Delta configured, else ``"delta-rs"``.
    tap_factory : callable, optional
        Picklable zero-argument callable returning a :class:`Tap`; each task feeds it every batch
        it writes. delta-rs writer only.
    description : str, optional
        Spark job description (Spark UI); defaults to ``"write Delta <path>"``.
    transform : BatchTransform, optional
        Write ``df.mapInArrow(transform.fn, transform.schema)`` instead of ``df``; the delta-rs
        writer runs it inside its write tasks (fused), the Spark writer as a plain
        ``mapInArrow``. Taps see the transformed batches.

    Returns
    -------
    WriteResult
        Version, row and file counts, the added files and the taps (one per non-empty partition).

    Raises
    ------
    ConfigError
        Bad ``mode``/``writer``/``run_id``/``metadata``, or taps asked of the ``"spark"`` writer.
    DataError
        Append with a schema that differs from the table's, or a partitioned target table.
    WriteError
        The Spark job or the commit failed; nothing was committed, written files were removed.
    """
    run_id = check_run_id(run_id)
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} for Delta table {path!r}; use one of {list(MODES)}")
    if writer not in WRITERS:
        raise ConfigError(f"writer={writer!r} for Delta table {path!r}; use one of {list(WRITERS)}")
    uri = normalize_table_uri(path)
    chosen = resolve_writer(df.sparkSession, writer)
    if chosen == "spark" and tap_factory is not None:
        raise ConfigError(
            f"tap_factory is not supported by the Spark Delta writer (table {uri}); use "
            "writer='delta-rs', or compute the summary from the written table"
        )
    meta = user_metadata(run_id, metadata, chosen)
    desc = description or f"write Delta {uri}"
    logger.info("writing Delta table %s (%s, run %s, writer %s)", uri, mode, run_id, chosen)
    if chosen == "spark":
        if transform is not None:
            df = df.mapInArrow(transform.fn, transform.schema)
        return write_spark_delta(
            df, uri, run_id=run_id, mode=mode, user_meta=meta, description=desc
        )
    return write_delta_rs(
        df, uri, run_id=run_id, mode=mode, user_meta=meta, tap_factory=tap_factory,
        description=desc, transform=transform,
    )  # fmt: skip


def resolve_writer(spark: Any, writer: str) -> str:
    """The writer ``writer="auto"`` stands for on this session: ``"spark"`` when Delta is
    configured on it (Databricks, clusters with the Delta jars), else ``"delta-rs"``."""
    if writer != "auto":
        return writer
    return "spark" if delta_configured(spark) else "delta-rs"


def delta_configured(spark: Any) -> bool:
    """True when the session has Delta Lake's Spark integration (Databricks or io.delta jars)."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return True
    values = []
    for key in ("spark.sql.extensions", "spark.sql.catalog.spark_catalog"):
        try:  # Spark Connect / shared clusters may refuse to read some keys
            values.append(spark.conf.get(key, "") or "")
        except Exception:
            logger.debug("cannot read %s from the session conf", key)
    return any("delta" in v.lower() for v in values)


# --------------------------------------------------------------------------- readers


def open_table(
    path: str, version: int | None = None, storage_options: Mapping[str, str] | None = None
) -> tuple[str, Any]:
    """(normalised uri, ``DeltaTable`` at ``version``) or :class:`DataError` naming the
    path/version. ``storage_options`` go to deltalake (object-store credentials)."""
    uri = normalize_table_uri(path)
    opts = dict(storage_options or {})
    if not DeltaTable.is_deltatable(uri, storage_options=opts or None):
        raise DataError(
            f"cannot open Delta table {uri}: it is not a Delta table (no _delta_log); check the "
            "path, or write it first with write_table"
        )
    try:
        return uri, DeltaTable(uri, version=version, storage_options=opts or None)
    except Exception as e:
        raise DataError(
            f"cannot load version {version} of Delta table {uri}: {e}; see commit_history() "
            "for the versions that exist (old ones may have been vacuumed)"
        ) from e


def check_plain_files(dt: Any, uri: str) -> None:
    """Refuse tables whose rows are not just the union of their Parquet files."""
    parts = list(dt.metadata().partition_columns)
    if parts:
        raise DataError(
            f"Delta table {uri} is partitioned by {parts}; its data files lack those columns. "
            "Read it with a Delta-configured Spark session"
        )
    cfg = dt.metadata().configuration or {}
    if (cfg.get("delta.columnMapping.mode") or "none") != "none":
        raise DataError(
            f"Delta table {uri} uses column mapping ({cfg['delta.columnMapping.mode']}); its "
            "Parquet column names are not the table's. Read it with a Delta-configured session"
        )
    features = dt.protocol().reader_features or []
    if "deletionVectors" in features:
        actions = pa.table(dt.get_add_actions(flatten=True))
        for name in actions.column_names:
            if "deletion" in name.lower() and actions.column(name).null_count < len(actions):
                raise DataError(
                    f"Delta table {uri} has deletion vectors; reading its files would bring "
                    "deleted rows back. Read it with a Delta-configured Spark session, or "
                    "purge them (REORG TABLE ... APPLY (PURGE))"
                )


def read_table(spark: Any, path: str, version: int | None = None) -> Any:
    """The Delta table at ``path`` (optionally at ``version``) as a Spark DataFrame.

    With Delta configured this is ``spark.read.format("delta")``; otherwise the version's data
    files are resolved with deltalake and read with ``spark.read.parquet`` using the table schema.
    """
    if delta_configured(spark):
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        return reader.load(normalize_table_uri(path))
    uri, dt = open_table(path, version)
    check_plain_files(dt, uri)
    schema = arrow_to_spark_schema(table_arrow_schema(dt))
    files = [as_uri(u) for u in dt.file_uris()]
    if not files:
        return spark.createDataFrame([], schema)
    check_files_exist(uri, int(dt.version()), files)
    return spark.read.schema(schema).parquet(*files)


def check_files_exist(uri: str, version: int, files: list[str]) -> None:
    """:class:`DataError` when data files of a local table's version are gone (deleted by hand,
    or vacuumed with a short retention). Object-store tables are not checked (one request per
    file); Spark's own error names the file there."""
    local = [f[len("file://"):] for f in files if f.startswith("file://")]
    missing = [f for f in local if not os.path.exists(f)]
    if missing:
        raise DataError(
            f"Delta table {uri} version {version} references {len(missing)} data file(s) that "
            f"do not exist (e.g. {os.path.basename(missing[0])}): deleted by hand, or vacuumed "
            "with a retention shorter than the version's age. Rerun `wsup run` to write the "
            "table again, or read another version"
        )


def read_arrow(path: str, version: int | None = None) -> pa.Table:
    """The Delta table at ``path`` (optionally at ``version``) as a pyarrow Table.

    Reads the version's files with ``pyarrow.dataset`` (never deltalake's own reader, which can
    abort the interpreter at exit).
    """
    uri, dt = open_table(path, version)
    check_plain_files(dt, uri)
    schema = table_arrow_schema(dt)
    files = list(dt.file_uris())
    if not files:
        return schema.empty_table()
    if "://" not in uri:
        check_files_exist(uri, int(dt.version()), [as_uri(f) for f in files])
        return ds.dataset(files, schema=schema, format="parquet").to_table()
    fs, root = pafs.FileSystem.from_uri(uri)
    base = uri.rstrip("/") + "/"
    outside = [f for f in files if not f.startswith(base)]
    if outside:
        raise DataError(
            f"Delta table {uri} references files outside its folder (e.g. {outside[0]}); read it "
            "with a Delta-configured Spark session"
        )
    rel = [f[len(base) :] for f in files]
    sub = pafs.SubTreeFileSystem(root, fs)
    return ds.dataset(rel, schema=schema, format="parquet", filesystem=sub).to_table()


def restore_table(spark: Any, path: str, version: int, writer: str = "auto") -> bool:
    """Put the Delta table at ``path`` back to the content of ``version`` (one new commit).

    Used to undo a run's commits when a later stage of the run fails, so the tables stay at the
    content the previous run left. Returns False (and writes nothing) when the table is still at
    ``version``. With Spark's Delta writer configured, runs ``RESTORE TABLE``; else deltalake's
    restore.
    """
    uri = normalize_table_uri(path)
    if table_version(uri) == version:
        return False
    logger.warning("restoring Delta table %s to version %d", uri, version)
    if resolve_writer(spark, writer) == "spark":
        quoted = uri.replace("`", "``")
        spark.sql(f"RESTORE TABLE delta.`{quoted}` TO VERSION AS OF {int(version)}")
    else:
        DeltaTable(uri).restore(int(version))
    return True


def table_version(path: str) -> int:
    """Latest version of the Delta table at ``path``."""
    return int(open_table(path)[1].version())


def table_files(path: str, version: int | None = None) -> list[str]:
    """Absolute URIs of the data files of ``version`` (default latest) of the table at ``path``.

    Resolve these in the parent process and hand them to readers (deltalake must not run in
    forked DataLoader workers).
    """
    uri, dt = open_table(path, version)
    check_plain_files(dt, uri)
    return list(dt.file_uris())


def commit_history(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Commits of the table at ``path``, oldest first.

    Returns
    -------
    list of dict
        ``version``, ``timestamp`` (ms), ``operation``, ``run_id`` (None for commits not made by
        :func:`write_table`), ``metadata`` (the parsed ``userMetadata`` object, or ``{}``) and
        ``info`` (the raw commit info).
    """
    _, dt = open_table(path)
    out = []
    for info in dt.history(limit):
        raw = info.get("userMetadata")
        meta: dict[str, Any] = {}
        if isinstance(raw, str) and raw:
            try:
                parsed = json.loads(raw)
                meta = parsed if isinstance(parsed, dict) else {"userMetadata": parsed}
            except ValueError:
                meta = {"userMetadata": raw}
        out.append(
            {
                "version": int(info["version"]),
                "timestamp": info.get("timestamp"),
                "operation": info.get("operation"),
                "run_id": info.get(RUN_ID_KEY, meta.get("run_id")),
                "metadata": meta,
                "info": info,
            }
        )
    return sorted(out, key=lambda c: c["version"])
