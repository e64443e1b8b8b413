"""The pipeline end to end with ``output.writer: spark`` on real Delta jars: same labels as the
delta-rs writer, failure midway, reruns in append mode, exact LF failure counts under retries."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("delta", reason="delta-spark is not installed (scripts/delta_spark/setup.sh)")

from pyspark import TaskContext, cloudpickle

from wsup_spark import ABSTAIN, labeling_function, load_config, load_lfs, run_pipeline
from wsup_spark.io import commit_history, read_arrow, table_version

cloudpickle.register_pickle_by_value(sys.modules[__name__])

REPO = Path(__file__).resolve().parents[2]
N_ROWS = 2000
TABLES = ("votes", "labels", "train")


def _cfg(out: Path, *over: str) -> Any:
    return load_config(
        REPO / "conf" / "demo.yaml",
        [f"source.n_rows={N_ROWS}", "source.num_partitions=2", f"output.path={out}", *over],
    )


def _demo_lfs() -> list[Any]:
    return list(load_lfs(["wsup_spark.demo.radiology_lfs"]))


def _spark_rows(spark: Any, path: str) -> dict[str, int]:
    df = spark.read.format("delta").load(path)
    if "run_id" not in df.columns:
        return {"*": df.count()}
    return {r["run_id"]: r["count"] for r in df.groupBy("run_id").count().collect()}


@labeling_function(columns=["id", "text"])
def lf_fails_every_100th(x: Any) -> int:
    """Fails on ids divisible by 100 (20 of the 2000 demo rows)."""
    if x.id % 100 == 0:
        raise ValueError(f"cannot label row {x.id}")
    return 1 if "effusion" in x.text else ABSTAIN


class _WorkerCrash(BaseException):
    """Not an Exception: no ``on_error`` policy catches it, so the Spark task fails."""


@labeling_function(columns=["id", "text"])
def lf_crashes_first_attempt(x: Any) -> int:
    """Fails like ``lf_fails_every_100th``, and its task's first attempt dies at id 1500 after
    it has counted failures (the retry must not count them twice)."""
    ctx = TaskContext.get()
    if x.id == 1500 and ctx is not None and ctx.attemptNumber() == 0:
        raise _WorkerCrash("simulated executor loss")
    if x.id % 100 == 0:
        raise ValueError(f"cannot label row {x.id}")
    return ABSTAIN


@pytest.fixture(scope="module")
def two_writers(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    """One output folder, append mode: run ``rs`` with the delta-rs writer, then ``sp`` with
    Spark's Delta writer on the same tables."""
    out = tmp_path_factory.mktemp("two_writers") / "out"
    rs = run_pipeline(_cfg(out, "output.writer=delta-rs", "output.mode=append", "run_id=rs"), spark)
    sp = run_pipeline(_cfg(out, "output.writer=spark", "output.mode=append", "run_id=sp"), spark)
    return out, rs, sp


def test_demo_spark_writer_same_labels_as_delta_rs_one_table(
    spark: Any, two_writers: tuple[Path, Any, Any]
) -> None:
    out, rs, sp = two_writers
    assert (sp.n_rows, sp.lf_errors) == (N_ROWS, {})
    assert (sp.votes_version, sp.labels_version, sp.train_version) == (1, 1, 1)
    for table in TABLES:
        history = commit_history(str(out / table))
        assert [(c["run_id"], c["metadata"]["writer"]) for c in history] == [
            ("rs", "delta-rs"),
            ("sp", "spark"),
        ]
    for table in ("votes", "labels"):
        assert read_arrow(str(out / table)).num_rows == 2 * N_ROWS  # deltalake reads both commits
        assert _spark_rows(spark, str(out / table)) == {"rs": N_ROWS, "sp": N_ROWS}
    labels = read_arrow(str(out / "labels")).to_pandas()
    by_run = {r: g.sort_values("id") for r, g in labels.groupby("run_id")}
    assert np.array_equal(by_run["rs"]["id"].to_numpy(), by_run["sp"]["id"].to_numpy())
    probs_rs, probs_sp = (np.stack(by_run[r]["probs"].to_numpy()) for r in ("rs", "sp"))
    assert np.array_equal(probs_rs, probs_sp)  # same statistics, same model, same labels
    assert sp.metrics["accuracy"]["label_model"] == rs.metrics["accuracy"]["label_model"] > 0.7
    meta = commit_history(str(out / "labels"))[-1]["metadata"]
    assert meta["votes_version"] == 1 and meta["label_model_params"] is not None


def test_append_mode_training_table_holds_each_run_once(
    two_writers: tuple[Path, Any, Any],
) -> None:
    out, _, _ = two_writers
    assert read_arrow(str(out / "train")).num_rows == 2 * N_ROWS


def test_failure_midway_then_rerun_in_append_mode(spark: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = ["output.writer=spark", "output.mode=append", "run_id=r1"]
    first = run_pipeline(_cfg(out, *base), spark)
    before = {t: table_version(str(out / t)) for t in TABLES}
    assert before == {"votes": 0, "labels": 0, "train": 0}

    lfs = [*_demo_lfs(), lf_fails_every_100th]  # on_error: raise (demo.yaml)
    with pytest.raises(Exception, match=r"lf_fails_every_100th.*cannot label row"):
        run_pipeline(_cfg(out, "output.writer=spark", "output.mode=append", "run_id=r2"), spark,
                     lfs=lfs)  # fmt: skip
    assert {t: table_version(str(out / t)) for t in TABLES} == before
    for table in TABLES:
        assert read_arrow(str(out / table)).num_rows == N_ROWS
        assert [c["run_id"] for c in commit_history(str(out / table))] == ["r1"]

    again = run_pipeline(_cfg(out, *base), spark)  # rerun of r1: replaces, never duplicates
    assert (again.votes_version, again.labels_version) == (1, 1)
    assert _spark_rows(spark, str(out / "votes")) == {"r1": N_ROWS}
    assert _spark_rows(spark, str(out / "labels")) == {"r1": N_ROWS}
    assert np.array_equal(
        np.stack(read_arrow(str(out / "labels")).to_pandas().sort_values("id")["probs"]),
        np.stack(read_arrow(str(out / "labels"), version=0).to_pandas().sort_values("id")["probs"]),
    )
    assert first.metrics["accuracy"] == again.metrics["accuracy"]


def test_rerun_in_append_mode_does_not_duplicate_the_training_table(
    spark: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for _ in range(2):
        run_pipeline(_cfg(out, "output.writer=spark", "output.mode=append", "run_id=r1"), spark)
    assert read_arrow(str(out / "train")).num_rows == N_ROWS


def test_exact_lf_failure_counts_with_a_retried_task(spark: Any, tmp_path: Path) -> None:
    lfs = [*_demo_lfs(), lf_crashes_first_attempt]
    over = ["output.writer=spark", "lfs.on_error=abstain", "output.training_table=false"]
    res = run_pipeline(_cfg(tmp_path / "out", *over), spark, lfs=lfs)
    assert res.lf_errors == {"lf_crashes_first_attempt": N_ROWS // 100}
    assert res.n_rows == N_ROWS and read_arrow(res.votes_path).num_rows == N_ROWS
    assert commit_history(res.labels_path)[-1]["metadata"]["lf_errors"] == res.lf_errors
