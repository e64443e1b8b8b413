"""The one place that builds a SparkSession (used by jobs/ and the CLI, never by library code)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from wsup_spark.io.delta import delta_configured

__all__ = ["delta_configured", "get_or_create_session", "submitted_conf"]

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

#: Applied under spark-submit too, unless submitted: files committed to Delta need microsecond
#: timestamps.
SUBMIT_DEFAULTS: dict[str, str] = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def get_or_create_session(
    master: str | None = None,
    app_name: str = "wsup_spark",
    conf: Mapping[str, Any] | None = None,
) -> Any:
    """Return the active SparkSession, the one spark-submit prepared, or a new local one.

    * An active session (Databricks, a notebook, a test fixture) is returned untouched.
    * Under ``spark-submit`` (or the ``pyspark`` shell) the JVM is already up with the submitted
      ``--master`` and ``--conf`` values: the session is built from those, ``master`` is ignored
      (with a warning when it differs) and no local defaults are applied; ``conf`` entries are
      added only where spark-submit did not set the key.
    * Otherwise a local session is built: ``master`` (default ``local[*]``), loopback networking,
      :data:`LOCAL_DEFAULTS`, then ``conf``.

    Parameters
    ----------
    master : str, optional
        Master URL for a new session (``local[4]``, ``spark://host:7077``).
    app_name : str
        Application name of a new session.
    conf : mapping, optional
        Spark configuration for a new session.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        logger.info("using the active SparkSession (master=%s)", active.sparkContext.master)
        return active
    builder = SparkSession.builder.appName(app_name)
    submitted = submitted_conf()
    if submitted is not None:
        sub_master = submitted.get("spark.master")
        if master is not None and sub_master is not None and master != sub_master:
            logger.warning(
                "spark.master=%s from the config is ignored: spark-submit set --master %s",
                master, sub_master,
            )  # fmt: skip
        if sub_master is None and master is not None:
            builder = builder.master(master)
        for key, value in {**SUBMIT_DEFAULTS, **(conf or {})}.items():
            if key not in submitted:
                builder = builder.config(key, str(value))
    else:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        master = master or "local[*]"
        builder = builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            for key, value in LOCAL_DEFAULTS.items():
                builder = builder.config(key, value)
        for key, value in (conf or {}).items():
            builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    logger.info("started SparkSession (master=%s)", spark.sparkContext.master)
    return spark


def submitted_conf() -> dict[str, str] | None:
    """The Spark conf spark-submit passed to this driver, or None when not under spark-submit.

    spark-submit (and the ``pyspark`` shell) start the JVM first and tell Python its gateway port
    in ``PYSPARK_GATEWAY_PORT``; the submitted ``--master``/``--conf`` values are then JVM system
    properties, which ``SparkConf()`` loads once the gateway is connected (this does not start a
    JVM of its own).
    """
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return None
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    return dict(SparkConf().getAll())
