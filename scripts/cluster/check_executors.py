"""Smoke job: can the executors import wsup_spark, and which Python and files do they use?

    python scripts/cluster/cluster.py submit -- scripts/cluster/check_executors.py

Prints one JSON line per executor process seen (host, pid, python, where wsup_spark was
imported from) and exits non-zero when an executor cannot import the package.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any


def _probe(_: Iterator[Any]) -> Iterator[str]:
    import os
    import socket

    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(),
                            "python": sys.executable}  # fmt: skip
    try:
        import wsup_spark

        info["wsup_spark"] = wsup_spark.__file__
        info["version"] = getattr(wsup_spark, "__version__", None)
    except Exception as e:  # reported, not raised: the point is to see every executor
        info["error"] = f"{type(e).__name__}: {e}"
    yield json.dumps(info, sort_keys=True)


def main() -> int:
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("wsup-check-executors").getOrCreate()
    sc = spark.sparkContext
    n = max(4, sc.defaultParallelism * 2)
    seen = sorted(set(sc.parallelize(range(n), n).mapPartitions(_probe).collect()))
    for line in seen:
        print("EXECUTOR " + line)
    print(f"MASTER {sc.master}")
    spark.stop()
    return 1 if any('"error"' in s for s in seen) else 0


if __name__ == "__main__":
    raise SystemExit(main())
