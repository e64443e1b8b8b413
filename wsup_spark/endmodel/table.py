"""A Delta table pinned to a version, as plain data: files, row counts, schema; exact row sharding.

:func:`resolve_table` is the only function here that touches ``deltalake`` (through
:mod:`wsup_spark.io.delta`, with its checks), and it runs in the parent process (deltalake panics
in forked DataLoader workers). Everything else reads Parquet with
pyarrow and is safe in any process.

Sharding (:func:`shard_pieces`): per epoch, the files are put in a seeded order that every DDP rank
computes identically; the concatenation of their rows is a virtual row range ``[0, N)`` that is cut
into ``S = world_size × num_workers`` contiguous slices of ``⌊N/S⌋`` or ``⌈N/S⌉`` rows. Shard ``s``
reads slice ``s``: each row is read by exactly one (rank, worker) per epoch, and the shards are
balanced to one row whatever the number of files (one file and eight shards works). A slice edge
that falls inside a file costs reading that file's overlapping row groups in two shards.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa

from wsup_spark.errors import DataError
from wsup_spark.io.delta import check_plain_files, open_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableFiles:
    """A Delta table version resolved to its data files (picklable; no deltalake objects).

    Attributes
    ----------
    path : the table's location as given
    version : the pinned Delta version
    files : (F,) data file URIs or local paths
    rows : (F,) rows per file
    schema : pyarrow.Schema of the data files
    metadata : the latest commit's user metadata (``{}`` when absent)
    """

    path: str
    version: int
    files: tuple[str, ...]
    rows: tuple[int, ...]
    schema: Any
    metadata: Mapping[str, Any]

    @property
    def num_rows(self) -> int:
        """Rows in the table version."""
        return int(sum(self.rows))


def resolve_table(
    path: str, version: int | None = None, storage_options: Mapping[str, str] | None = None
) -> TableFiles:
    """Resolve a Delta table at ``version`` (latest when None) to files and row counts.

    Row counts come from the Delta log's ``numRecords`` statistics; files without them have their
    Parquet footer read. Call this in the parent process only.

    Raises
    ------
    DataError
        when the table cannot be opened or has no data files.
    """
    uri, dt = open_table(path, version, storage_options)
    check_plain_files(dt, uri)
    files = sorted(dt.file_uris())  # one order on every rank, whatever the log replay's order
    if not files:
        raise DataError(f"Delta table {path!r} (version {dt.version()}) has no data files")
    counts: dict[str, int] = {}
    try:
        actions = pa.table(dt.get_add_actions(flatten=True))
        for p, r in zip(
            actions.column("path").to_pylist(),
            actions.column("num_records").to_pylist(),
            strict=True,
        ):
            if r is not None:
                counts[unquote(p)] = int(r)
    except Exception:  # stats are optional in Delta; fall back to footers
        logger.debug("no numRecords statistics in %s; reading Parquet footers", path)
    rows = []
    for f in files:
        match = next((c for p, c in counts.items() if unquote(f).endswith(p)), None)
        rows.append(match if match is not None else _footer(f).num_rows)
    schema = _footer(files[0]).schema.to_arrow_schema()
    meta: dict[str, Any] = {}
    try:
        raw = dt.history(1)[0].get("userMetadata")
        meta = json.loads(raw) if isinstance(raw, str) else {}
    except Exception:
        meta = {}
    return TableFiles(path, int(dt.version()), tuple(files), tuple(rows), schema, meta)


_FS_CACHE: dict[str, Any] = {}


def open_file(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) for a data file URI or local path.

    Filesystems are cached per scheme and host, so a worker builds e.g. one S3 client. Credentials
    of object stores come from the environment, as for any pyarrow reader.
    """
    from urllib.parse import urlparse

    from pyarrow import fs as pafs

    if "://" not in uri:
        return pafs.LocalFileSystem(), uri
    parsed = urlparse(uri)
    key = f"{parsed.scheme}://{parsed.netloc}"
    if key not in _FS_CACHE:
        _FS_CACHE[key] = pafs.FileSystem.from_uri(uri)[0]
    if parsed.scheme in ("file", "hdfs", "viewfs"):
        path = unquote(parsed.path)
    else:  # object stores: bucket/key
        path = unquote(f"{parsed.netloc}{parsed.path}")
    return _FS_CACHE[key], path


def _footer(uri: str) -> Any:
    import pyarrow.parquet as pq

    fs, p = open_file(uri)
    return pq.ParquetFile(p, filesystem=fs).metadata


def epoch_order(n_files: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The file order of an epoch: a permutation seeded by (seed, epoch), or identity.

    Returns
    -------
    (n_files,) int64
    """
    if not shuffle:
        return np.arange(n_files, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(n_files).astype(np.int64)


def shard_pieces(
    rows: Sequence[int], order: np.ndarray, shard: int, num_shards: int
) -> list[tuple[int, int, int]]:
    """Row ranges of shard ``shard`` of ``num_shards`` over the files taken in ``order``.

    Parameters
    ----------
    rows : (F,) rows per file
    order : (F,) permutation of file indices
    shard, num_shards : this shard and the total (``rank * num_workers + worker``, ``world * nw``)

    Returns
    -------
    list of (file index, start row, stop row) within that file

    Examples
    --------
    >>> [shard_pieces([5, 3], np.array([0, 1]), s, 3) for s in range(3)]
    [[(0, 0, 2)], [(0, 2, 5)], [(1, 0, 3)]]
    >>> shard_pieces([5, 3], np.array([1, 0]), 1, 2)  # file 1 first: rows 4..8 = file 0's 1..5
    [(0, 1, 5)]
    """
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is not in [0, {num_shards})")
    r = np.asarray(rows, dtype=np.int64)[order]
    cum = np.concatenate([[0], np.cumsum(r)])
    total = int(cum[-1])
    lo, hi = shard * total // num_shards, (shard + 1) * total // num_shards
    pieces = []
    for j in range(len(r)):
        s, e = max(lo, int(cum[j])), min(hi, int(cum[j + 1]))
        if s < e:
            pieces.append((int(order[j]), s - int(cum[j]), e - int(cum[j])))
    return pieces


def read_piece(
    uri: str,
    start: int,
    stop: int,
    columns: Sequence[str],
    batch_rows: int = 65536,
    rng: np.random.Generator | None = None,
) -> Iterator[Any]:
    """Record batches of rows ``[start, stop)`` of one Parquet file (only overlapping row groups).

    Parameters
    ----------
    rng : when given, the overlapping row groups are read in a random order (shuffling)

    Yields
    ------
    pyarrow.RecordBatch with ``columns``
    """
    import pyarrow.parquet as pq

    fs, p = open_file(uri)
    pf = pq.ParquetFile(p, filesystem=fs)
    md = pf.metadata
    sizes = np.array([md.row_group(i).num_rows for i in range(md.num_row_groups)], np.int64)
    firsts = np.concatenate([[0], np.cumsum(sizes)])
    groups = [i for i in range(len(sizes)) if firsts[i] < stop and firsts[i + 1] > start]
    if rng is not None:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    for g in groups:
        at = int(firsts[g])
        for rb in pf.iter_batches(batch_size=batch_rows, row_groups=[g], columns=list(columns)):
            s, e = max(start, at), min(stop, at + rb.num_rows)
            if s < e:
                yield rb.slice(s - at, e - s)
            at += rb.num_rows
            if at >= stop:
                break
