"""Read the corpus named by a :class:`~wsup_spark.config.SourceConfig` into a DataFrame."""

from __future__ import annotations

import difflib
import glob
import importlib
import logging
import os
import re
from collections.abc import Sequence
from typing import Any

from pyspark.sql import functions as F

from wsup_spark.config import SourceConfig
from wsup_spark.errors import ConfigError, DataError
from wsup_spark.io.base import job_description
from wsup_spark.io.delta import open_table, read_table

logger = logging.getLogger(__name__)

GOLD_COL = "gold"


def load_source(spark: Any, src: SourceConfig, paths: Sequence[str] | None = None) -> Any:
    """Return the corpus DataFrame: demo generator, CSV/JSON/Parquet files or a Delta table.

    ``src.columns`` renames columns (``{old: new}``) after reading. When ``src.gold_col`` is set the
    gold label is exposed as an integer column ``gold`` (null where unknown) that replaces it: gold
    is for evaluation only, and the LFs never see ``gold``. CSV files are read with a header,
    ``inferSchema`` (numeric columns arrive as numbers; ``source.options.inferSchema: false`` reads
    every column as a string and saves a pass over the files) and ``mode: FAILFAST`` (a malformed
    line fails the run instead of arriving as garbled text; ``source.options.mode: PERMISSIVE``
    accepts it).

    ``paths`` reads those files instead of ``src.path`` (the same format and options; Parquet data
    files for a Delta source), with the same renames and checks: an incremental run's new rows.
    """
    fmt = src.format
    if fmt == "demo":
        make_corpus = load_generator(src.generator)
        df = make_corpus(spark, n_rows=int(src.n_rows), seed=int(src.seed),
                         num_partitions=src.num_partitions)  # fmt: skip
    elif fmt == "delta" and paths is None:
        df = read_table(spark, str(src.path))
    else:
        reader = spark.read.format("parquet" if fmt == "delta" else fmt)
        opts = dict(src.options) if fmt != "delta" else {}
        if fmt == "csv":
            opts.setdefault("header", "true")
            opts.setdefault("multiLine", "true")
            opts.setdefault("escape", '"')
            opts.setdefault("inferSchema", "true")  # numbers as numbers (one extra pass)
            opts.setdefault("mode", "FAILFAST")  # a malformed line fails the run, never garbles
        for key, value in opts.items():
            reader = reader.option(key, value)
        where = list(paths) if paths is not None else str(src.path)
        try:
            df = reader.load(where)
        except Exception as e:
            if "PATH_NOT_FOUND" in str(e) or "Path does not exist" in str(e):
                what = "incremental.files" if paths is not None else "source.path"
                raise ConfigError(
                    f"{what} {where!r} does not exist (format {fmt}); fix {what}"
                ) from e
            raise
    for old, new in dict(src.columns).items():
        if old not in df.columns:
            raise DataError(
                f"source.columns renames {old!r}, which is not a corpus column; columns are "
                f"{df.columns}"
            )
        df = df.withColumnRenamed(old, new)
    if src.num_partitions and fmt != "demo":
        df = df.repartition(int(src.num_partitions))
    if src.id_col not in df.columns:
        raise DataError(
            f"id column {src.id_col!r} (source.id_col) is not in the corpus; columns are "
            f"{df.columns}. Point source.id_col at a stable unique row id"
        )
    if src.dedupe_ids:
        df = df.dropDuplicates([src.id_col])
    if src.check_ids:
        check_ids(df, src.id_col)
    if src.gold_col:
        df = with_gold(df, src.gold_col)
    return df


