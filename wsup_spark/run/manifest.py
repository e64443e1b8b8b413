"""The run manifest: which table versions form one run, and one run at a time per output path.

``<output.path>/_runs/_manifest`` is a small Delta table with one row per event of a run::

    run_id string, event string ("start" | "commit" | "abort"), at timestamp[us, UTC],
    owner string (host:pid), votes_version long, labels_version long, train_version long,
    detail string (JSON)

A run **claims** the output path by committing its ``start`` row as the manifest's next version
with no commit retries: two runs that read the same version race for the same log file, and
Delta's put-if-absent commit lets exactly one win — the other gets :class:`ConcurrentRunError`,
before it has written anything. A run also refuses to start while another run's ``start`` has no
``commit``/``abort`` and is younger than ``stale_after_s`` (a crashed driver's claim expires; a
rerun with the same run id takes its own claim over at once, which is how Airflow retries
recover). The run's ``commit`` row, written **last**, names the versions of votes, labels and
train that belong together; readers (:func:`wsup_spark.run.store.load_run`, ``wsup analyze``,
``wsup train``'s table resolution, the Airflow check) read those versions, never "latest of each
table". A failed run writes ``abort`` (best effort) and releases its claim.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from wsup_spark.errors import WriteError
from wsup_spark.io.base import normalize_table_uri
from wsup_spark.run.layout import RunLayout

logger = logging.getLogger(__name__)

MANIFEST_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("event", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("owner", pa.string()),
        ("votes_version", pa.int64()),
        ("labels_version", pa.int64()),
        ("train_version", pa.int64()),
        ("detail", pa.string()),
    ]
)
#: A claim older than this (no commit, no abort) is taken to be a crashed driver's.
STALE_AFTER_S = 6 * 3600.0


class ConcurrentRunError(WriteError):
    """Another run holds (or just claimed) the same output path."""


@dataclass(frozen=True)
class ManifestEntry:
    """One row of the manifest."""

    run_id: str
    event: str
    at: dt.datetime
    owner: str
    votes_version: int | None = None
    labels_version: int | None = None
    train_version: int | None = None
    detail: str = "{}"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RunManifest:
    """The manifest of the runs under one output path (see the module docstring)."""

    def __init__(self, layout: RunLayout, stale_after_s: float = STALE_AFTER_S) -> None:
        self.layout = layout
        self.uri = normalize_table_uri(layout.manifest)
        self.stale_after_s = stale_after_s

    def entries(self) -> list[ManifestEntry]:
        """Every event, oldest first (empty when no run ever started here)."""
        return _entries(self._open())

    def active(self, now: dt.datetime | None = None) -> list[ManifestEntry]:
        """``start`` events with no later ``commit``/``abort`` of the same run, not stale."""
        return _active(self.entries(), now or _now(), self.stale_after_s)

    def last_commit(self, run_id: str | None = None) -> ManifestEntry | None:
        """The latest ``commit`` (of ``run_id`` when given), or None."""
        commits = [e for e in self.entries() if e.event == "commit" and run_id in (None, e.run_id)]
        return commits[-1] if commits else None

    def claim(self, run_id: str) -> None:
        """Claim the output path for ``run_id``, or raise :class:`ConcurrentRunError`.

        The check and the claim use one snapshot of the manifest: the ``start`` row is committed
        as exactly the next version of the snapshot that was checked, without retries.
        """
        snapshot = self._open()
        others = [e for e in _active(_entries(snapshot), _now(), self.stale_after_s)
                  if e.run_id != run_id]  # fmt: skip
        if others:
            e = others[-1]
            raise ConcurrentRunError(
                f"output path {self.layout.root} is in use by run {e.run_id!r} (started "
                f"{e.at:%Y-%m-%d %H:%M:%S} UTC by {e.owner}); runs on one output path never "
                f"interleave. Wait for it, use another output.path, or — if that driver "
                f"crashed — rerun with run_id={e.run_id!r} (a rerun takes its own claim over) "
                f"or wait until its claim expires ({self.stale_after_s / 3600:g} h after start)"
            )
        entry = ManifestEntry(run_id, "start", _now(), _owner())
        try:
            write_deltalake(
                snapshot if snapshot is not None else self.uri,
                _row(entry), mode="append",
                commit_properties=CommitProperties(max_commit_retries=0),
            )  # fmt: skip
        except Exception as e:
            raise ConcurrentRunError(
                f"run {run_id!r} could not claim output path {self.layout.root}: another run "
                f"claimed it at the same moment, or the manifest {self.uri} is not writable "
                f"({type(e).__name__}: {str(e)[:300]}); nothing was written by this run"
            ) from e

    def commit(
        self, run_id: str, votes: int, labels: int, train: int | None, **detail: Any
    ) -> None:
        """Record, last, that ``run_id`` finished: these table versions form the run."""
        entry = ManifestEntry(run_id, "commit", _now(), _owner(), votes, labels, train,
                              json.dumps(detail, sort_keys=True, default=str))  # fmt: skip
        write_deltalake(self.uri, _row(entry), mode="append")

    def abort(self, run_id: str, reason: str) -> None:
        """Release ``run_id``'s claim after a failure (best effort, never raises)."""
        entry = ManifestEntry(run_id, "abort", _now(), _owner(),
                              detail=json.dumps({"reason": reason[:500]}))  # fmt: skip
        try:
            write_deltalake(self.uri, _row(entry), mode="append")
        except Exception as e:
            logger.warning("could not record the abort of run %s in %s: %s", run_id, self.uri, e)

    def _open(self) -> DeltaTable | None:
        return DeltaTable(self.uri) if DeltaTable.is_deltatable(self.uri) else None


def _row(entry: ManifestEntry) -> pa.Table:
    return pa.Table.from_pylist(
        [{k: getattr(entry, k) for k in MANIFEST_SCHEMA.names}], schema=MANIFEST_SCHEMA
    )


def _entries(table: DeltaTable | None) -> list[ManifestEntry]:
    if table is None:
        return []
    import pyarrow.dataset as pads  # not deltalake's reader: it can abort the process at exit

    data = pads.dataset(table.file_uris(), format="parquet", schema=MANIFEST_SCHEMA).to_table()
    rows = sorted(data.to_pylist(), key=lambda r: r["at"])
    return [ManifestEntry(**r) for r in rows]


def _active(entries: list[ManifestEntry], now: dt.datetime, stale_s: float) -> list[ManifestEntry]:
    open_: dict[str, ManifestEntry] = {}
    for e in entries:
        if e.event == "start":
            open_[e.run_id] = e
        else:
            open_.pop(e.run_id, None)
    return [e for e in open_.values() if (now - e.at).total_seconds() < stale_s]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
