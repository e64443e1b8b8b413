"""A local SparkSession with Delta Lake's Spark integration, the way a user gets one.

Jars come, in this order, from

* ``$WSUP_DELTA_JARS``: a folder of jars (``scripts/delta_spark/setup.sh`` fills
  ``.cache/delta-jars/jars`` with ``mvn dependency:copy`` when Spark's resolver fails), passed as
  ``spark.jars``;
* otherwise ``delta.configure_spark_with_delta_pip`` (``spark.jars.packages``, resolved by Spark's
  Ivy into ``$WSUP_DELTA_IVY``, default ``.cache/delta-jars/ivy`` at the repository root).

Run as a script it starts such a session, writes and reads a small table and prints the versions
(``scripts/delta_spark/setup.sh`` uses it to fetch the jars once).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_IVY = REPO / ".cache" / "delta-jars" / "ivy"

DELTA_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

TEST_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    # Delta rebuilds table snapshots with this many tasks (default 50): tiny test tables need 2
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.driver.memory": "2g",
}


def jars_source() -> str:
    """Where the Delta jars will come from, in words (for logs and skip/failure messages)."""
    jars = os.environ.get("WSUP_DELTA_JARS")
    if jars:
        return f"spark.jars from {jars}"
    return f"spark.jars.packages via Ivy (cache {os.environ.get('WSUP_DELTA_IVY', DEFAULT_IVY)})"


def delta_session(master: str = "local[2]", app_name: str = "wsup_spark-delta-tests") -> Any:
    """Start (or return) a local SparkSession with Delta configured."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    port = os.environ.get("WSUP_CONNECT_PORT")
    if port:  # a Spark Connect server may be started on this session (tests/delta_spark)
        builder = builder.config("spark.connect.grpc.binding.port", port)
    for key, value in {**TEST_CONF, **DELTA_CONF}.items():
        builder = builder.config(key, value)
    jars = os.environ.get("WSUP_DELTA_JARS")
    if jars:
        found = sorted(str(p) for p in Path(jars).glob("*.jar"))
        if not found:
            raise RuntimeError(f"WSUP_DELTA_JARS={jars} holds no jars; run setup.sh again")
        builder = builder.config("spark.jars", ",".join(found))
    else:
        from delta import configure_spark_with_delta_pip

        ivy = os.environ.get("WSUP_DELTA_IVY", str(DEFAULT_IVY))
        builder = configure_spark_with_delta_pip(builder.config("spark.jars.ivy", ivy))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> int:
    """Start a Delta session, write + read a 3-row table, print versions and timings."""
    t0 = time.perf_counter()
    print(f"starting a Spark session with Delta ({jars_source()})", flush=True)
    spark = delta_session(app_name="wsup_spark-delta-prefetch")
    t1 = time.perf_counter()
    print(f"session up in {t1 - t0:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t")
        spark.range(3).write.format("delta").save(path)
        n = spark.read.format("delta").load(path).count()
        engine = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()[0]["engineInfo"]
    spark.stop()
    if n != 3:
        print(f"error: read back {n} rows, wrote 3", file=sys.stderr)
        return 1
    print(f"wrote and read a Delta table in {time.perf_counter() - t1:.1f} s ({engine})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
