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

Augmented column types: a string column (texts) stays a string; a numeric array column holding
flattened images (give ``image_shape=(h, w)``) or vectors becomes ``array<float>`` (values are
processed as float32; scale integer images to [0, 1] first).

Written tables (:func:`write_augmented`) also carry ``run_id``, the augmentation run's id (the
source's own ``run_id``, e.g. the labeling run of a training table, becomes ``source_run_id``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
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
    "write_augmented",
]

COPY_COL = "aug_copy"
LINEAGE_COL = "aug_tfs"
POLICY_COL = "aug_policy"
#: Written tables carry the augmentation's run id; a source ``run_id`` column is renamed.
RUN_COL = "run_id"
SOURCE_RUN_COL = "source_run_id"


def _values_from_arrow(col: Any, name: str, kind: str, shape: tuple[int, ...]) -> Any:
    """The augmented column of one batch as a list of str or an (n, *shape) float32 array."""
    if col.null_count:
        raise DataError(
            f"column {name!r} has {col.null_count} null value(s) in a batch; filter them out "
            "(df.where(col.isNotNull())) before augmenting"
        )
    if kind == "text":
        return col.to_pylist()
    n = len(col)
    flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    size = int(np.prod(shape))
    if flat.shape[0] != n * size:
        raise DataError(
            f"column {name!r} holds {flat.shape[0]} values for {n} rows; every row must have "
            f"{size} values (image_shape={shape})"
        )
    return flat.reshape((n, *shape))


