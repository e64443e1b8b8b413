"""The native writer: Spark's own ``format("delta")`` (Databricks, or a session with io.delta jars).

Used only when the session has Delta configured (``delta_configured(spark)``) or when asked for with
``writer="spark"``. Not exercised by this repository's tests: Maven is unreachable here, so the
Delta jars cannot be loaded.

Idempotency: when the DataFrame has a ``run_id`` column (the pipeline's votes and labels tables),
append mode writes with ``replaceWhere "run_id = '<run_id>'"``, so rerunning a run replaces its
rows atomically, like the delta-rs writer. Without that column a rerun appends the rows again.
Taps are not supported (``WriteResult.taps is None``).
"""

from __future__ import annotations

import logging
from typing import Any

from wsup_spark.io.base import WriteResult, job_description, user_metadata_json

logger = logging.getLogger(__name__)

RUN_ID_COLUMN = "run_id"


def write_spark_delta(
    df: Any, uri: str, *, run_id: str, mode: str, user_meta: dict[str, Any], description: str
) -> WriteResult:
    """Write ``df`` with Spark's Delta data source; see :func:`wsup_spark.io.delta.write_table`."""
    spark = df.sparkSession
    writer = df.write.format("delta").option("userMetadata", user_metadata_json(user_meta))
    if mode == "append" and RUN_ID_COLUMN in df.columns:
        quoted = run_id.replace("\\", "\\\\").replace("'", "\\'")
        writer = writer.mode("overwrite").option("replaceWhere", f"{RUN_ID_COLUMN} = '{quoted}'")
    else:
        if mode == "append":
            logger.warning(
                "writing %s with the Spark Delta writer: the DataFrame has no %r column, so "
                "rerunning run %r appends its rows again", uri, RUN_ID_COLUMN, run_id,
            )  # fmt: skip
        writer = writer.mode(mode)
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
    with job_description(spark, description):
        writer.save(uri)
        quoted_path = uri.replace("`", "``")
        last = spark.sql(f"DESCRIBE HISTORY delta.`{quoted_path}` LIMIT 1").collect()[0]
    metrics = dict(last["operationMetrics"] or {})
    return WriteResult(
        path=uri,
        version=int(last["version"]),
        num_rows=int(metrics.get("numOutputRows") or 0),
        num_files=int(metrics.get("numFiles") or metrics.get("numAddedFiles") or 0),
        files=[],
        taps=None,
        writer="spark",
    )
