# Databricks notebook source
# MAGIC %md
# MAGIC # wsup_spark: probabilistic labels from labeling functions
# MAGIC
# MAGIC Runs the labeling pipeline with this cluster's `spark` session: apply the LFs to the corpus,
# MAGIC compute the LF statistics, fit the label model on the driver, write the **votes** and
# MAGIC **labels** Delta tables (Databricks' own Delta writer), then show the LF table and the HTML
# MAGIC report below.
# MAGIC
# MAGIC **Widgets**: `config` (YAML, relative to the repository or absolute), `output_path`
# MAGIC (`output.path`; blank = the config's), `mode` (append/overwrite), `run_id` (blank = new;
# MAGIC in a job pass `{{job.run_id}}` or the schedule date so reruns replace their own rows),
# MAGIC `overrides` (`key.path=value`, one per line or `;`-separated), `ship_package`.
# MAGIC
# MAGIC **Install**: either run this notebook from a Git folder holding the repository (the next
# MAGIC cells import the checkout and ship it to the executors), or install the wheel
# MAGIC (`python scripts/cluster/cluster.py package --format wheel`) on the cluster or with
# MAGIC `%pip install /Volumes/<catalog>/<schema>/<volume>/wsup_spark-0.1.0-py3-none-any.whl`.

# COMMAND ----------

# ruff: noqa: F821, E402  (spark, dbutils, display, displayHTML are notebook globals)
dbutils.widgets.text("config", "conf/databricks.yaml", "Config YAML")
dbutils.widgets.text("output_path", "", "Output path (blank: config)")
dbutils.widgets.dropdown("mode", "append", ["append", "overwrite"], "Output mode")
dbutils.widgets.text("run_id", "", "Run id (blank: new)")
dbutils.widgets.text("overrides", "", "Overrides key.path=value")
dbutils.widgets.dropdown("ship_package", "auto", ["auto", "yes", "no"], "Ship checkout")

# COMMAND ----------

# Import wsup_spark: an installed wheel, else the repository this notebook lives in.
import importlib.util
import sys
import tempfile
from pathlib import Path


def find_repo(start: Path) -> Path | None:
    """The checkout holding this notebook (it has wsup_spark/ and jobs/label.py), if any."""
    for d in [start, *start.parents]:
        if (d / "wsup_spark" / "__init__.py").is_file() and (d / "jobs" / "label.py").is_file():
            return d
    return None


REPO = find_repo(Path.cwd())
from_checkout = importlib.util.find_spec("wsup_spark") is None
if from_checkout:
    if REPO is None:
        raise ImportError(
            "wsup_spark is not installed and this notebook is not inside a checkout of the "
            "repository: install the wheel (%pip install .../wsup_spark-*.whl) or run the notebook "
            "from a Git folder holding the repository"
        )
    sys.path.insert(0, str(REPO))

import wsup_spark

print(f"wsup_spark {wsup_spark.__version__} from {Path(wsup_spark.__file__).parent}")

# COMMAND ----------

# Ship the package to the executors when it came from the checkout (a wheel installed as a
# cluster library is already on every node).
ship = dbutils.widgets.get("ship_package")
if ship == "yes" or (ship == "auto" and from_checkout):
    if REPO is None:
        raise RuntimeError(
            "ship_package needs the repository checkout (scripts/cluster/cluster.py)"
        )
    spec = importlib.util.spec_from_file_location(
        "wsup_cluster", REPO / "scripts/cluster/cluster.py"
    )
    assert spec is not None and spec.loader is not None
    wsup_cluster = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wsup_cluster)
    package_zip = wsup_cluster.build_zip(Path(tempfile.mkdtemp(prefix="wsup-pkg-")))
    try:
        spark.sparkContext.addPyFile(str(package_zip))  # classic (single-user) clusters
    except Exception:  # Spark Connect (shared access mode, serverless): no SparkContext
        spark.addArtifacts(str(package_zip), pyfile=True)
    print(f"shipped {package_zip} to the executors")

# COMMAND ----------

# The configuration: the YAML file plus the widgets.
import re

from wsup_spark.config import load_config

config = Path(dbutils.widgets.get("config"))
if not config.is_absolute() and REPO is not None:
    config = REPO / config
overrides = [s.strip() for s in re.split(r"[;\n]", dbutils.widgets.get("overrides")) if s.strip()]
overrides.append(f"output.mode={dbutils.widgets.get('mode')}")
if dbutils.widgets.get("output_path").strip():
    overrides.append(f"output.path={dbutils.widgets.get('output_path').strip()}")
if dbutils.widgets.get("run_id").strip():
    overrides.append(f"run_id={dbutils.widgets.get('run_id').strip()}")
cfg = load_config(config, overrides)
print(f"config {config}\n  overrides {overrides}\n  output {cfg.output.path}")

# COMMAND ----------

# Run the pipeline on this cluster's session.
import logging

from wsup_spark import run_pipeline

logging.getLogger("wsup_spark").setLevel(logging.INFO)
result = run_pipeline(cfg, spark)
print(f"run {result.run_id}: {result.n_rows:,} rows labeled")

# COMMAND ----------

# The LF table: coverage, overlaps, conflicts, learned accuracy (and gold accuracy when known).
import numpy as np

from wsup_spark.analysis.summary import lf_summary

confusion = result.metrics.get("lf_confusion")
lf_table = lf_summary(
    result.stats,
    result.metrics.get("lf_accuracy_learned"),
    np.asarray(confusion) if confusion is not None else None,
)
lf_table["errors"] = [result.lf_errors.get(name, 0) for name in lf_table.index]
display(lf_table.reset_index())

# COMMAND ----------

# The run report (the same HTML as `wsup analyze`, also written next to the tables), and the
# labels the run wrote.
import html

from wsup_spark import format_summary
from wsup_spark.io.delta import commit_history, read_table

print(format_summary(result))
try:
    from wsup_spark.analysis.html import render_html
    from wsup_spark.analysis.report import collect_report_data, default_report_path

    page = render_html(collect_report_data(result, spark))
    displayHTML(page)
    report_path = default_report_path(result)
    if ":/" not in report_path:  # a Volume / local path: keep a copy next to the tables
        Path(report_path).write_text(page, encoding="utf-8")
        print(f"report: {report_path}")
except ImportError as e:  # the plots need matplotlib (in every Databricks runtime)
    displayHTML(f"<p>{html.escape(str(e))}</p><pre>{html.escape(format_summary(result))}</pre>")
labels = read_table(spark, result.labels_path, version=result.labels_version)
display(labels.where(labels.run_id == result.run_id).limit(20))
history = commit_history(result.labels_path)[-5:]
display([{k: h[k] for k in ("version", "operation", "run_id")} for h in history])

# COMMAND ----------

# Hand the run summary to the caller (a job task, or dbutils.notebook.run from another notebook).
import json

dbutils.notebook.exit(json.dumps(result.summary()))