def delta_added_files(path: str, from_version: int, to_version: int) -> list[str]:
    """URIs of the data files version ``to_version`` of the Delta table at ``path`` has and
    ``from_version`` had not: the rows added in between (appends, and rows rewritten by updates
    or merges; deleted rows are not reported).

    Raises :class:`ConfigError` naming the table's versions when one does not exist.
    """
    try:
        _, old = open_table(path, from_version)
        _, new = open_table(path, to_version)
    except Exception as e:
        raise ConfigError(
            f"incremental.delta_versions [{from_version}, {to_version}]: Delta source {path!r} "
            f"cannot be read at both versions ({type(e).__name__}: {str(e)[:200]}); check "
            "DESCRIBE HISTORY for its versions"
        ) from e
    before = set(old.file_uris())
    return [f for f in new.file_uris() if f not in before]


def check_source_path(src: SourceConfig) -> None:
    """Raise :class:`ConfigError` when ``source.path`` names a local file or folder that does not
    exist — before a SparkSession starts (Spark would print pages of Java first).

    Local means a plain path or a ``file:`` URI; other schemes (``s3://``, ``dbfs:/``,
    ``hdfs://``) are left to Spark. Relative paths are read from the working directory, as Spark
    reads them; glob patterns must match something.
    """
    if src.format == "demo" or not src.path:
        return
    path = str(src.path)
    if path.startswith("file:"):
        path = path.removeprefix("file:").removeprefix("//")
    elif re.match(r"^[A-Za-z][\w+.-]*:", path) and not re.match(r"^[A-Za-z]:[\\/]", path):
        return  # a URI of another file system
    if glob.has_magic(path) and glob.glob(path):
        return
    if os.path.exists(path):
        return
    rel = "" if os.path.isabs(path) else f"; a relative path is read from {os.getcwd()}"
    parent = os.path.dirname(os.path.abspath(path))
    near = ""
    if os.path.isdir(parent):
        names = difflib.get_close_matches(os.path.basename(path), os.listdir(parent), n=3)
        near = f"; similar names there: {names}" if names else ""
    raise ConfigError(
        f"source.path {src.path!r} does not exist (format {src.format}{rel}){near}; fix "
        "source.path or pass --set source.path=..."
    )


def load_generator(target: str) -> Any:
    """The corpus generator ``"pkg.module:function"`` named by ``source.generator``.

    It is called as ``f(spark, n_rows=..., seed=..., num_partitions=...)`` and returns a DataFrame
    (the default is the synthetic radiology corpus of the demo). Loaded by name, like LF modules.
    """
    module, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module), name or "make_corpus")
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            f"source.generator {target!r} cannot be loaded ({e}); name a function as "
            "'pkg.module:function'"
        ) from e


def with_gold(df: Any, gold_col: str) -> Any:
    """Replace ``gold_col`` by an integer column named ``gold`` (non-integers become null, also
    under Spark 4's ANSI casts: ``try_cast``)."""
    if gold_col not in df.columns:
        raise DataError(
            f"gold column {gold_col!r} (source.gold_col) is not in the corpus; columns are "
            f"{df.columns}. Remove source.gold_col or fix the name"
        )
    quoted = gold_col.replace("`", "``")
    df = df.withColumn(GOLD_COL, F.expr(f"try_cast(`{quoted}` AS INT)"))
    return df if gold_col == GOLD_COL else df.drop(gold_col)


def check_ids(df: Any, id_col: str, show: int = 5) -> None:
    """Raise :class:`DataError` when ``id_col`` has nulls or repeated values (one shuffle)."""
    with job_description(df.sparkSession, f"check ids ({id_col})"):
        nulls = df.where(F.col(id_col).isNull()).limit(1).count()
        if nulls:
            raise DataError(
                f"id column {id_col!r} has null values; every row needs a stable non-null id"
            )
        dups = (df.groupBy(id_col).count().where(F.col("count") > 1)
                .orderBy(F.col("count").desc(), F.col(id_col)).limit(show).collect())  # fmt: skip
    if dups:
        ex = ", ".join(f"{r[id_col]!r} x{r['count']}" for r in dups)
        raise DataError(
            f"id column {id_col!r} has repeated values (e.g. {ex}); ids must be unique. Fix the "
            "source or set source.dedupe_ids: true to keep one row per id"
        )
