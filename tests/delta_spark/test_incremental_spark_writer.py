"""Incremental runs with Spark's Delta writer (``output.writer: spark``) on real Delta jars: new
rows added, a removed LF, and a failure midway undone with ``RESTORE TABLE``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("delta", reason="delta-spark is not installed (scripts/delta_spark/setup.sh)")

from pyspark import cloudpickle

from wsup_spark import load_config, run_pipeline

cloudpickle.register_pickle_by_value(sys.modules[__name__])

REPO = Path(__file__).resolve().parents[2]


def _cfg(out: Path, n: int, run_id: str, *over: str) -> Any:
    return load_config(REPO / "conf" / "demo.yaml", [
        f"source.n_rows={n}", "source.num_partitions=2", f"output.path={out}",
        "output.writer=spark", "output.training_table=false", f"run_id={run_id}", *over,
    ])  # fmt: skip


def _rows(spark: Any, path: str) -> Any:
    return spark.read.format("delta").load(path).toPandas().sort_values("id").reset_index(drop=True)


def _same(spark: Any, a: Any, b: Any) -> None:
    assert a.stats == b.stats
    la, lb = _rows(spark, a.labels_path), _rows(spark, b.labels_path)
    assert la["id"].tolist() == lb["id"].tolist()
    assert np.array_equal(np.stack(la["probs"]), np.stack(lb["probs"]))


def test_incremental_with_sparks_delta_writer(spark: Any, tmp_path: Path, monkeypatch: Any) -> None:
    out = tmp_path / "out"
    run_pipeline(_cfg(out, 1500, "s1", "incremental.enabled=true"), spark)
    inc = run_pipeline(_cfg(out, 1650, "s2", "incremental.enabled=true"), spark)
    info = inc.metrics["incremental"]
    assert (info["votes"], info["new_rows"]) == ("new rows added", 150)
    votes = _rows(spark, inc.votes_path)
    assert votes["id"].tolist() == list(range(1650))
    _same(spark, inc, run_pipeline(_cfg(tmp_path / "full", 1650, "f"), spark))

    drop = inc.lf_names[0]
    removed = run_pipeline(_cfg(out, 1650, "s3", "incremental.enabled=true",
                                f"lfs.exclude=[{drop}]"), spark)  # fmt: skip
    assert removed.metrics["incremental"]["lfs"]["removed"] == [drop]
    _same(spark, removed, run_pipeline(_cfg(tmp_path / "full2", 1650, "f2",
                                            f"lfs.exclude=[{drop}]"), spark))  # fmt: skip

    import wsup_spark.pipeline.incremental as incremental

    before = _rows(spark, removed.votes_path)

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the labels write died")

    monkeypatch.setattr(incremental, "write_labels", broken)
    with pytest.raises(RuntimeError, match="labels write died"):
        run_pipeline(_cfg(out, 1650, "s4", "incremental.enabled=true"), spark)  # LF back: rewrite
    after = _rows(spark, removed.votes_path)
    assert [list(v) for v in after["votes"]] == [list(v) for v in before["votes"]]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{removed.votes_path}` LIMIT 1").collect()
    assert history[0]["operation"] == "RESTORE"
