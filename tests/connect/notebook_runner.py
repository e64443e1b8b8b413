"""Run the Databricks notebook's cells on a Spark Connect session (``SPARK_REMOTE``), as on
Databricks serverless or a standard-access-mode cluster; prints ``EXIT:<value>`` at the end.

    SPARK_REMOTE=sc://localhost:15002 python tests/connect/notebook_runner.py '<widgets JSON>'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))

from pyspark.sql import SparkSession
from test_databricks_notebook import NOTEBOOK, FakeDbutils, run_notebook


def main() -> None:
    spark = SparkSession.builder.getOrCreate()  # a Connect session: SPARK_REMOTE is set
    assert type(spark).__module__.startswith("pyspark.sql.connect"), type(spark)
    html: list[str] = []

    def display(obj: Any) -> None:
        if hasattr(obj, "toPandas"):
            obj.limit(1000).toPandas()

    dbutils = FakeDbutils(json.loads(sys.argv[1]))
    ns: dict[str, Any] = {"__name__": "__main__", "spark": spark, "dbutils": dbutils,
                          "display": display, "displayHTML": html.append}  # fmt: skip
    os.chdir(NOTEBOOK.parent)
    value = run_notebook(ns) or ""
    assert html and "LF analysis report" in html[0]
    print("EXIT:" + value)


if __name__ == "__main__":
    main()
