"""Types and helpers shared by the Delta writers: :class:`WriteResult`, :class:`Tap`, table URIs,
run tags and commit metadata."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from wsup_spark.errors import ConfigError
from wsup_spark.json_values import jsonable

logger = logging.getLogger(__name__)

#: Prefix of the Delta ``txn`` application id that records which runs a table holds.
APP_ID_PREFIX = "wsup_spark:"
#: Commit-info key holding the run id (the full user metadata is in ``userMetadata``, as JSON).
RUN_ID_KEY = "wsup_run_id"
#: Commit-info key holding the id of one :func:`~wsup_spark.io.delta.write_table` call.
WRITE_ID_KEY = "wsup_write_id"
#: ``add`` appends without replacing the run's earlier rows (incremental runs add new rows only).
MODES = ("append", "overwrite", "add")
WRITERS = ("auto", "delta-rs", "spark")


@dataclass(frozen=True)
class BatchTransform:
    """A ``mapInArrow`` step fused into the write: the rows written are
    ``df.mapInArrow(fn, schema)``.

    With the delta-rs writer ``fn`` runs inside each write task, so its output goes straight to
    Parquet instead of crossing back into the JVM and out again (one Python stage, not two).

    Attributes
    ----------
    fn : picklable ``Iterator[pyarrow.RecordBatch] -> Iterator[pyarrow.RecordBatch]``
    schema : the Spark ``StructType`` of what ``fn`` yields
    """

    fn: Any
    schema: Any


@runtime_checkable
class Tap(Protocol):
    """Sees every batch a write task writes and summarises them into bytes (e.g. LF statistics).

    One tap is built per task by the ``tap_factory`` given to
    :func:`~wsup_spark.io.delta.write_table`; ``finish`` is called once after the task's last batch.
    """

    def update(self, batch: pa.RecordBatch) -> None:
        """Consume one batch (the DataFrame's own Arrow types and column order)."""

    def finish(self) -> bytes:
        """The task's summary."""


@dataclass
class WriteResult:
    """What one :func:`~wsup_spark.io.delta.write_table` call committed.

    Attributes
    ----------
    path : str
        Table location as written (absolute local path or URI).
    version : int
        Delta version of the commit.
    num_rows : int
        Rows written by this call.
    num_files : int
        Data files added by this call.
    files : list of str
        Those files, relative to the table root (empty for the ``"spark"`` writer).
    taps : list of bytes or None
        One ``Tap.finish()`` per non-empty partition, in partition order; None without a
        ``tap_factory`` and always with the ``"spark"`` writer.
    writer : str
        ``"delta-rs"`` or ``"spark"``.
    removed_files : list of str
        Files of an earlier commit of the same run id that this commit replaced (append mode).
    """

    path: str
    version: int
    num_rows: int
    num_files: int
    files: list[str]
    taps: list[bytes] | None
    writer: str
    removed_files: list[str] = field(default_factory=list)


def normalize_table_uri(path: str) -> str:
    """Absolute local path (``file://`` stripped) or the URI unchanged, without trailing '/'.

    >>> normalize_table_uri("file:///tmp/t/")
    '/tmp/t'
    >>> normalize_table_uri("s3://bucket/t/")
    's3://bucket/t'
    """
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"table path must be a non-empty string, got {path!r}")
    p = path.strip()
    if p.startswith("file://"):
        p = p[len("file://") :]
    if "://" in p:
        return p.rstrip("/")
    return os.path.abspath(os.path.expanduser(p)).rstrip("/") or "/"


def app_id(run_id: str) -> str:
    """Delta ``txn`` application id recording ``run_id`` in a table."""
    return APP_ID_PREFIX + run_id


def run_tag(run_id: str) -> str:
    """File-name-safe tag for a run id: readable prefix + hash (distinct ids → distinct tags).

    >>> run_tag("2024-05-01 backfill")
    '2024-05-01_backfill-343523fb'
    """
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)[:40].strip("._") or "run"
    digest = hashlib.sha1(run_id.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


def check_run_id(run_id: Any) -> str:
    """``run_id`` if it is a non-empty string, else :class:`ConfigError`."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise ConfigError(
            f"run_id must be a non-empty string naming this run, got {run_id!r}; pass e.g. "
            "run_id='2024-05-01T12-00-00' (the pipeline's default_run_id())"
        )
    return run_id


def user_metadata(run_id: str, metadata: Mapping[str, Any] | None, writer: str) -> dict[str, Any]:
    """The JSON object stored as the commit's ``userMetadata``: ``metadata`` + run_id + writer."""
    meta = jsonable(dict(metadata or {}))
    if "run_id" in meta and meta["run_id"] != run_id:
        raise ConfigError(
            f"metadata['run_id']={meta['run_id']!r} disagrees with run_id={run_id!r}; drop the "
            "key from metadata (write_table records run_id itself)"
        )
    meta["run_id"] = run_id
    meta["writer"] = writer
    return meta  # type: ignore[no-any-return]


def user_metadata_json(meta: Mapping[str, Any]) -> str:
    """``meta`` as compact JSON (what Spark and Databricks show as ``userMetadata``)."""
    return json.dumps(meta, allow_nan=False, separators=(",", ":"), sort_keys=True)


@contextmanager
def job_description(spark: Any, description: str) -> Iterator[None]:
    """Show ``description`` for the Spark jobs run inside the block (Spark UI), then restore.

    Spark Connect sessions have no SparkContext; there the block runs without a description.
    """
    try:
        sc = spark.sparkContext
        previous = sc.getLocalProperty("spark.job.description")
    except Exception:  # Spark Connect: no JVM SparkContext on the client
        yield
        return
    sc.setJobDescription(description)
    try:
        yield
    finally:
        sc.setJobDescription(previous)
