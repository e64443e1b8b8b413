"""Multi-task runs with Spark's Delta writer (``output.writer: spark``) on real Delta jars: the
votes, labels and training tables equal those of the delta-rs writer, with the same commit
metadata (task structure, per-task metrics)."""

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


def _run(spark: Any, out: Path, writer: str) -> Any:
    cfg = load_config(REPO / "conf" / "radiology_multitask.yaml", [
        "source.n_rows=1200", "source.num_partitions=2", f"output.path={out}",
        f"output.writer={writer}", "output.training_table=true", "run_id=mt",
    ])  # fmt: skip
    return run_pipeline(cfg, spark)


def _rows(spark: Any, path: str) -> Any:
    return spark.read.format("delta").load(path).toPandas().sort_values("id").reset_index(drop=True)


def _last_meta(spark: Any, path: str) -> dict[str, Any]:
    import json

    row = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0]
    return json.loads(row["userMetadata"])  # type: ignore[no-any-return]


def test_multitask_run_with_sparks_delta_writer(spark: Any, tmp_path: Path) -> None:
    s = _run(spark, tmp_path / "spark", "spark")
    r = _run(spark, tmp_path / "rs", "delta-rs")
    assert s.metrics["tasks"] == r.metrics["tasks"]
    for path_s, path_r in ((s.votes_path, r.votes_path), (s.labels_path, r.labels_path),
                           (s.train_path, r.train_path)):  # fmt: skip
        a, b = _rows(spark, path_s), _rows(spark, path_r)
        assert len(a) == 1200 and a["id"].tolist() == b["id"].tolist()
        for col in a.columns:
            if col.startswith(("probs_", "votes")):
                for x, y in zip(a[col], b[col], strict=True):
                    assert (x is None and y is None) or np.array_equal(np.asarray(x),
                                                                        np.asarray(y))
            elif col.startswith(("label_", "gold_")):
                assert a[col].fillna(-9).tolist() == b[col].fillna(-9).tolist(), col
    meta = _last_meta(spark, s.labels_path)
    assert meta["writer"] == "spark" and meta["run_id"] == "mt"
    assert [t["name"] for t in meta["tasks"]["tasks"]] == ["abnormal", "finding"]
    finding = _rows(spark, s.labels_path)["probs_finding"]
    gold = _rows(spark, s.train_path)
    assert finding.isna().any() and finding.notna().any()  # N/A where the report is normal
    assert {"probs_abnormal", "probs_finding", "gold_abnormal", "gold_finding"} <= set(gold.columns)
