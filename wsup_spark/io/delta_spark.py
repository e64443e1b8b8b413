"""The native writer: Spark's own ``format("delta")`` (Databricks, or a session with io.delta jars).

Used when the session has Delta configured (``delta_configured(spark)``) or when asked for with
``writer="spark"``. Tested against real Delta jars in ``tests/delta_spark`` (its own environment:
``scripts/delta_spark/setup.sh``).

One ``save`` is one Delta commit (Spark's Delta writer commits only when every task succeeded), so
a failed job leaves the table at its previous version; files of failed task attempts are never
committed (``VACUUM`` deletes them).

Idempotency: when the DataFrame has a ``run_id`` column (the pipeline's votes and labels tables),
append mode writes with ``replaceWhere "run_id = '<run_id>'"``, so rerunning a run replaces its
rows atomically, like the delta-rs writer. Without that column a rerun appends the rows again.
Every commit also records the run in Delta's ``txn`` action (options ``txnAppId`` =
``"wsup_spark:<run_id>"``, ``txnVersion`` = a number above the table's previous one for that id),
the marker the delta-rs writer records too. Taps are not supported (``WriteResult.taps is None``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from wsup_spark.errors import DataError, WriteError, error_cause
from wsup_spark.io.base import WriteResult, app_id, job_description, user_metadata_json

logger = logging.getLogger(__name__)

RUN_ID_COLUMN = "run_id"
#: How many recent commits are searched for the one a write made (others may commit meanwhile).
HISTORY_SEARCH = 20


def write_spark_delta(
    df: Any, uri: str, *, run_id: str, mode: str, user_meta: dict[str, Any], description: str
) -> WriteResult:
    """Write ``df`` with Spark's Delta data source; see :func:`wsup_spark.io.delta.write_table`."""
    spark = df.sparkSession
    meta_json = user_metadata_json(user_meta)
    current = table_schema(spark, uri)
    if mode in ("append", "add") and current is not None:
        check_append_schema(current, df.schema, uri)
    txn_app = app_id(run_id)
    txn_version = next_txn_version(uri, txn_app)
    writer = (
        df.write.format("delta")
        .option("userMetadata", meta_json)
        .option("txnAppId", txn_app)
        .option("txnVersion", str(txn_version))
    )
    if mode == "append" and RUN_ID_COLUMN in df.columns:
        writer = writer.mode("overwrite").option("replaceWhere", run_predicate(run_id))
    elif mode == "add":  # incremental runs: new rows only, earlier rows of the run id stay
        writer = writer.mode("append")
    else:
        if mode == "append":
            logger.warning(
                "writing %s with the Spark Delta writer: the DataFrame has no %r column, so "
                "rerunning run %r appends its rows again", uri, RUN_ID_COLUMN, run_id,
            )  # fmt: skip
        writer = writer.mode(mode)
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
    try:
        with job_description(spark, description):
            writer.save(uri)
    except Exception as e:
        state = "did not exist" if current is None else "stays at its previous version"
        raise WriteError(
            f"writing Delta table {uri} (run_id={run_id!r}) with Spark's Delta writer failed; "
            f"nothing was committed and the table {state}. Fix the cause and rerun with the same "
            f"run_id. Cause: {error_cause(e)}"
        ) from e
    commit = find_commit(spark, uri, meta_json)
    metrics = dict(commit["operationMetrics"] or {})
    result = WriteResult(
        path=uri,
        version=int(commit["version"]),
        num_rows=int(metrics.get("numOutputRows") or 0),
        num_files=int(metrics.get("numFiles") or metrics.get("numAddedFiles") or 0),
        files=[],
        taps=None,
        writer="spark",
    )
    logger.info(
        "committed %s version %d with Spark's Delta writer: %d rows in %d files (run %s, %s)",
        uri, result.version, result.num_rows, result.num_files, run_id, mode,
    )  # fmt: skip
    return result


def run_predicate(run_id: str) -> str:
    """The ``replaceWhere`` predicate selecting the rows of ``run_id``.

    >>> run_predicate("it's")
    "run_id = 'it\\\\'s'"
    """
    quoted = run_id.replace("\\", "\\\\").replace("'", "\\'")
    return f"{RUN_ID_COLUMN} = '{quoted}'"


def table_schema(spark: Any, uri: str) -> Any:
    """The ``StructType`` of the Delta table at ``uri``, or None when there is no table."""
    try:
        return spark.read.format("delta").load(uri).schema
    except Exception as e:  # not a Delta table / path absent: AnalysisException
        logger.debug("no Delta table at %s (%s)", uri, error_cause(e))
        return None


def _columns(schema: Any) -> list[tuple[str, str]]:
    """(name, type) per column; nullability is ignored (Delta widens it on write)."""
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def check_append_schema(table: Any, incoming: Any, uri: str) -> None:
    """:class:`DataError` when ``incoming`` (a StructType) cannot be appended to ``table``'s."""
    have, got = _columns(table), _columns(incoming)
    if have == got:
        return
    have_d, got_d = dict(have), dict(got)
    diff = [f"missing {n}" for n in have_d if n not in got_d]
    diff += [f"extra {n}" for n in got_d if n not in have_d]
    diff += [f"{n}: {have_d[n]} in the table, {got_d[n]} given" for n in have_d
             if n in got_d and have_d[n] != got_d[n]]  # fmt: skip
    if not diff:
        diff = [f"column order {[n for n, _ in got]}, table has {[n for n, _ in have]}"]
    raise DataError(
        f"cannot append to Delta table {uri}: the DataFrame's schema differs from the table's "
        f"({'; '.join(diff)}). Select/cast the columns to the table's schema, or write with "
        "mode='overwrite' to replace the table and its schema"
    )


def next_txn_version(uri: str, txn_app: str) -> int:
    """A ``txnVersion`` above the table's recorded one for ``txn_app`` (ms since the epoch).

    Spark's Delta writer silently skips a write whose ``txnVersion`` is not above the recorded
    one; reruns must never be skipped, so the version only grows. The recorded value is read
    with deltalake when it can open the table (best effort: the clock alone is used otherwise).
    """
    now = int(time.time() * 1000)
    try:
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(uri):
            return now
        previous = DeltaTable(uri).transaction_version(txn_app)
    except Exception as e:
        logger.debug("cannot read the txn version of %s in %s: %s", txn_app, uri, e)
        return now
    return now if previous is None else max(now, int(previous) + 1)


def find_commit(spark: Any, uri: str, meta_json: str) -> Any:
    """The newest commit of ``uri`` whose ``userMetadata`` is ``meta_json`` (a history row)."""
    quoted = uri.replace("`", "``")
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{quoted}` LIMIT {HISTORY_SEARCH}").collect()
    for row in rows:
        if row["userMetadata"] == meta_json:
            return row
    raise WriteError(
        f"Spark's Delta writer returned, but none of the last {len(rows)} commits of {uri} "
        f"carries this write's metadata ({json.loads(meta_json).get('run_id')!r}); check "
        "DESCRIBE HISTORY for concurrent writers"
    )
