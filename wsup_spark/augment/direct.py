"""Read a Delta table's Parquet files in the augmentation's own Python tasks (no JVM scan).

With the delta-rs writer the augmentation already runs inside the write tasks (a fused
:class:`~wsup_spark.io.base.BatchTransform`), so the only data still crossing the JVM is the
input: Parquet → Spark rows → Arrow → Python. For a *plain* Delta table (no partition columns,
no column mapping, no deletion vectors: :func:`~wsup_spark.io.delta.check_plain_files`) that
crossing can go too. The driver lists the version's data files from the Delta log (deltalake;
file names and sizes, nothing row-sized), cuts them into units (whole files, or row groups of a
file when there are fewer files than cores) and packs the units into one task per core by bytes
(:func:`pack_units`). The job is ``spark.range(tasks)`` with the units in the closure: each task
reads its units with pyarrow, conforms every batch to the Arrow schema Spark's own scan would
have delivered (:func:`conform_batch`: same column order and types, missing columns as nulls),
and hands the batches to the augmentation. The output is the same rows as the Spark scan gives
(tests compare the two), with a fraction of the JVM's CPU: ``scripts/augment/bench_spark.py``
measures both.

Executors must reach the table through pyarrow's filesystems, which the delta-rs writer's tasks
need anyway (local paths, ``s3://``, ``gs://``, ``abfss://`` with credentials in the
environment).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from wsup_spark.errors import ConfigError, DataError

__all__ = [
    "READ_MODES",
    "FileScan",
    "ScanUnit",
    "conform_batch",
    "delta_file_sizes",
    "pack_units",
    "plan_scan",
]

#: ``read`` values of :func:`wsup_spark.augment.spark.augment_table` and ``wsup augment``.
READ_MODES = ("auto", "spark", "files")


@dataclass(frozen=True)
class ScanUnit:
    """One piece of input a task reads: a data file, or some of its row groups.

    Attributes
    ----------
    path : str
        The file's URI (as the Delta log resolves it).
    row_groups : tuple of int, or None
        Row groups to read; None = the whole file.
    nbytes : int
        Its size in bytes, for packing.
    """

    path: str
    row_groups: tuple[int, ...] | None
    nbytes: int


def pack_units(sizes: Sequence[int], tasks: int) -> list[list[int]]:
    """Pack units into at most ``tasks`` groups of near-equal total size.

    Greedy longest-processing-time packing: units by decreasing size, each to the group with
    the fewest bytes so far (ties to the lowest group). Deterministic; no group is empty.

    Parameters
    ----------
    sizes : (u,) sizes of the units (bytes)
    tasks : int
        Maximum number of groups.

    Returns
    -------
    list of lists of unit indices, ``min(tasks, u)`` groups, each sorted ascending.
    """
    if tasks < 1:
        raise ConfigError(f"tasks={tasks}; use 1 or more")
    k = min(tasks, len(sizes))
    heap = [(0, g) for g in range(k)]
    groups: list[list[int]] = [[] for _ in range(k)]
    for i in sorted(range(len(sizes)), key=lambda i: (-int(sizes[i]), i)):
        load, g = heapq.heappop(heap)
        groups[g].append(i)
        heapq.heappush(heap, (load + int(sizes[i]), g))
    return [sorted(g) for g in groups]


def _row_group_units(path: str, nbytes: int) -> list[ScanUnit]:
    """One unit per row group of ``path`` (reads its footer)."""
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs

    fs, rel = pafs.FileSystem.from_uri(path)
    with fs.open_input_file(rel) as f:
        meta = pq.ParquetFile(f).metadata
    if meta.num_row_groups <= 1:
        return [ScanUnit(path, None, nbytes)]
    return [
        ScanUnit(path, (g,), int(meta.row_group(g).total_byte_size))
        for g in range(meta.num_row_groups)
    ]


def plan_scan(files: Sequence[str], sizes: Sequence[int], tasks: int) -> list[list[ScanUnit]]:
    """The units each task reads: whole files, split into row groups when there are fewer files
    than ``tasks`` (one footer read per file then), packed by bytes (:func:`pack_units`).

    Parameters
    ----------
    files : (f,) data file URIs
    sizes : (f,) their sizes in bytes (from the Delta log)
    tasks : int
        Tasks wanted (the session's parallelism).

    Returns
    -------
    list (one per task, at most ``tasks``) of lists of :class:`ScanUnit`
    """
    units = [ScanUnit(str(p), None, int(s)) for p, s in zip(files, sizes, strict=True)]
    if 0 < len(units) < tasks:
        units = [u for f in units for u in _row_group_units(f.path, f.nbytes)]
    return [[units[i] for i in g] for g in pack_units([u.nbytes for u in units], tasks)]


def delta_file_sizes(dt: Any, files: Sequence[str]) -> list[int]:
    """Sizes in bytes of ``files`` (``dt.file_uris()``, in order) from the Delta log's add
    actions; all 1 (pack by count) when the log's order cannot be matched to them."""
    from urllib.parse import unquote

    acts = pa.table(dt.get_add_actions(flatten=True))
    paths = [unquote(str(p)) for p in acts.column("path").to_pylist()]
    sizes = acts.column("size_bytes").to_pylist()
    if len(paths) == len(files) and all(
        unquote(f).endswith(p) for f, p in zip(files, paths, strict=True)
    ):
        return [int(s) for s in sizes]
    return [1] * len(files)


def conform_batch(batch: pa.RecordBatch, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """``batch`` with exactly ``schema``'s columns, in order and type: columns the file lacks
    (added to the table after it was written) are nulls; others are cast.

    Raises
    ------
    DataError
        A column cannot be cast (names the column and the file).
    """
    n = batch.num_rows
    cols = []
    for f in schema:
        i = batch.schema.get_field_index(f.name)
        if i < 0:
            cols.append(pa.nulls(n, f.type))
            continue
        col = batch.column(i)
        if not col.type.equals(f.type):
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise DataError(
                    f"column {f.name!r} of {where} has type {col.type}, the table says {f.type}: "
                    f"{e}"
                ) from e
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, schema=schema)


@dataclass(frozen=True)
class FileScan:
    """A picklable task body: read this task's units, conform, rename/add ``run_id``, then run
    ``fn`` (the augmentation) on the batches.

    Attributes
    ----------
    tasks : units per task (index = the task's row of ``spark.range(len(tasks))``)
    schema : Arrow schema of the rows ``fn`` expects (what Spark's scan would deliver, after the
        renames below)
    batch_rows : rows per Arrow batch read
    fn : the augmentation (``Iterator[RecordBatch] -> Iterator[RecordBatch]``)
    rename : ``{file column: schema column}`` (the source's ``run_id`` → ``source_run_id``)
    constants : ``{schema column: value}`` string columns added to every row (``run_id``)
    """

    tasks: tuple[tuple[ScanUnit, ...], ...]
    schema: pa.Schema
    batch_rows: int
    fn: Any
    rename: tuple[tuple[str, str], ...] = ()
    constants: tuple[tuple[str, str], ...] = ()

    def read(self, task: int) -> Iterator[pa.RecordBatch]:
        """Task ``task``'s input batches, conformed to :attr:`schema`."""
        import pyarrow.parquet as pq
        from pyarrow import fs as pafs

        names = dict(self.rename)
        for unit in self.tasks[task]:
            fs, rel = pafs.FileSystem.from_uri(unit.path)
            with fs.open_input_file(rel) as f:
                pf = pq.ParquetFile(f)
                groups = list(unit.row_groups) if unit.row_groups is not None else None
                for b in pf.iter_batches(batch_size=self.batch_rows, row_groups=groups):
                    if names:
                        b = b.rename_columns([names.get(c, c) for c in b.schema.names])
                    for col, value in self.constants:
                        const = pa.repeat(pa.scalar(value, pa.string()), b.num_rows)
                        b = b.append_column(col, const)
                    yield conform_batch(b, self.schema, unit.path)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``mapInArrow`` body over ``spark.range`` rows: each row names a task to read."""
        for b in batches:
            for task in b.column(0).to_pylist():
                yield from self.fn(self.read(int(task)))
