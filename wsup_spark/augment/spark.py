"""Apply an augmentation policy to a Spark DataFrame with ``mapInArrow`` and write it to Delta.

Each task runs :func:`wsup_spark.augment.apply.augment_batch` on its Arrow batches: every input
row comes out as its original (copy 0, optional) followed by ``n_copies`` augmented copies, with
all other columns (``probs``, labels, features) carried along unchanged and three lineage
columns appended: the copy number, the TF sequence that made the row, and the policy hash. Row
keys come from ``(seed, id column, copy)``, so the output equals the in-memory
:func:`~wsup_spark.augment.apply.augment_arrays` / ``augment_rows`` on the same ids whatever the
partitioning. The policy and TFs ship once per task in the closure; resources load once per
worker process. Nothing n-sized reaches the driver; no SparkContext, RDD or accumulator is used
(Spark Connect works).

Augmented column types (detected from the column's type; the output has the input's layout):

* ``string`` (texts) stays a string;
* a numeric array (flattened images, give ``image_shape=(h, w)``, or vectors) becomes
  ``array<float>`` (values are processed as float32; scale integer images to [0, 1] first);
* ``binary`` holds each image as its raw uint8 pixels, row-major (``image_shape`` bytes a row):
  the TFs see ``pixels / 255`` (:func:`decode_uint8_images`) and the augmented images are written
  back as uint8 bytes (:func:`encode_uint8_images`, rounded). This is the cheap layout for images
  on Spark: a batch's pixels move between the JVM and Python as one buffer read through a
  zero-copy numpy view, 1 byte a pixel instead of 4 plus per-element array handling.

Rows must all hold the same number of values (bytes); a mismatch is a :class:`DataError` naming
the column and the row.

Written tables (:func:`write_augmented`) also carry ``run_id``, the augmentation run's id (the
source's own ``run_id``, e.g. the labeling run of a training table, becomes ``source_run_id``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.augment.apply import augment_batch, resolve_tfs
from wsup_spark.augment.base import TransformationFunction
from wsup_spark.augment.policy import Policy
from wsup_spark.errors import ConfigError, DataError
from wsup_spark.io.base import BatchTransform, check_run_id

logger = logging.getLogger(__name__)

__all__ = [
    "COPY_COL",
    "LINEAGE_COL",
    "POLICY_COL",
    "RUN_COL",
    "SOURCE_RUN_COL",
    "augment_dataframe",
    "augment_metadata",
    "augment_table",
    "augment_transform",
    "decode_uint8_images",
    "encode_uint8_images",
    "write_augmented",
]

COPY_COL = "aug_copy"
LINEAGE_COL = "aug_tfs"
POLICY_COL = "aug_policy"
#: Written tables carry the augmentation's run id; a source ``run_id`` column is renamed.
RUN_COL = "run_id"
SOURCE_RUN_COL = "source_run_id"


#: Rows augmented per kernel call are capped so that one call's output (originals and copies)
#: holds about this many image bytes (float32) at most; results do not depend on it.
CHUNK_BYTES = 64 * 1024 * 1024


def _check_nulls(col: Any, name: str) -> None:
    if col.null_count:
        raise DataError(
            f"column {name!r} has {col.null_count} null value(s) in a batch; filter them out "
            "(df.where(col.isNotNull())) before augmenting"
        )


def _offsets(col: Any) -> np.ndarray:
    """(n + 1,) int64 value offsets of a (large) list or binary array, the slice offset applied
    (a zero-copy view of the Arrow buffer before the cast)."""
    import pyarrow as pa

    t = col.type
    wide = pa.types.is_large_list(t) or pa.types.is_large_binary(t)
    buf = col.buffers()[1]
    off = np.frombuffer(buf, np.int64 if wide else np.int32) if buf is not None else np.zeros(1)
    return off[col.offset : col.offset + len(col) + 1].astype(np.int64, copy=False)


def _check_widths(off: np.ndarray, name: str, size: int, shape: tuple[int, ...], unit: str) -> None:
    widths = np.diff(off)
    bad = np.flatnonzero(widths != size)
    if bad.size:
        raise DataError(
            f"column {name!r}: row {int(bad[0])} of a batch holds {int(widths[bad[0]])} {unit}, "
            f"expected {size} for image_shape={shape} ({bad.size} such row(s) in the batch)"
        )


def _array_values(col: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """(n, *shape) float32 view (a copy only when the values are not float32) of a numeric list
    column whose rows all hold ``prod(shape)`` values."""
    import pyarrow as pa

    n = len(col)
    size = int(np.prod(shape))
    if pa.types.is_fixed_size_list(col.type):
        if col.type.list_size != size:
            raise DataError(
                f"column {name!r} holds {col.type.list_size} values a row, expected {size} for "
                f"image_shape={shape}"
            )
        flat = col.flatten()
    else:
        off = _offsets(col)
        _check_widths(off, name, size, shape, "values")
        flat = col.values.slice(int(off[0]), n * size)
    if flat.null_count:
        raise DataError(f"column {name!r} has null values inside its arrays")
    vals = flat.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    out: np.ndarray = vals.reshape((n, *shape))
    return out


def _binary_values(col: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """(n, *shape) uint8 zero-copy view of a binary column whose rows all hold ``prod(shape)``
    bytes."""
    n = len(col)
    size = int(np.prod(shape))
    off = _offsets(col)
    _check_widths(off, name, size, shape, "bytes")
    buf = col.buffers()[2]
    data = np.frombuffer(buf, np.uint8) if buf is not None else np.zeros(0, np.uint8)
    return data[int(off[0]) : int(off[0]) + n * size].reshape((n, *shape))


def decode_uint8_images(u8: np.ndarray) -> np.ndarray:
    """uint8 pixels → float32 in [0, 1] (``u8 / 255``): how the job reads a binary column.

    Parameters
    ----------
    u8 : (n, ...) uint8

    Returns
    -------
    (n, ...) float32
    """
    out: np.ndarray = np.asarray(u8, np.uint8).astype(np.float32) / np.float32(255.0)
    return out


def encode_uint8_images(x: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] → uint8 pixels (``clip(rint(255 x), 0, 255)``): how the job writes a
    binary column. ``encode_uint8_images(decode_uint8_images(u8)) == u8``.

    Parameters
    ----------
    x : (n, ...) float

    Returns
    -------
    (n, ...) uint8
    """
    y = np.rint(np.asarray(x, np.float32) * np.float32(255.0))
    return np.clip(y, 0, 255).astype(np.uint8)  # type: ignore[no-any-return]


