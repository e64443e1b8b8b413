"""Spark's Delta writer from a Spark Connect client (Databricks serverless' path): a real Connect
server on the Delta-configured session, `wsup run` in a client process with ``SPARK_REMOTE``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("delta", reason="delta-spark is not installed (scripts/delta_spark/setup.sh)")
pytest.importorskip("grpc", reason="the Connect client is not installed (.[connect])")

from wsup_spark.io import read_arrow

REPO = Path(__file__).resolve().parents[2]


def test_wsup_run_on_connect_writes_with_sparks_delta_writer(
    spark: Any, connect_url: str, tmp_path: Path
) -> None:
    out, n = tmp_path / "out", 1500
    env = {**os.environ, "SPARK_REMOTE": connect_url, "PYTHONPATH": str(REPO)}
    args = ["run", "--config", "conf/demo.yaml", "--json", "--set", f"source.n_rows={n}",
            "--set", f"output.path={out}", "--set", "run_id=rc", "--set", "output.mode=append"]
    for _ in range(2):  # a rerun of the run id replaces its rows (replaceWhere + txnAppId)
        done = subprocess.run([sys.executable, "-m", "wsup_spark.cli", *args], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["run_id"] == "rc" and summary["n_rows"] == n
    for table in ("votes", "labels", "train"):  # read back with Spark's Delta reader
        df = spark.read.format("delta").load(str(out / table))
        assert df.count() == n, table
        assert [r[0] for r in df.select("run_id").distinct().collect()] == ["rc"], table
    history = spark.sql(f"DESCRIBE HISTORY delta.`{out / 'labels'}`").collect()
    assert {json.loads(r["userMetadata"])["writer"] for r in history} == {"spark"}
    # Known limit (pyspark/delta-spark 4.2/4.4): string columns of a DataFrame built on a Connect
    # client reach the Delta schema as 'string collate UTF8_BINARY', which deltalake 1.6 cannot
    # read yet — so wsup's deltalake readers (wsup train, read_arrow) cannot open these tables.
    with pytest.raises(Exception, match="collate"):
        read_arrow(str(out / "votes"))
