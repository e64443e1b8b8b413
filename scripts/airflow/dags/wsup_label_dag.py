"""Airflow DAG ``wsup_label``: the labeling pipeline as a daily spark-submit job.

Tasks::

    prepare ──► label (SparkSubmitOperator: jobs/label.py) ──► check_tables

* ``prepare`` packages the project for the executors (``scripts/cluster/cluster.py package`` →
  a zip for ``--py-files``), derives the run id from the logical date and builds the job's
  arguments, Spark conf and environment.
* ``label`` spark-submits ``jobs/label.py --config <config> --set run_id=<run id> ...`` through
  the Spark connection ``spark_wsup`` (see below). The run id is the logical date, and the
  default output mode is ``append``: rerunning a date replaces that date's rows in the Delta
  tables instead of adding them twice.
* ``check_tables`` checks the run's Delta tables with ``scripts/airflow/check_run.py``
  (committed version, run id, row counts, no duplicate ids).

Airflow Variables (deployment), all optional:

========================  ====================================================================
``wsup_repo``             checkout of wsup_spark on the Airflow workers (default: the repository
                          this file lives in)
``wsup_python``           Python with wsup_spark's dependencies, used for the Spark driver and
                          executors and the check (default: ``python3`` on PATH)
``wsup_spark_home``       Spark installation whose ``bin/spark-submit`` is used (default: the
                          pyspark of ``wsup_python``)
``wsup_dist``             where ``prepare`` writes the ``--py-files`` zip, one folder per run id
                          (default ``<wsup_repo>/dist/airflow``)
========================  ====================================================================

The Spark master comes from the Airflow connection ``spark_wsup`` (type ``spark``; host
``spark://host`` + port ``7077``, or ``yarn``, or ``local[2]``), e.g.
``AIRFLOW_CONN_SPARK_WSUP='{"conn_type": "spark", "host": "spark://10.0.0.5", "port": 7077}'``.

DAG params (per run; ``airflow dags trigger -c '{...}'``): ``config`` (relative to the repo or
absolute), ``output`` (``output.path`` override), ``mode`` (append/overwrite), ``overrides``
(extra ``key.path=value`` settings), ``spark_conf`` (extra Spark conf), ``incremental`` and
``new_rows_where``.

Incremental runs (``incremental: true``; README "Incremental runs"): each DAG run builds on the
last one at the output path, applying only new or changed LFs, and every LF to the logical date's
new rows only: ``new_rows_where`` is a Spark SQL filter on the source with ``{ds}`` standing for
the logical date (``YYYY-MM-DD``), e.g. ``"day = '{ds}'"``; without it, source rows whose id the
votes table lacks are new. The tables then hold one row per id (``output.mode: overwrite``; the
``mode`` param is ignored).
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Param, Variable, task

DAG_ID = "wsup_label"
DEFAULT_REPO = Path(__file__).resolve().parents[3]
DEFAULT_CONN_ID = "spark_wsup"


def _var(key: str, default: str) -> str:
    value = Variable.get(key, default=None)
    return str(value) if value not in (None, "") else default


def run_id_for(logical_date: Any) -> str:
    """The pipeline run id of a DAG run: its logical date, ``YYYYmmddTHHMMSSZ``."""
    return pendulum.instance(logical_date).in_timezone("UTC").strftime("%Y%m%dT%H%M%SZ")


with DAG(
    dag_id=DAG_ID,
    description="wsup_spark: LFs -> label model -> probabilistic labels (Delta), via spark-submit",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "wsup",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=6),
    },
    params={
        "config": Param("conf/cluster.yaml", type="string", description="pipeline YAML config"),
        "output": Param(None, type=["null", "string"], description="output.path override"),
        "mode": Param("append", enum=["append", "overwrite"], description="output.mode"),
        "overrides": Param([], type="array", description="extra key.path=value settings"),
        "spark_conf": Param({}, type="object", description="extra Spark conf for spark-submit"),
        "incremental": Param(False, type="boolean", description="build on the last run"),
        "new_rows_where": Param(
            None, type=["null", "string"],
            description="incremental: filter naming the new rows; {ds} = the logical date",
        ),
    },
    tags=["wsup_spark", "weak-supervision"],
    doc_md=__doc__,
) as dag:

    @task(retries=0)
    def prepare(**context: Any) -> dict[str, Any]:
        """Package the project; build the run id, job arguments, Spark conf and environment."""
        params = context["params"]
        repo = Path(_var("wsup_repo", str(DEFAULT_REPO)))
        python = _var("wsup_python", "python3")
        spark_home = _var("wsup_spark_home", "")
        if not spark_home:
            spark_home = subprocess.run(
                [python, "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        logical = context.get("logical_date") or context["dag_run"].run_after
        run_id = run_id_for(logical)
        config = Path(params["config"])
        config = config if config.is_absolute() else repo / config
        dist = Path(_var("wsup_dist", str(repo / "dist" / "airflow"))) / run_id
        zip_path = (
            subprocess.run(
                [python, str(repo / "scripts/cluster/cluster.py"), "package", "--out", str(dist)],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        incremental = bool(params.get("incremental"))
        mode = "overwrite" if incremental else params["mode"]
        sets = [f"run_id={run_id}", f"output.mode={mode}"]
        if incremental:
            sets.append("incremental.enabled=true")
            if params.get("new_rows_where"):
                ds = pendulum.instance(logical).in_timezone("UTC").strftime("%Y-%m-%d")
                sets.append(f"incremental.where={str(params['new_rows_where']).format(ds=ds)}")
        if params.get("output"):
            sets.append(f"output.path={params['output']}")
        sets += [str(s) for s in params.get("overrides") or []]
        args = ["--config", str(config)]
        for s in sets:
            args += ["--set", s]
        conf = {
            "spark.pyspark.python": python,
            "spark.pyspark.driver.python": python,
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.sql.session.timeZone": "UTC",
            **{str(k): str(v) for k, v in (params.get("spark_conf") or {}).items()},
        }
        env = {
            "PATH": f"{spark_home}/bin{os.pathsep}{os.environ.get('PATH', '')}",
            "SPARK_HOME": spark_home,
            "PYSPARK_PYTHON": python,
            "PYSPARK_DRIVER_PYTHON": python,
        }
        return {
            "run_id": run_id,
            "args": args,
            "application": str(repo / "jobs" / "label.py"),
            "py_files": zip_path,
            "conf": conf,
            "env": env,
            "python": python,
            "repo": str(repo),
            "config": str(config),
            "sets": sets,
        }

    @task(retries=1)
    def check_tables(prep: dict[str, Any]) -> dict[str, Any]:
        """Check the run's Delta tables (project Python + deltalake)."""
        import json

        cmd = [
            prep["python"],
            str(Path(prep["repo"]) / "scripts/airflow/check_run.py"),
            "--config",
            prep["config"],
            "--run-id",
            prep["run_id"],
        ]
        for s in prep["sets"]:
            cmd += ["--set", s]
        out = subprocess.run(cmd, capture_output=True, text=True)
        print(out.stdout)
        print(out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"check_run.py failed ({out.returncode}): {out.stderr[-2000:]}")
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    prep = prepare()
    label = SparkSubmitOperator(
        task_id="label",
        conn_id=DEFAULT_CONN_ID,
        application=prep["application"],
        application_args=prep["args"],
        py_files=prep["py_files"],
        conf=prep["conf"],
        env_vars=prep["env"],
        name="wsup_label",
        deploy_mode="client",
        verbose=False,
    )
    prep >> label >> check_tables(prep)