def _values_from_arrow(col: Any, name: str, kind: str, shape: tuple[int, ...]) -> Any:
    """The augmented column of one batch: a list of str (texts) or an (n, *shape) float32 array
    (``array``: the values; ``binary``: uint8 bytes / 255)."""
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    _check_nulls(col, name)
    if kind == "text":
        return col.to_pylist()
    if kind == "binary":
        return decode_uint8_images(_binary_values(col, name, shape))
    return _array_values(col, name, shape)


def _values_to_arrow(values: Any, kind: str) -> Any:
    """The augmented column as Arrow: string, ``list<float>`` or ``binary`` (uint8 bytes);
    image values are laid out once, without per-row Python."""
    import pyarrow as pa

    if kind == "text":
        return pa.array(values, pa.string())
    if kind == "binary":
        data = np.ascontiguousarray(encode_uint8_images(values))
        n = data.shape[0]
        width = int(np.prod(data.shape[1:]))
        offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
        return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                      pa.py_buffer(data.reshape(-1))])  # fmt: skip
    arr = np.ascontiguousarray(values, np.float32)
    n = arr.shape[0]
    width = int(np.prod(arr.shape[1:])) if arr.ndim > 1 else 1
    offsets = pa.array(np.arange(0, n * width + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(arr.reshape(-1)))


def _repeat_string(value: str, n: int) -> Any:
    """``pa.array([value] * n, pa.string())`` built from two buffers."""
    import pyarrow as pa

    raw = value.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(raw))
    data = np.frombuffer(raw * n, np.uint8) if raw else np.zeros(0, np.uint8)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(data)])  # fmt: skip


