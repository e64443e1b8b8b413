"""The product on a Spark Connect session (Databricks serverless / shared clusters / ``sc://``):
a real local Connect server, clients in subprocesses with ``SPARK_REMOTE``; results bit-identical
to a classic session's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wsup_spark.config import load_config
from wsup_spark.io.delta import read_arrow
from wsup_spark.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
CONF = "conf/demo.yaml"
N = 3000

pytestmark = pytest.mark.spark


def _wsup(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPARK_REMOTE": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "wsup_spark.cli", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _probs(path: Path) -> dict[int, list[float]]:
    t = read_arrow(str(path))
    return dict(zip(t.column("id").to_pylist(), t.column("probs").to_pylist(), strict=True))


def test_wsup_run_and_analyze_on_spark_connect_match_a_classic_session(
    spark, connect_url, tmp_path
):
    out_c, out_k = tmp_path / "connect", tmp_path / "classic"
    sets = ["--set", f"source.n_rows={N}", "--set", "run_id=r1"]
    done = _wsup(connect_url, "run", "--config", CONF, "--json", *sets,
                 "--set", f"output.path={out_c}")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["run_id"] == "r1" and summary["n_rows"] == N
    res = run_pipeline(load_config(CONF, [f"source.n_rows={N}", "run_id=r1",
                                          f"output.path={out_k}"]), spark)  # fmt: skip
    pc, pk = _probs(out_c / "labels"), _probs(out_k / "labels")
    assert pc.keys() == pk.keys() and len(pc) == N
    ids = sorted(pc)
    np.testing.assert_array_equal(np.array([pc[i] for i in ids]), np.array([pk[i] for i in ids]))
    assert read_arrow(str(out_c / "train")).num_rows == read_arrow(str(out_k / "train")).num_rows
    assert summary["metrics"]["accuracy"] == pytest.approx(res.metrics["accuracy"])

    an = _wsup(connect_url, "analyze", "--config", CONF, "--set", f"output.path={out_c}")
    assert an.returncode == 0, an.stderr[-3000:]
    assert (out_c / "report.html").stat().st_size > 10_000


def test_errors_on_spark_connect_are_one_clear_line(connect_url, tmp_path):
    out = tmp_path / "o"
    done = _wsup(connect_url, "run", "--config", CONF, "--set", "source.n_rows=500",
                 "--set", "source.id_col=nope", "--set", f"output.path={out}")  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    assert "id column 'nope'" in done.stderr
    assert not (out / "votes").exists()


@pytest.mark.slow
def test_databricks_notebook_on_spark_connect(connect_url, tmp_path):
    """The notebook as on Databricks serverless: its `spark` is a Connect session; the tables and
    the report are written. ship_package=no: the local server shares this checkout, and shipping
    would add a second wsup_spark-0.1.0.zip to the shared test SparkContext, where the cluster
    notebook test's zip of the same name already sits (Spark then refuses every later task)."""
    out, n = tmp_path / "out", 2000
    widgets = {"config": "conf/databricks.yaml", "output_path": str(out), "mode": "append",
               "run_id": "nb-connect", "ship_package": "no",
               "overrides": f"source.n_rows={n}; source.num_partitions=2"}  # fmt: skip
    env = {**os.environ, "SPARK_REMOTE": connect_url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "connect" / "notebook_runner.py"),
         json.dumps(widgets)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.split("EXIT:", 1)[1])
    assert summary["run_id"] == "nb-connect" and summary["n_rows"] == n
    assert sorted(read_arrow(str(out / "labels")).column("id").to_pylist()) == list(range(n))
    assert (out / "report.html").is_file()


def test_wsup_augment_on_spark_connect_equals_in_memory(connect_url, tmp_path):
    import pyarrow as pa
    import yaml
    from deltalake import write_deltalake

    from wsup_spark.augment.apply import augment_rows
    from wsup_spark.augment.policy import Policy
    from wsup_spark.augment.text import number_sub, random_delete, random_swap, typo

    texts = ["the 3 cats sat on 2 mats", "free money click now", "see you at 5 pm",
             "win a prize today", "my order 1234 never came"]  # fmt: skip
    tfs = [random_swap, random_delete, number_sub, typo]
    write_deltalake(str(tmp_path / "train"), pa.table({
        "id": pa.array(range(10, 15), pa.int64()), "text": texts,
        "probs": pa.array([[0.5, 0.5]] * 5, pa.list_(pa.float64())), "run_id": ["l1"] * 5,
    }))  # fmt: skip
    cfg = tmp_path / "augment.yaml"
    cfg.write_text(yaml.safe_dump({
        "input": str(tmp_path / "train"), "output": str(tmp_path / "aug"), "column": "text",
        "policy": "random", "tfs": [t.name for t in tfs], "copies": 2, "seed": 4,
    }))  # fmt: skip
    done = _wsup(connect_url, "augment", "--config", str(cfg))
    assert done.returncode == 0, done.stderr[-3000:]
    out = read_arrow(str(tmp_path / "aug")).to_pandas().sort_values(["id", "aug_copy"])
    pol = Policy("random", [t.name for t in tfs], seq_len=2)
    mem = augment_rows(texts, pol, tfs, seed=4, ids=np.arange(10, 15), n_copies=2)
    assert out["text"].tolist() == mem.values and out["aug_tfs"].tolist() == mem.lineage
