"""Shared fixtures: one local SparkSession per test run, data paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CONNECT_PORT = _free_port()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A real local SparkSession: local[2], UI off, few shuffle partitions."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("wsup_spark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.driver.memory", "2g")
        .config("spark.connect.grpc.binding.port", str(CONNECT_PORT))  # see connect_url
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test when this checkout has no shared data."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (only CI/dev machines have it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def connect_url(spark: Any) -> str:
    """``sc://localhost:<port>``: a real Spark Connect server on the shared session's SparkContext
    (started once, on first use). Clients run in subprocesses with ``SPARK_REMOTE`` set — one
    Python process cannot hold a classic and a Connect session side by side. Skips when pyspark's
    Connect client dependencies (``pip install "wsup-spark[connect]"``) are missing, except under
    ``CI=true``, where they are installed and a skip would hide a failure."""
    try:
        import grpc  # noqa: F401
        import pyspark.sql.connect.session  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Spark Connect client not installed ({e}): pip install 'wsup-spark[connect]'")
    service = spark._jvm.org.apache.spark.sql.connect.service.SparkConnectService
    service.start(spark._jsc.sc())
    return f"sc://localhost:{CONNECT_PORT}"