def augment_dataframe(
    df: Any,
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    column: str,
    seed: int,
    id_col: str = "id",
    n_copies: int = 1,
    keep_original: bool = True,
    image_shape: Sequence[int] | None = None,
) -> Any:
    """The augmented DataFrame (lazy; one ``mapInArrow``).

    Parameters and result as :func:`augment_transform`, applied: ``df.mapInArrow(fn, schema)``.
    """
    t = augment_transform(df, policy, tfs, column=column, seed=seed, id_col=id_col,
                          n_copies=n_copies, keep_original=keep_original,
                          image_shape=image_shape)  # fmt: skip
    return df.mapInArrow(t.fn, t.schema)


def augment_transform(
    df: Any,
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    column: str,
    seed: int,
    id_col: str = "id",
    n_copies: int = 1,
    keep_original: bool = True,
    image_shape: Sequence[int] | None = None,
) -> BatchTransform:
    """The augmentation of ``df`` as a ``mapInArrow`` step: the function each task runs on its
    Arrow batches and the output schema.

    ``fn`` is plain Python over ``pyarrow.RecordBatch`` iterators, so it also runs outside Spark
    (one process over a Parquet file's batches gives the same rows).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Must have ``id_col`` (stable unique row ids) and ``column``.
    policy : Policy
    tfs : the policy's TFs (resolved by name)
    column : str
        Column to augment: a string column (texts), a numeric array column (flattened images
        or vectors) or a binary column (uint8 images, one byte a pixel).
    seed : int
    id_col : str
    n_copies : int
        Augmented copies per row.
    keep_original : bool
        Also emit each row unchanged as copy 0.
    image_shape : (h, w), optional
        Shape of each array (binary) value; default the flat vector, its width read from the
        first row.

    Returns
    -------
    BatchTransform
        ``fn`` and ``schema``; the rows are ``df``'s columns in order (``column`` as
        ``array<float>`` for arrays, ``binary`` for binary) plus ``aug_copy`` int, ``aug_tfs``
        string (``"tf@strength|..."``, ``""`` for originals) and ``aug_policy`` string (the
        policy hash). ``(id, aug_copy)`` is unique.
    """
    return _augment_step(df.schema, lambda: _first_width(df, column), policy, tfs,
                         column=column, seed=seed, id_col=id_col, n_copies=n_copies,
                         keep_original=keep_original, image_shape=image_shape)  # fmt: skip


def _first_width(df: Any, column: str) -> int:
    """Values in ``column``'s first row (one row of ``df`` read, only to learn a vector's width;
    0 for an empty DataFrame or a null)."""
    first = df.select(column).first()
    return len(first[0]) if first is not None and first[0] is not None else 0


