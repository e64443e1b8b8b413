"""Fixtures of the delta-spark tests: one local SparkSession with Delta Lake's Spark integration.

These tests need delta-spark and its jars, which the main environment does not have: every test
module here starts with ``pytest.importorskip("delta")``, so the main test run skips the folder.
Set up and run them with ``bash scripts/delta_spark/setup.sh && bash scripts/delta_spark/test.sh``.

When delta-spark is installed but the session cannot load the jars, the tests fail under
``CI=true`` (CI must exercise this path) and skip elsewhere, naming the cause. Run together with
other folders (whose fixture starts a session without Delta first) they skip.

The session is ``local[2,2]``: two threads like ``local[2]``, and a failed task is retried once, as
on a cluster (the retry tests need that).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

MASTER = "local[2,2]"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the delta-spark path must run, but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


os.environ.setdefault("WSUP_CONNECT_PORT", str(_free_port()))


@pytest.fixture(scope="session")
def connect_url(spark: Any) -> str:
    """``sc://localhost:<port>``: a Spark Connect server on the Delta-configured session (clients
    run in subprocesses with ``SPARK_REMOTE``)."""
    spark._jvm.org.apache.spark.sql.connect.service.SparkConnectService.start(spark._jsc.sc())
    return f"sc://localhost:{os.environ['WSUP_CONNECT_PORT']}"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real local SparkSession with Delta configured: local[2,2], UI off, 2 shuffle partitions."""
    from delta_spark_session import delta_session, jars_source
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and "delta" not in active.conf.get("spark.sql.extensions", "").lower():
        pytest.skip(  # a skip even under CI: scripts/delta_spark/test.sh runs this folder alone
            "a SparkSession without Delta is already running in this pytest process (another "
            "folder's fixture); run tests/delta_spark on its own: scripts/delta_spark/test.sh"
        )
    try:
        session = delta_session(MASTER)
        probe = str(tmp_path_factory.mktemp("probe") / "t")
        session.range(1).write.format("delta").save(probe)  # the Delta classes are there
    except Exception as e:
        first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        _unavailable(
            f"no Spark session with the Delta jars ({jars_source()}): {first[:300]}. Run "
            "scripts/delta_spark/setup.sh"
        )
    yield session
    session.stop()