def _values_to_arrow(values: Any, kind: str) -> Any:
    import pyarrow as pa

    if kind == "text":
        return pa.array(values, pa.string())
    arr = np.ascontiguousarray(values, np.float32)
    n = arr.shape[0]
    width = int(np.prod(arr.shape[1:])) if arr.ndim > 1 else 1
    offsets = pa.array(np.arange(0, n * width + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(arr.reshape(-1)))


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
        Column to augment: a string column (texts) or a numeric array column (flattened images
        or vectors).
    seed : int
    id_col : str
    n_copies : int
        Augmented copies per row.
    keep_original : bool
        Also emit each row unchanged as copy 0.
    image_shape : (h, w), optional
        Shape of each array value; default the flat vector.

    Returns
    -------
    BatchTransform
        ``fn`` and ``schema``; the rows are ``df``'s columns in order (``column`` as
        ``array<float>`` for arrays) plus ``aug_copy`` int, ``aug_tfs`` string
        (``"tf@strength|..."``, ``""`` for originals) and ``aug_policy`` string (the policy hash).
        ``(id, aug_copy)`` is unique.
    """
    from pyspark.sql.types import (
        ArrayType,
        FloatType,
        IntegerType,
        NumericType,
        StringType,
        StructField,
        StructType,
    )

    for c, what in ((id_col, "id column"), (column, "column to augment")):
        if c not in df.columns:
            raise DataError(f"{what} {c!r} is not in the DataFrame; columns are {df.columns}")
    clash = [c for c in (COPY_COL, LINEAGE_COL, POLICY_COL) if c in df.columns]
    if clash:
        raise DataError(
            f"the DataFrame already has lineage column(s) {clash}: it was augmented before; "
            "augment the original table (aug_copy = 0 rows) instead"
        )
    if n_copies < 0:
        raise ConfigError(f"n_copies={n_copies}; use 0 or more")
    tf_list = resolve_tfs(policy, tfs)
    dtype = df.schema[column].dataType
    if isinstance(dtype, StringType):
        kind = "text"
        out_type: Any = StringType()
        shape: tuple[int, ...] = ()
    elif isinstance(dtype, ArrayType) and isinstance(dtype.elementType, NumericType):
        kind = "array"
        out_type = ArrayType(FloatType(), containsNull=False)
        if image_shape is None:
            first = df.select(column).first()  # one row, only to learn the vector width
            shape = (len(first[0]) if first is not None else 0,)
        else:
            shape = tuple(int(s) for s in image_shape)
    else:
        raise DataError(
            f"column {column!r} has type {dtype.simpleString()}; augment a string column "
            "(texts) or a numeric array column (flattened images with image_shape=(h, w))"
        )
    fields = [
        StructField(f.name, out_type, nullable=True) if f.name == column else f
        for f in df.schema.fields
    ]
    fields += [
        StructField(COPY_COL, IntegerType(), nullable=False),
        StructField(LINEAGE_COL, StringType(), nullable=False),
        StructField(POLICY_COL, StringType(), nullable=False),
    ]
    schema = StructType(fields)
    names = list(df.columns)
    pos = names.index(column)
    phash = policy.hash

    def augment_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for batch in batches:
            if batch.num_rows == 0:
                continue
            ids = batch.column(id_col).to_numpy(zero_copy_only=False)
            values = _values_from_arrow(batch.column(column), column, kind, shape)
            res = augment_batch(values, ids, policy, tf_list, seed=seed, n_copies=n_copies,
                                keep_original=keep_original)  # fmt: skip
            taken = batch.take(pa.array(res.source))
            cols = [taken.column(i) for i in range(taken.num_columns)]
            cols[pos] = _values_to_arrow(res.values, kind)
            cols += [
                pa.array(res.copy, pa.int32()),
                pa.array(res.lineage, pa.string()),
                pa.array([phash] * len(res), pa.string()),
            ]
            yield pa.RecordBatch.from_arrays(cols, names=[*names, COPY_COL, LINEAGE_COL,
                                                          POLICY_COL])  # fmt: skip

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
) -> Any:
    """Augment ``df`` and write it to the Delta table at ``path`` as one commit.

    The written rows carry ``run_id`` = this augmentation's ``run_id`` (a ``run_id`` column of
    ``df``, e.g. the labeling run of a training table, is kept as ``source_run_id``), so in append
    mode rerunning the same ``run_id`` replaces that run's rows with either writer (idempotent);
    the commit metadata holds :func:`augment_metadata`. Parameters as :func:`augment_dataframe` and
    :func:`wsup_spark.io.write_table`.

    Returns
    -------
    wsup_spark.io.WriteResult
    """
    from pyspark.sql import functions as F

    from wsup_spark.io import write_table

    if RUN_COL in df.columns:
        if SOURCE_RUN_COL in df.columns:
            raise DataError(
                f"the DataFrame has both {RUN_COL!r} and {SOURCE_RUN_COL!r}; drop one (the "
                f"augmented table's {RUN_COL!r} is this augmentation's run id)"
            )
        df = df.withColumnRenamed(RUN_COL, SOURCE_RUN_COL)
    df = df.withColumn(RUN_COL, F.lit(check_run_id(run_id)))
    t = augment_transform(df, policy, tfs, column=column, seed=seed, id_col=id_col,
                          n_copies=n_copies, keep_original=keep_original,
                          image_shape=image_shape)  # fmt: skip
    meta = augment_metadata(policy, tfs, seed=seed, n_copies=n_copies, column=column)
    logger.info("augmenting %s into %s with policy %s (%d copies, seed %d)", column, path,
                policy.hash, n_copies, seed)  # fmt: skip
    # fused: with the delta-rs writer the augmentation runs inside the write tasks
    return write_table(df, path, run_id=run_id, mode=mode, metadata=meta, writer=writer,
                       description=f"augment {column} → {path}", transform=t)  # fmt: skip


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
    **kwargs: Any,
) -> Any:
    """Read the Delta table ``source`` (optionally at ``version``), augment it, write ``path``.

    The entry point of ``jobs/augment.py``; ``kwargs`` go to :func:`write_augmented`.
    """
    from wsup_spark.io import read_table

    df = read_table(spark, source, version)
    return write_augmented(df, path, policy, tfs, column=column, seed=seed, run_id=run_id,
                           **kwargs)  # fmt: skip
