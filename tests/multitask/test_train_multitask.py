"""A multi-task training table (features + one probs column per task, null where N/A) written by a
real multi-task run (local Spark, Delta), and ``wsup train`` training the shared-trunk model with
one head per task from it (torch, CPU)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from deltalake import DeltaTable

pytest.importorskip("torch")

import torch

from wsup_spark.cli import main
from wsup_spark.config import load_config
from wsup_spark.errors import DataError
from wsup_spark.io.delta import read_arrow
from wsup_spark.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "conf" / "radiology_multitask.yaml")
N = 3000
FEATURES = "output.features=[text, patient_age, image_score]"


def _read(path: str) -> Any:
    return read_arrow(path).to_pandas()


@pytest.fixture(scope="module")
def mt_train(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("mttrain")
    cfg = load_config(CONF, [f"source.n_rows={N}", f"output.path={out}", "run_id=mt-train",
                             "output.training_table=true", FEATURES])  # fmt: skip
    return run_pipeline(cfg, spark)


def test_training_table_has_a_probs_column_per_task(mt_train: Any) -> None:
    from wsup_spark.demo.radiology import finding_types, generate_reports

    assert mt_train.train_version == 0 and mt_train.train_path
    train = _read(mt_train.train_path).sort_values("id").reset_index(drop=True)
    labels = _read(mt_train.labels_path).sort_values("id").reset_index(drop=True)
    assert list(train.columns) == ["id", "text", "patient_age", "image_score", "gold_abnormal",
                                   "gold_finding", "probs_abnormal", "probs_finding", "n_votes",
                                   "run_id"]  # fmt: skip
    assert len(train) == N and (train["id"].to_numpy() == labels["id"].to_numpy()).all()
    # probs per task as in the labels table; null exactly where the task does not apply
    na = labels["probs_finding"].isna().to_numpy()
    assert (train["probs_finding"].isna().to_numpy() == na).all() and 0 < na.sum() < N
    for a, b in zip(train["probs_finding"][~na], labels["probs_finding"][~na], strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(np.stack(train["probs_abnormal"]), np.stack(labels["probs_abnormal"]))
    # gold per task as class indices, null where unknown
    ids = train["id"].to_numpy()
    assert (train["gold_abnormal"].to_numpy() == generate_reports(ids)["gold"]).all()
    f = finding_types(ids)
    assert (train["gold_finding"].isna().to_numpy() == (f < 0)).all()
    assert (train["gold_finding"].to_numpy()[f >= 0] == f[f >= 0]).all()
    meta = json.loads(DeltaTable(mt_train.train_path).history()[0]["userMetadata"])
    assert meta["stage"] == "train" and [t["name"] for t in meta["tasks"]["tasks"]] == [
        "abnormal", "finding"]  # fmt: skip


def _train_cli(out: Path, *sets: str) -> dict[str, Any]:
    argv = ["train", "--config", CONF, "--set", f"output.path={out}"]
    for s in ("train.model=text", "train.lr=0.05", "train.epochs=3", "train.device=cpu",
              "train.progress=log", *sets):  # fmt: skip
        argv += ["--set", s]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return json.loads(buf.getvalue())  # type: ignore[no-any-return]


def test_wsup_train_trains_one_head_per_task(mt_train: Any, tmp_path: Path) -> None:
    from wsup_spark.endmodel.checkpoint import load_checkpoint
    from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec
    from wsup_spark.endmodel.multitask import MultiTaskModel, evaluate_multitask
    from wsup_spark.tasks import TaskGraph

    out = Path(mt_train.layout.root)
    ckpt = tmp_path / "ckpt"
    m = _train_cli(out, f"train.checkpoint_dir={ckpt}")
    assert m["table_version"] == 0 and m["checkpoint"] == str(ckpt)
    tasks = m["tasks"]
    assert set(tasks) == {"abnormal", "finding"}
    # held-out gold rows: hash(id) % 5 == 0 among the rows with any task's gold (all rows here)
    assert 0.1 * N < m["n_eval_gold"] < 0.3 * N
    assert tasks["abnormal"]["n_eval_gold"] == m["n_eval_gold"]
    assert 0 < tasks["finding"]["n_eval_gold"] < m["n_eval_gold"]  # finding gold: abnormal only
    # the end model learns both tasks from the weak labels (measured 0.94 / 0.77 on 4000 rows;
    # the label model's 0.92 / 0.79)
    assert tasks["abnormal"]["end_model_accuracy"] > 0.85
    assert tasks["finding"]["end_model_accuracy"] > 0.6
    C = np.asarray(tasks["finding"]["confusion"])
    assert C.shape == (5, 6) and C.sum() == tasks["finding"]["n_eval_gold"]
    # the checkpoint rebuilds the shared-trunk model, and it evaluates to the same numbers
    model, cfg, meta = load_checkpoint(ckpt)
    assert isinstance(model, MultiTaskModel) and cfg.tasks is not None and cfg.feed_parent
    assert meta["model"] == "text" and meta["epoch"] == 3
    assert [n for n, _ in model.tasks] == ["abnormal", "finding"]
    assert model.parents == {"finding": "abnormal"}
    graph = TaskGraph.from_dict(cfg.tasks)
    ds = DeltaIterableDataset(str(out / "train"), features=FeatureSpec("text", (), cfg.buckets,
                              cfg.word_ngrams), shuffle=False, split="eval", holdout_mod=5,
                              tasks=[(t.name, t.cardinality) for t in graph.tasks])  # fmt: skip
    again = evaluate_multitask(model, ds, torch.device("cpu"), graph)
    assert again["tasks"]["finding"]["confusion"] == tasks["finding"]["confusion"]
    assert again["tasks"]["abnormal"]["end_model_accuracy"] == pytest.approx(
        tasks["abnormal"]["end_model_accuracy"])  # fmt: skip


def test_training_batches_mask_na_rows(mt_train: Any) -> None:
    from wsup_spark.endmodel.config import TrainConfig
    from wsup_spark.endmodel.trainer import train
    from wsup_spark.tasks import TaskGraph

    graph = TaskGraph.from_dict(mt_train.task_model.graph.to_dict())
    cfg = TrainConfig.from_dict({"table": mt_train.train_path, "model": "numeric",
                                 "text_col": None, "numeric_cols": ["patient_age", "image_score"],
                                 "epochs": 1, "device": "cpu", "progress": "log",
                                 "batch_size": 256, "tasks": graph.to_dict()})  # fmt: skip
    seen: dict[int, tuple[bool, float]] = {}

    def hook(epoch: int, batch: dict[str, torch.Tensor]) -> None:
        for i, mk, p in zip(batch["id"].tolist(), batch["mask_finding"].tolist(),
                            batch["probs_finding"].sum(1).tolist(), strict=True):  # fmt: skip
            assert i not in seen
            seen[i] = (mk, p)

    res = train(cfg, on_batch=hook)
    assert "tasks" in res.metrics and res.metrics["train_rows_per_epoch"] == len(seen)
    train_tbl = _read(mt_train.train_path).set_index("id")
    for i, (mk, p) in seen.items():
        applies = train_tbl.at[i, "probs_finding"] is not None
        assert mk == applies
        assert p == pytest.approx(1.0, abs=1e-5) if applies else p == 0.0
    assert not all(mk for mk, _ in seen.values()) and any(mk for mk, _ in seen.values())
    # a multi-task table without the task graph: a clear error
    plain = TrainConfig.from_dict({**cfg.to_dict(), "tasks": None})
    with pytest.raises(DataError, match="multi-task table"):
        train(plain)


@pytest.mark.slow
def test_multitask_training_under_torchrun_ddp(mt_train: Any, tmp_path: Path) -> None:
    """Two gloo ranks (jobs/train.py under torchrun): sharded rows, masked loss, per-task
    confusion counts all-reduced; rank 0 prints the metrics once."""
    import os
    import subprocess
    import sys

    import yaml

    raw = yaml.safe_load(Path(CONF).read_text())
    raw["output"]["path"] = mt_train.layout.root
    # table and version given: the ranks skip the run manifest's read (deltalake's
    # to_pyarrow_table, which can abort a process at exit — a known delta-rs issue)
    raw["train"] = {"model": "text", "lr": 0.05, "epochs": 2, "batch_size": 128, "device": "cpu",
                    "progress": "log", "buckets": 4096, "dim": 16,
                    "table": mt_train.train_path, "version": mt_train.train_version}  # fmt: skip
    conf = tmp_path / "mt.yaml"
    conf.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "jobs/train.py", "--config", str(conf)],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-12000:]
    m = json.loads(r.stdout)
    assert m["world_size"] == 2 and set(m["tasks"]) == {"abnormal", "finding"}
    # both ranks' held-out rows are counted once: the same count as one process sees
    single = _train_cli(Path(mt_train.layout.root), "train.epochs=1")
    assert m["n_eval_gold"] == single["n_eval_gold"]
    for t in ("abnormal", "finding"):
        assert m["tasks"][t]["n_eval_gold"] == single["tasks"][t]["n_eval_gold"]
        assert m["tasks"][t]["label_model_accuracy"] == single["tasks"][t]["label_model_accuracy"]
    assert m["tasks"]["abnormal"]["end_model_accuracy"] > 0.8
