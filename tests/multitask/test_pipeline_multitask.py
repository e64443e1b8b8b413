"""A multi-task run end to end (the X-ray demo's two tasks) on real local Spark and Delta."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from deltalake import DeltaTable

from wsup_spark.config import load_config, parse_config
from wsup_spark.errors import ConfigError, DataError
from wsup_spark.io.delta import read_arrow
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats
from wsup_spark.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "conf" / "radiology_multitask.yaml")
N = 3000


def _read(path: str) -> Any:
    return read_arrow(path).to_pandas()


@pytest.fixture(scope="module")
def mt_run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("mt")
    cfg = load_config(CONF, [f"source.n_rows={N}", f"output.path={out}", "run_id=mt-run",
                             "source.num_partitions=3"])  # fmt: skip
    return run_pipeline(cfg, spark)


def test_labels_have_one_probability_column_per_task(mt_run: Any) -> None:
    from wsup_spark.demo.radiology import finding_types, generate_reports

    labels = _read(mt_run.labels_path).sort_values("id")
    assert len(labels) == N and (labels["run_id"] == "mt-run").all()
    assert {"probs_abnormal", "label_abnormal", "probs_finding", "label_finding",
            "applies_finding", "n_votes"} <= set(labels.columns)  # fmt: skip
    Pa = np.stack(labels["probs_abnormal"].to_numpy())
    assert Pa.shape == (N, 2) and np.allclose(Pa.sum(1), 1.0)
    # finding: null exactly where the report is predicted normal (N/A), else 5 probabilities
    normal = labels["label_abnormal"].to_numpy() == 0
    na = labels["label_finding"].isna().to_numpy()
    assert (na == normal).all() and labels["probs_finding"].isna().to_numpy()[normal].all()
    Pf = np.stack(labels["probs_finding"].to_numpy()[~normal])
    assert Pf.shape == (int((~normal).sum()), 5) and np.allclose(Pf.sum(1), 1.0)
    assert (labels["applies_finding"].to_numpy() <= 0.5).tolist() == normal.tolist()
    # the labels equal the in-memory model's predictions on the in-memory votes
    votes = _read(mt_run.votes_path).sort_values("id")
    L = np.stack(votes["votes"].to_numpy()).astype(np.int64)
    model = mt_run.model
    assert isinstance(model, MultiTaskLabelModel)
    pred = model.predict(L)
    assert (labels["label_abnormal"].to_numpy() == pred[:, 0]).all()
    assert np.array_equal(np.where(na, -1, labels["label_finding"].fillna(-1).to_numpy()),
                          pred[:, 1])  # fmt: skip
    # Spark statistics == in-memory statistics of the votes table
    assert mt_run.stats == MultiTaskStats.from_matrix(L, model.graph, model.lf_tasks)
    # per-task gold metrics were computed by the distributed reduction
    ids = np.arange(N)
    gold_a = generate_reports(ids)["gold"]
    gold_f = finding_types(ids)
    acc_a = float((pred[:, 0] == gold_a).mean())
    has = gold_f >= 0
    acc_f = float((pred[has, 1] == gold_f[has]).mean())
    tasks = mt_run.metrics["tasks"]
    assert tasks["abnormal"]["gold"]["n_gold"] == N
    assert tasks["abnormal"]["gold"]["accuracy"] == pytest.approx(acc_a)
    assert tasks["finding"]["gold"]["n_gold"] == int(has.sum())
    assert tasks["finding"]["gold"]["accuracy"] == pytest.approx(acc_f)


def test_commit_holds_task_structure_and_per_task_metrics(mt_run: Any) -> None:
    meta = json.loads(DeltaTable(mt_run.labels_path).history()[0]["userMetadata"])
    assert meta["label_model"] == "multitask_label_model" and meta["stage"] == "labels"
    assert [t["name"] for t in meta["tasks"]["tasks"]] == ["abnormal", "finding"]
    assert meta["tasks"]["tasks"][1]["active_when"] == [1]
    assert meta["lf_tasks"] == ["abnormal"] * 8 + ["finding"] * 7
    per_task = meta["metrics"]["tasks"]
    assert set(per_task) == {"abnormal", "finding"}
    assert {"coverage", "conflict", "lf_accuracy_learned", "cross_task_conflicts",
            "gold"} <= set(per_task["finding"])  # fmt: skip
    assert meta["label_model_params"]["kind"] == "multitask_label_model"
    assert mt_run.metrics["tasks"]["finding"]["lfs"][-1] == "lf_single_finding"
    saved = json.loads((Path(mt_run.artifacts_path) / "label_model.json").read_text())
    back = MultiTaskLabelModel.from_dict(saved)
    L = np.array([[-1] * 8 + [0, -1, -1, -1, -1, -1, 0]])
    assert np.array_equal(back.predict(L), mt_run.model.predict(L))


def test_multitask_config_errors() -> None:
    base = {"tasks": [{"name": "abnormal", "cardinality": 2, "lfs": ["m"]}]}
    cfg = parse_config(base)
    assert cfg.tasks.tasks and "tasks" in cfg.to_dict()
    assert "tasks" not in parse_config({"lfs": {"modules": ["m"]}}).to_dict()
    with pytest.raises(ConfigError, match="identifier"):
        parse_config({"tasks": [{"name": "a-b", "cardinality": 2, "lfs": ["m"]}]})
    with pytest.raises(ConfigError, match="lfs.modules"):
        parse_config({**base, "lfs": {"modules": ["x"]}})
    with pytest.raises(ConfigError, match="unknown key.*colour"):
        parse_config({"tasks": [{"name": "a", "cardinality": 2, "lfs": ["m"], "colour": 1}]})
    with pytest.raises(ConfigError, match="one per feasible joint"):
        parse_config({**base, "label_model": {"class_balance": [0.5, 0.3, 0.2]}})
    with pytest.raises(ConfigError, match="parent 'x'"):
        parse_config({"tasks": [{"name": "a", "cardinality": 2, "parent": "x", "lfs": ["m"]}]})


def test_multitask_lfs_per_task_in_python(spark: Any, tmp_path: Path) -> None:
    from wsup_spark.demo.radiology_lfs import FINDING_LFS, LFS

    cfg = load_config(CONF, ["source.n_rows=600", f"output.path={tmp_path}", "run_id=py"])
    res = run_pipeline(cfg, spark, lfs={"abnormal": LFS[:4], "finding": FINDING_LFS[-2:]})
    assert res.stats.m == 6 and res.stats.lf_tasks == (0, 0, 0, 0, 1, 1)
    with pytest.raises(DataError, match="per task"):
        run_pipeline(cfg, spark, lfs=list(LFS))
