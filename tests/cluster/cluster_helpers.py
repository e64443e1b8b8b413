"""Helpers shared by the cluster / Airflow / Databricks tests (imported as ``cluster_helpers``).

These tests run Spark in subprocesses (spark-submit, ``airflow dags test``), so they never use
the shared in-process ``spark`` fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "scripts" / "cluster" / "cluster.py"


def cluster_script() -> Any:
    """``scripts/cluster/cluster.py`` imported as a module (its process helpers)."""
    from script_modules import load_script

    return load_script(str(CLUSTER.relative_to(REPO)), "wsup_cluster_script")


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for Spark subprocesses: this Python everywhere, loopback networking."""
    env = dict(os.environ)
    for key in ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET", "SPARK_MASTER_URL"):
        env.pop(key, None)
    env.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def run_cluster_cmd(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CLUSTER), *args],
        capture_output=True, text=True, timeout=timeout, env=subprocess_env(), cwd=REPO,
    )  # fmt: skip


def read_delta(path: str | Path, version: int | None = None) -> tuple[Any, Any]:
    """(pyarrow Table, DeltaTable) of a Delta table, read with deltalake's file list + pyarrow."""
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    dt = DeltaTable(str(path), version=version)
    return ds.dataset(dt.file_uris(), format="parquet").to_table(), dt


def commit_metadata(dt: Any, version: int) -> dict[str, Any]:
    for entry in dt.history():
        if entry.get("version") == version:
            raw = entry.get("userMetadata")
            return json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    raise AssertionError(f"no commit {version} in the table's history")


def last_json(text: str) -> dict[str, Any]:
    """The JSON object printed last (``jobs/label.py --json`` prints an indented one)."""
    start = text.rfind("\n{")
    start = 0 if text.startswith("{") and start < 0 else start + 1
    return dict(json.loads(text[start:]))


def tail(text: str, n: int = 4000) -> str:
    return text[-n:]


def cluster_logs(state: dict[str, Any]) -> str:
    return "\n".join(
        f"== {p['name']}\n{tail(Path(p['log']).read_text(errors='replace'), 1500)}"
        for p in state["processes"]
        if Path(p["log"]).exists()
    )


def submit_args(
    state: dict[str, Any], dist: Path, app_args: Sequence[str], py_files: Sequence[str] = (),
    conf: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    cmd = [sys.executable, str(CLUSTER), "submit", "--dir", state["dir"], "--out", str(dist)]
    for f in py_files:
        cmd += ["--py-files", f]
    for c in ["spark.log.level=WARN", *conf]:
        cmd += ["--conf", c]
    return [*cmd, "--", *app_args]