def _augment_step(
    in_schema: Any,
    first_width: Callable[[], int],
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    column: str,
    seed: int,
    id_col: str,
    n_copies: int,
    keep_original: bool,
    image_shape: Sequence[int] | None,
) -> BatchTransform:
    """:func:`augment_transform` for rows of the Spark ``StructType`` ``in_schema``;
    ``first_width()`` gives the vector width when an array column has no ``image_shape``."""
    from pyspark.sql.types import (
        ArrayType,
        BinaryType,
        FloatType,
        IntegerType,
        NumericType,
        StringType,
        StructField,
        StructType,
    )

    names = list(in_schema.names)
    for c, what in ((id_col, "id column"), (column, "column to augment")):
        if c not in names:
            raise DataError(f"{what} {c!r} is not in the DataFrame; columns are {names}")
    clash = [c for c in (COPY_COL, LINEAGE_COL, POLICY_COL) if c in names]
    if clash:
        raise DataError(
            f"the DataFrame already has lineage column(s) {clash}: it was augmented before; "
            "augment the original table (aug_copy = 0 rows) instead"
        )
    if n_copies < 0:
        raise ConfigError(f"n_copies={n_copies}; use 0 or more")
    tf_list = resolve_tfs(policy, tfs)
    dtype = in_schema[column].dataType
    if isinstance(dtype, StringType):
        kind = "text"
        out_type: Any = StringType()
        shape: tuple[int, ...] = ()
    elif isinstance(dtype, BinaryType) or (
        isinstance(dtype, ArrayType) and isinstance(dtype.elementType, NumericType)
    ):
        binary = isinstance(dtype, BinaryType)
        kind = "binary" if binary else "array"
        out_type = BinaryType() if binary else ArrayType(FloatType(), containsNull=False)
        if image_shape is None:
            shape = (first_width(),)
        else:
            shape = tuple(int(s) for s in image_shape)
            if not shape or min(shape) < 1:
                raise ConfigError(f"image_shape={list(shape)}; give positive sizes, e.g. [h, w]")
    else:
        raise DataError(
            f"column {column!r} has type {dtype.simpleString()}; augment a string column "
            "(texts), a numeric array column (flattened images with image_shape=(h, w)) or a "
            "binary column (uint8 pixels, image_shape=(h, w))"
        )
    fields = [
        StructField(f.name, out_type, nullable=True) if f.name == column else f
        for f in in_schema.fields
    ]
    fields += [
        StructField(COPY_COL, IntegerType(), nullable=False),
        StructField(LINEAGE_COL, StringType(), nullable=False),
        StructField(POLICY_COL, StringType(), nullable=False),
    ]
    schema = StructType(fields)
    pos = names.index(column)
    phash = policy.hash

    out_names = [*names, COPY_COL, LINEAGE_COL, POLICY_COL]
    per_row = n_copies + int(keep_original)
    chunk = max(1, CHUNK_BYTES // max(1, 4 * per_row * int(np.prod(shape or (1,)))))

    def augment_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for whole in batches:
            for start in range(0, whole.num_rows, chunk):  # bounds memory for large images
                batch = whole.slice(start, chunk)
                ids = batch.column(id_col).to_numpy(zero_copy_only=False)
                values = _values_from_arrow(batch.column(column), column, kind, shape)
                res = augment_batch(values, ids, policy, tf_list, seed=seed, n_copies=n_copies,
                                    keep_original=keep_original)  # fmt: skip
                idx = pa.array(res.source)
                cols = [
                    _values_to_arrow(res.values, kind) if i == pos else batch.column(i).take(idx)
                    for i in range(batch.num_columns)
                ]
                cols += [
                    pa.array(res.copy, pa.int32()),
                    pa.array(res.lineage, pa.string()),
                    _repeat_string(phash, len(res)),
                ]
                yield pa.RecordBatch.from_arrays(cols, names=out_names)

    return BatchTransform(augment_partition, schema)


def augment_metadata(
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    seed: int,
    n_copies: int,
    column: str,
) -> dict[str, Any]:
    """Commit metadata of an augmented table: the policy (JSON), its hash, TF versions, seed."""
    return {
        "augment": {
            "policy": policy.to_dict(),
            "policy_hash": policy.hash,
            "tf_versions": {t.name: t.version for t in resolve_tfs(policy, tfs)},
            "seed": int(seed),
            "n_copies": int(n_copies),
            "column": column,
        }
    }


def _renames_run_id(names: Sequence[str]) -> bool:
    """Whether the source's ``run_id`` becomes ``source_run_id`` (:class:`DataError` when the
    source has both)."""
    if RUN_COL not in names:
        return False
    if SOURCE_RUN_COL in names:
        raise DataError(
            f"the DataFrame has both {RUN_COL!r} and {SOURCE_RUN_COL!r}; drop one (the "
            f"augmented table's {RUN_COL!r} is this augmentation's run id)"
        )
    return True


def _with_run_id(df: Any, run_id: str) -> Any:
    """``df`` with ``run_id`` = this augmentation's id (a source ``run_id`` → ``source_run_id``)."""
    from pyspark.sql import functions as F

    if _renames_run_id(df.columns):
        df = df.withColumnRenamed(RUN_COL, SOURCE_RUN_COL)
    return df.withColumn(RUN_COL, F.lit(check_run_id(run_id)))


def _schema_with_run_id(schema: Any, run_id: str) -> Any:
    """The ``StructType`` of :func:`_with_run_id`'s rows, without a DataFrame."""
    from pyspark.sql.types import StringType, StructField, StructType

    check_run_id(run_id)
    new = SOURCE_RUN_COL if _renames_run_id(schema.names) else RUN_COL
    fields = [
        StructField(new, f.dataType, f.nullable) if f.name == RUN_COL else f for f in schema.fields
    ]
    return StructType([*fields, StructField(RUN_COL, StringType(), nullable=False)])


@dataclass(frozen=True)
class _FileInput:
    """:func:`augment_table`'s file read: the table's Spark schema, how to learn a vector's width
    (one row through Spark's scan) and the units each write task reads
    (:func:`~wsup_spark.augment.direct.plan_scan`)."""

    spark: Any
    schema: Any
    first_width: Callable[[], int]
    tasks: list[list[Any]]


def write_augmented(
    df: Any,
    path: str,
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    column: str,
    seed: int,
    run_id: str,
    id_col: str = "id",
    n_copies: int = 1,
    keep_original: bool = True,
    image_shape: Sequence[int] | None = None,
    mode: str = "append",
    writer: str = "auto",
    _files: _FileInput | None = None,
) -> Any:
    """Augment ``df`` and write it to the Delta table at ``path`` as one commit.

    The written rows carry ``run_id`` = this augmentation's ``run_id`` (a ``run_id`` column of
    ``df``, e.g. the labeling run of a training table, is kept as ``source_run_id``), so in append
    mode rerunning the same ``run_id`` replaces that run's rows with either writer (idempotent);
    the commit metadata holds :func:`augment_metadata`. Parameters as :func:`augment_dataframe` and
    :func:`wsup_spark.io.write_table`. (``_files``: :func:`augment_table`'s file read, ``df`` is
    then None: the write tasks read the table's files themselves, the job is
    ``spark.range(tasks)`` and no DataFrame of the rows is built.)

    Returns
    -------
    wsup_spark.io.WriteResult
    """
    from wsup_spark.io import write_table

    kw: dict[str, Any] = dict(column=column, seed=seed, id_col=id_col, n_copies=n_copies,
                              keep_original=keep_original, image_shape=image_shape)  # fmt: skip
    if _files is None:
        source = _with_run_id(df, run_id)
        t = augment_transform(source, policy, tfs, **kw)
    else:
        from wsup_spark.augment.direct import FileScan
        from wsup_spark.io.schemas import spark_to_arrow_schema

        spark = _files.spark
        schema = _schema_with_run_id(_files.schema, run_id)
        step = _augment_step(schema, _files.first_width, policy, tfs, **kw)
        tz = spark.conf.get("spark.sql.session.timeZone", "UTC") or "UTC"
        rows = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
        scan = FileScan(
            tasks=tuple(tuple(u) for u in _files.tasks), schema=spark_to_arrow_schema(schema, tz),
            batch_rows=int(rows or 10000), fn=step.fn,
            rename=((RUN_COL, SOURCE_RUN_COL),) if RUN_COL in _files.schema.names else (),
            constants=((RUN_COL, run_id),),
        )  # fmt: skip
        n = len(_files.tasks)
        source, t = spark.range(0, n, 1, n), BatchTransform(scan, step.schema)
    meta = augment_metadata(policy, tfs, seed=seed, n_copies=n_copies, column=column)
    logger.info("augmenting %s into %s with policy %s (%d copies, seed %d)", column, path,
                policy.hash, n_copies, seed)  # fmt: skip
    # fused: with the delta-rs writer the augmentation runs inside the write tasks
    return write_table(source, path, run_id=run_id, mode=mode, metadata=meta, writer=writer,
                       description=f"augment {column} → {path}", transform=t)  # fmt: skip


def _file_input(
    spark: Any, source: str, version: int | None, column: str, writer: str, *, required: bool
) -> _FileInput | None:
    """How the write tasks read ``source``'s files themselves, or None where they cannot (the
    Spark writer, a table that is not plain Parquet files: :class:`ConfigError` /
    :class:`DataError` instead when ``required``) or need not (an empty table)."""
    from wsup_spark.augment.direct import delta_file_sizes, plan_scan
    from wsup_spark.io import read_table
    from wsup_spark.io.delta import check_files_exist, check_plain_files, open_table
    from wsup_spark.io.files import as_uri
    from wsup_spark.io.schemas import arrow_to_spark_schema, table_arrow_schema
    from wsup_spark.spark.session import default_parallelism

    if writer != "delta-rs":
        if required:
            raise ConfigError(
                f"read='files' cannot read Delta table {source}: the {writer!r} Delta writer is "
                "used; direct reads need writer delta-rs; use read='spark'"
            )
        return None
    uri, dt = open_table(source, version)
    try:
        check_plain_files(dt, uri)
    except DataError as e:
        if required:
            raise DataError(f"read='files' cannot read Delta table {source}: {e}; use "
                            "read='spark'") from e  # fmt: skip
        return None
    files = [as_uri(u) for u in dt.file_uris()]
    check_files_exist(uri, int(dt.version()), files)
    if not files:  # an empty table: Spark's scan writes the empty result
        return None
    tasks = plan_scan(files, delta_file_sizes(dt, files), default_parallelism(spark))
    logger.info("augment input %s: %d files read by %d write tasks", source, len(files),
                len(tasks))  # fmt: skip
    return _FileInput(
        spark, arrow_to_spark_schema(table_arrow_schema(dt)),
        lambda: _first_width(read_table(spark, source, version), column), tasks,
    )  # fmt: skip


def augment_table(
    spark: Any,
    source: str,
    path: str,
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    column: str,
    seed: int,
    run_id: str,
    version: int | None = None,
    read: str = "auto",
    **kwargs: Any,
) -> Any:
    """Read the Delta table ``source`` (optionally at ``version``), augment it, write ``path``.

    The entry point of ``jobs/augment.py``; ``kwargs`` go to :func:`write_augmented`.

    Parameters
    ----------
    read : {"auto", "spark", "files"}
        How the input reaches the augmentation. ``"files"``: the Python write tasks read the
        version's Parquet files themselves (:mod:`wsup_spark.augment.direct`; no JVM scan, a
        fraction of its CPU); needs the delta-rs writer and a plain table (no partition
        columns, column mapping or deletion vectors), else a :class:`ConfigError` /
        :class:`DataError` says why. ``"spark"``: Spark reads the table (the Delta reader when
        configured). ``"auto"``: ``"files"`` where it applies, else ``"spark"``.
    """
    from wsup_spark.augment.direct import READ_MODES
    from wsup_spark.io import read_table
    from wsup_spark.io.delta import resolve_writer

    if read not in READ_MODES:
        raise ConfigError(f"read={read!r}; use one of {list(READ_MODES)}")
    files_in = None
    if read != "spark":
        writer = resolve_writer(spark, str(kwargs.get("writer", "auto")))
        files_in = _file_input(spark, source, version, column, writer, required=read == "files")
    if files_in is not None:
        return write_augmented(None, path, policy, tfs, column=column, seed=seed, run_id=run_id,
                               _files=files_in, **kwargs)  # fmt: skip
    df = read_table(spark, source, version)
    return write_augmented(df, path, policy, tfs, column=column, seed=seed, run_id=run_id,
                           **kwargs)  # fmt: skip
