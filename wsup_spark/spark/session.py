"""The one place that builds a SparkSession (used by jobs/ and the CLI, never by library code)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "4g",
}


def get_or_create_session(
    master: str | None = None,
    app_name: str = "wsup_spark",
    conf: Mapping[str, Any] | None = None,
) -> Any:
    """Return the active SparkSession, or build a local one.

    An existing session (spark-submit, Databricks, a notebook) is always reused untouched. A new
    session is built only when none is active; ``master`` defaults to ``local[*]`` unless
    spark-submit already set ``spark.master``.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        logger.info("using the active SparkSession (master=%s)", active.sparkContext.master)
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    submitted_master = os.environ.get("SPARK_MASTER") or _conf_from_submit("spark.master")
    if master is None and submitted_master is None:
        master = "local[*]"
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        for key, value in LOCAL_DEFAULTS.items():
            builder = builder.config(key, value)
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    logger.info("started SparkSession (master=%s)", spark.sparkContext.master)
    return spark


def _conf_from_submit(key: str) -> str | None:
    # spark-submit passes its --conf values to the driver as Java system properties, visible to
    # pyspark through the PYSPARK_SUBMIT_ARGS-free path only once the JVM is up; the env var
    # SPARK_MASTER or an explicit master covers the rest.
    return None


def delta_configured(spark: Any) -> bool:
    """True when the session has Delta Lake's Spark integration (Databricks or io.delta jars)."""
    conf = spark.conf
    ext = conf.get("spark.sql.extensions", "") or ""
    catalog = conf.get("spark.sql.catalog.spark_catalog", "") or ""
    if "delta" in ext.lower() or "delta" in catalog.lower():
        return True
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))
