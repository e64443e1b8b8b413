"""The Airflow DAG (scripts/airflow/dags/wsup_label_dag.py) with real Airflow, in its own venv.

Skipped when the venv is absent; ``bash scripts/airflow/setup.sh`` creates it (pinned versions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import REPO, commit_metadata, read_delta, subprocess_env, tail

VENV = Path(os.environ.get("WSUP_AIRFLOW_VENV") or REPO / "scripts" / "airflow" / ".venv")
AIRFLOW = VENV / "bin" / "airflow"
DAGS = REPO / "scripts" / "airflow" / "dags"

pytestmark = pytest.mark.skipif(
    not AIRFLOW.exists(),
    reason=f"no Airflow venv at {VENV}: run `bash scripts/airflow/setup.sh` to test the DAG",
)


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh AIRFLOW_HOME (SQLite), the DAG folder, a local[2] Spark connection, variables."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = subprocess_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_SPARK_WSUP=json.dumps({"conn_type": "spark", "host": "local[2]"}),
        AIRFLOW_VAR_WSUP_PYTHON=sys.executable,
        AIRFLOW_VAR_WSUP_REPO=str(REPO),
        AIRFLOW_VAR_WSUP_DIST=str(home / "dist"),
    )
    for key in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(key, None)
    return env


def test_dag_imports_with_expected_tasks(airflow_env: dict[str, str]) -> None:
    probe = r"""
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=DAGS)
dag = bag.dags.get("wsup_label")
out = {"errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags)}
if dag is not None:
    out["tasks"] = {t.task_id: {"type": type(t).__name__, "up": sorted(t.upstream_task_ids),
                                "retries": t.retries} for t in dag.tasks}
    label = dag.get_task("label")
    out["conn_id"] = label._conn_id
    out["timetable"] = type(dag.timetable).__name__
    out["cron"] = getattr(dag.timetable, "expression", None)
    out["schedule"] = str(dag.schedule)
    out["catchup"] = dag.catchup
    out["max_active_runs"] = dag.max_active_runs
    out["params"] = sorted(dag.params.keys())
print(json.dumps(out))
""".replace("DAGS", repr(str(DAGS)))
    done = subprocess.run([str(VENV / "bin" / "python"), "-c", probe], capture_output=True,
                          text=True, env=airflow_env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert info["errors"] == {}
    assert info["dags"] == ["wsup_label"]
    tasks = info["tasks"]
    assert set(tasks) == {"prepare", "label", "check_tables"}
    assert tasks["label"]["type"] == "SparkSubmitOperator"
    assert tasks["prepare"]["up"] == []
    assert tasks["label"]["up"] == ["prepare"]
    assert tasks["check_tables"]["up"] == ["label", "prepare"]
    assert tasks["label"]["retries"] == 2
    assert info["conn_id"] == "spark_wsup"
    assert info["schedule"] == "@daily" and info["cron"] == "0 0 * * *"
    assert info["catchup"] is False
    assert info["max_active_runs"] == 1
    assert info["params"] == ["config", "incremental", "mode", "new_rows_where", "output",
                              "overrides", "spark_conf"]  # fmt: skip


@pytest.mark.slow
def test_dags_test_runs_the_pipeline_idempotently(
    airflow_env: dict[str, str], tmp_path: Path
) -> None:
    """`airflow dags test` spark-submits jobs/label.py on local Spark; a rerun of the same
    logical date replaces that run's rows (append mode) instead of duplicating them."""
    migrate = subprocess.run([str(AIRFLOW), "db", "migrate"], capture_output=True, text=True,
                             env=airflow_env, timeout=300)  # fmt: skip
    assert migrate.returncode == 0, tail(migrate.stdout + migrate.stderr)
    out, n, run_id = tmp_path / "out", 3000, "20240102T000000Z"
    conf = {
        "config": "conf/demo.yaml",
        "output": str(out),
        "overrides": [
            f"source.n_rows={n}",
            "source.num_partitions=2",
            "output.training_table=false",
        ],
        "spark_conf": {"spark.ui.enabled": "false", "spark.log.level": "WARN"},
    }
    for attempt in (1, 2):
        t0 = time.monotonic()
        done = subprocess.run(
            [str(AIRFLOW), "dags", "test", "wsup_label", "2024-01-02", "-c", json.dumps(conf)],
            capture_output=True, text=True, env=airflow_env, timeout=400, cwd=tmp_path,
        )  # fmt: skip
        log = done.stdout + done.stderr
        assert done.returncode == 0, tail(log, 6000)
        assert "state=success" in log, tail(log, 6000)
        assert "'ok': True" in log, tail(log, 6000)  # check_tables' return value
        for name in ("votes", "labels"):
            tbl, dt = read_delta(out / name)
            assert dt.version() == attempt - 1
            assert tbl.num_rows == n, f"{name}: {tbl.num_rows} rows after run {attempt}"
            assert sorted(tbl["id"].to_pylist()) == list(range(n))
            assert set(tbl["run_id"].to_pylist()) == {run_id}
            assert commit_metadata(dt, dt.version())["run_id"] == run_id
        print(f"airflow dags test #{attempt}: {time.monotonic() - t0:.1f} s")


@pytest.mark.slow
def test_dags_test_incremental_runs_build_on_the_previous_date(
    airflow_env: dict[str, str], tmp_path: Path
) -> None:
    """``incremental: true``: the first date is a full run; the next date's run applies the LFs
    to its new rows only (``new_rows_where`` with the logical date substituted for ``{ds}``)
    and the tables then hold every row once."""
    migrate = subprocess.run([str(AIRFLOW), "db", "migrate"], capture_output=True, text=True,
                             env=airflow_env, timeout=300)  # fmt: skip
    assert migrate.returncode == 0, tail(migrate.stdout + migrate.stderr)
    out = tmp_path / "out"
    for date, n in (("2024-01-03", 3000), ("2024-01-04", 3300)):
        conf = {
            "config": "conf/demo.yaml", "output": str(out), "incremental": True,
            "new_rows_where": "id >= 3000 AND '{ds}' = '2024-01-04'",
            "overrides": [f"source.n_rows={n}", "source.num_partitions=2",
                          "output.training_table=false"],
            "spark_conf": {"spark.ui.enabled": "false", "spark.log.level": "WARN"},
        }  # fmt: skip
        done = subprocess.run(
            [str(AIRFLOW), "dags", "test", "wsup_label", date, "-c", json.dumps(conf)],
            capture_output=True, text=True, env=airflow_env, timeout=400, cwd=tmp_path,
        )  # fmt: skip
        log = done.stdout + done.stderr
        assert done.returncode == 0, tail(log, 6000)
        assert "'ok': True" in log, tail(log, 6000)
    votes, dt = read_delta(out / "votes")
    assert sorted(votes["id"].to_pylist()) == list(range(3300))
    run_ids = votes["run_id"].to_pylist()
    assert run_ids.count("20240104T000000Z") == 300 and run_ids.count("20240103T000000Z") == 3000
    meta = commit_metadata(dt, dt.version())
    assert meta["run_id"] == "20240104T000000Z"
    where = meta["incremental"]["new_rows_from"]
    assert where == "where id >= 3000 AND '2024-01-04' = '2024-01-04'"
