"""The one place that builds a SparkSession (used by jobs/ and the CLI, never by library code)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from wsup_spark.io.delta import delta_configured

__all__ = [
    "default_parallelism",
    "delta_configured",
    "describe_session",
    "get_or_create_session",
    "is_connect",
    "num_partitions",
    "remote_url",
    "submitted_conf",
]

logger = logging.getLogger(__name__)

LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "4g",
    # Arrow batches to Python workers (apply, predict) end at maxRecordsPerBatch rows only, as
    # in Spark 3: the 64 MB byte cap of Spark 4 sizes the Arrow buffers after every row, a
    # quarter of the JVM's CPU when rows are short (scripts/bench_apply.py --preset regex10).
    # Corpora of very long documents (> ~10 KB a row) should set a byte cap back.
    "spark.sql.execution.arrow.maxBytesPerBatch": str(2**31 - 1),
}

#: Applied under spark-submit too, unless submitted: files committed to Delta need microsecond
#: timestamps.
SUBMIT_DEFAULTS: dict[str, str] = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


#: Session-level SQL settings that a Spark Connect session accepts (``spark.conf.set``); static
#: settings (driver memory, UI, master) belong to the server there.
CONNECT_DEFAULTS: dict[str, str] = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.session.timeZone": "UTC",
}


def is_connect(spark: Any) -> bool:
    """True for a Spark Connect session (Databricks serverless / shared clusters / ``sc://``)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def describe_session(spark: Any) -> str:
    """``master=local[2]`` for a classic session, ``Spark Connect`` for a remote one."""
    if is_connect(spark):
        return "Spark Connect"
    return f"master={spark.sparkContext.master}"


def default_parallelism(spark: Any) -> int:
    """The session's default parallelism; on Spark Connect (no SparkContext) the
    ``spark.default.parallelism`` setting, else ``spark.sql.shuffle.partitions``."""
    if not is_connect(spark):
        return int(spark.sparkContext.defaultParallelism)
    for key in ("spark.default.parallelism", "spark.sql.shuffle.partitions"):
        try:
            value = spark.conf.get(key, None)
        except Exception:
            value = None
        if value:
            return max(1, int(value))
    return 8


def num_partitions(df: Any) -> int | None:
    """Partitions of ``df``; None on Spark Connect, where a DataFrame does not expose them."""
    if is_connect(df.sparkSession):
        return None
    return int(df.rdd.getNumPartitions())


def remote_url(conf: Mapping[str, Any] | None = None) -> str | None:
    """The Spark Connect URL to use: ``conf["spark.remote"]`` (config ``spark.conf``), else the
    ``SPARK_REMOTE`` environment variable, else None (a classic session)."""
    url = (conf or {}).get("spark.remote") or os.environ.get("SPARK_REMOTE")
    return str(url) if url else None


def get_or_create_session(
    master: str | None = None,
    app_name: str = "wsup_spark",
    conf: Mapping[str, Any] | None = None,
    remote: str | None = None,
) -> Any:
    """Return the active SparkSession, the one spark-submit prepared, a Spark Connect session, or
    a new local one.

    * An active session (Databricks, a notebook, a test fixture) is returned untouched.
    * ``remote`` (or ``spark.remote`` in ``conf``, or ``SPARK_REMOTE``): a Spark Connect session
      to that URL (``sc://host:15002``, or ``local[2]`` for pyspark's own local server); no master
      is set (Connect forbids it), and only session-level SQL settings are applied.
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
    remote : str, optional
        Spark Connect URL.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        logger.info("using the active SparkSession (%s)", describe_session(active))
        return active
    url = remote or remote_url(conf)
    if url is not None:
        return _connect_session(url, app_name, conf)
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
    logger.info("started SparkSession (%s)", describe_session(spark))
    return spark


def _connect_session(url: str, app_name: str, conf: Mapping[str, Any] | None) -> Any:
    """A Spark Connect session to ``url`` with the session-level settings applied."""
    from pyspark.sql import SparkSession

    if url.startswith("local"):  # pyspark starts a local Connect server with this master
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = SparkSession.builder.remote(url).appName(app_name).getOrCreate()
    for key, value in {**CONNECT_DEFAULTS, **(conf or {})}.items():
        if key in ("spark.remote", "spark.master"):
            continue
        try:
            spark.conf.set(key, str(value))
        except Exception as e:  # a static setting: the server's to decide
            logger.warning("spark.conf %s=%s not applied on Spark Connect: %s", key, value, e)
    logger.info("started a Spark Connect session (%s)", url)
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
