"""The Databricks notebook against a session with Delta configured, as on a cluster: its cells run
in order with this folder's Delta session as ``spark``, so ``writer: auto`` picks Spark's own
Delta writer. The notebook runner (cells, dbutils stand-in) is tests/cluster's."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("delta", reason="delta-spark is not installed (scripts/delta_spark/setup.sh)")

from script_modules import load_script

from wsup_spark.io import commit_history, read_arrow

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "scripts" / "databricks" / "wsup_label.py"


def _runner() -> Any:
    """tests/cluster/test_databricks_notebook.py, imported under another name (its helpers)."""
    cluster = REPO / "tests" / "cluster"
    if str(cluster) not in sys.path:
        sys.path.append(str(cluster))  # its cluster_helpers import
    return load_script("tests/cluster/test_databricks_notebook.py", "databricks_notebook_runner")


def test_notebook_writes_with_sparks_delta_writer(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _runner()
    out, run_id, n = tmp_path / "out", "notebook-delta", 2000
    widgets = {
        "config": "conf/databricks.yaml",
        "output_path": str(out),
        "mode": "append",
        "run_id": run_id,
        "overrides": f"source.n_rows={n}; source.num_partitions=2\noutput.training_table=false",
        "ship_package": "no",
    }
    shown: list[Any] = []
    html: list[str] = []

    def display(obj: Any) -> None:
        shown.append(obj.limit(1000).toPandas() if hasattr(obj, "toPandas") else obj)

    ns: dict[str, Any] = {"__name__": "__main__", "spark": spark,
                          "dbutils": nb.FakeDbutils(widgets), "display": display,
                          "displayHTML": html.append}  # fmt: skip
    monkeypatch.chdir(NOTEBOOK.parent)
    exit_value = nb.run_notebook(ns)
    result = ns["result"]
    assert result.run_id == run_id and result.n_rows == n
    for table in ("votes", "labels"):
        (commit,) = commit_history(str(out / table))
        assert commit["run_id"] == run_id and commit["metadata"]["writer"] == "spark"
        assert sorted(read_arrow(str(out / table)).column("id").to_pylist()) == list(range(n))
        history = spark.sql(f"DESCRIBE HISTORY delta.`{out / table}`").collect()
        assert json.loads(history[0]["userMetadata"])["run_id"] == run_id
    assert html and run_id in html[0]
    assert json.loads(exit_value or "{}")["run_id"] == run_id
