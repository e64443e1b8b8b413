"""``train.model: embedding`` (an MLP on a precomputed embedding column) and self-training.

Real Delta tables written with deltalake; no sentence encoder needed (the embedding column is
synthetic here — tests/endmodel/test_encoders.py and tests/test_pipeline_embedding.py cover the
real MiniLM column).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from wsup_spark.endmodel import TrainConfig, load_checkpoint, train
from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec
from wsup_spark.endmodel.models import EmbeddingClassifier
from wsup_spark.errors import ConfigError, DataError

E = 8


@pytest.fixture(scope="module")
def emb_table(tmp_path_factory: pytest.TempPathFactory, make_table: Any) -> str:
    """2000 rows in 2 files, ``emb`` (E floats; null on row 3), labels right 70% of the time."""
    p = tmp_path_factory.mktemp("emb") / "train"
    make_table(p, n=2000, files=2, emb_dim=E)
    return str(p)


def test_dataset_reads_the_embedding_column(emb_table: str) -> None:
    ds = DeltaIterableDataset(emb_table, features=FeatureSpec(None, embedding_col="emb"),
                              batch_size=4096, shuffle=False)  # fmt: skip
    assert ds.embedding_dim == E
    (batch,) = list(ds)
    assert batch["embedding"].shape == (2000, E) and batch["embedding"].dtype == torch.float32
    ids = batch["id"].numpy()
    assert not batch["embedding"][ids == 3].any()  # the null row: zeros
    assert batch["embedding"][ids == 4].abs().sum() > 0
    with pytest.raises(DataError, match="lacks column"):
        DeltaIterableDataset(emb_table, features=FeatureSpec(None, embedding_col="vec"))
    with pytest.raises(DataError, match="expected an array of floats"):
        DeltaIterableDataset(emb_table, features=FeatureSpec(None, embedding_col="n_votes"))


def test_embedding_model_beats_its_labels_and_round_trips(emb_table: str, tmp_path: Path) -> None:
    cfg = TrainConfig.from_dict({
        "table": emb_table, "model": "embedding", "embedding_col": "emb", "text_col": None,
        "hidden": [16], "epochs": 8, "lr": 0.01, "batch_size": 64, "holdout_mod": 4,
        "device": "cpu", "progress": "log", "checkpoint_dir": str(tmp_path / "ckpt"),
    })  # fmt: skip
    res = train(cfg)
    m = res.metrics
    # labels are right 70% of the time; the embedding separates the classes
    assert m["end_model_accuracy"] > 0.9 > m["label_model_accuracy"]
    model, cfg2, _ = load_checkpoint(tmp_path / "ckpt")
    assert isinstance(model, EmbeddingClassifier) and cfg2.model == "embedding"
    x = {"embedding": torch.randn(5, E)}
    assert res.model is not None
    assert torch.allclose(model.eval()(x), res.model.eval()(x))


def test_embedding_model_config_errors() -> None:
    with pytest.raises(ConfigError, match="embedding_col"):
        TrainConfig.from_dict({"table": "/t", "model": "embedding", "embedding_col": ""})
    with pytest.raises(ConfigError, match="self_training_threshold"):
        TrainConfig.from_dict({"table": "/t", "self_training_threshold": 1.5})


def test_self_training_adds_a_round_on_every_row(tmp_path: Path, make_table: Any) -> None:
    """Round 1 sees covered rows only; round 2 also the uncovered ones, labelled by the teacher
    where it is confident. (Whether it helps is measured by scripts/bench_endmodel.py, not
    assumed: on this toy set more epochs of any kind move accuracy by a few points.)"""
    path = tmp_path / "train"
    make_table(path, n=2000, files=2, seed=1, label_acc=0.8, emb_dim=E,
               unlabeled=lambda ids: ids % 5 != 0)  # 20% of the rows are covered
    base = {"table": str(path), "model": "embedding", "embedding_col": "emb", "text_col": None,
            "hidden": [], "epochs": 3, "lr": 0.02, "batch_size": 64, "holdout_mod": 4,
            "device": "cpu", "progress": "log"}  # fmt: skip
    seen: dict[int, int] = {}

    def count_uncovered(epoch: int, batch: dict[str, torch.Tensor]) -> None:
        seen[epoch] = seen.get(epoch, 0) + int((batch["n_votes"] == 0).sum())

    plain = train(TrainConfig.from_dict(base)).metrics
    st = train(TrainConfig.from_dict({**base, "self_training": True,
                                      "self_training_threshold": 0.8}),
               on_batch=count_uncovered).metrics  # fmt: skip
    assert st["epochs"] == 6 and st["self_training"] is True
    assert [seen.get(e, 0) for e in range(3)] == [0, 0, 0]
    assert all(seen[e] > 1000 for e in range(3, 6))  # ~1,300 uncovered train-split rows
    assert st["train_rows_per_epoch"] > 3 * plain["train_rows_per_epoch"]
    assert st["end_model_accuracy"] > 0.9 > st["label_model_accuracy"] + 0.05


def test_a_missing_encoder_fails_the_run_before_anything_is_written(tmp_path: Path) -> None:
    from wsup_spark.config import load_config
    from wsup_spark.pipeline import run_pipeline

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "out"
    cfg = load_config(root / "conf" / "demo.yaml", [
        f"output.path={out}", "output.embedding.text_col=text",
        f"output.embedding.model={tmp_path / 'no-model'}",
    ])  # fmt: skip
    with pytest.raises(ConfigError, match="never downloaded"):
        run_pipeline(cfg)
    assert not out.exists()
    off = load_config(root / "conf" / "youtube.yaml", ["output.embedding=null"])
    assert off.output.embedding == {}


def test_balanced_class_weight_in_the_streaming_trainer(tmp_path: Path) -> None:
    """``train.class_weight: balanced``: the class mass is the soft label mass of the rows that
    train, and weighting lifts the rare class's predicted probability."""
    import numpy as np
    import pyarrow as pa
    from deltalake import write_deltalake

    rng = np.random.default_rng(0)
    n = 1500
    y = (rng.random(n) < 0.1).astype(np.int64)  # 10% positives
    emb = rng.normal(0, 1, (n, E)).astype(np.float32)
    emb[:, 0] += 0.8 * (2 * y - 1)  # a weak signal
    probs = np.where(y[:, None] == np.arange(2), 0.85, 0.15)
    votes = np.where(np.arange(n) % 4 == 0, 0, 1)  # every 4th row uncovered: not counted
    write_deltalake(str(tmp_path / "t"), pa.table({
        "id": pa.array(np.arange(n), pa.int64()),
        "emb": pa.array(list(emb), pa.list_(pa.float32())),
        "probs": pa.array(list(probs), pa.list_(pa.float64())),
        "n_votes": pa.array(votes.astype(np.int32)),
    }))  # fmt: skip
    base = {"table": str(tmp_path / "t"), "model": "embedding", "embedding_col": "emb",
            "text_col": None, "hidden": [], "epochs": 5, "lr": 0.02, "batch_size": 64,
            "device": "cpu", "progress": "log"}  # fmt: skip
    plain = train(TrainConfig.from_dict(base))
    bal = train(TrainConfig.from_dict({**base, "class_weight": "balanced"}))
    assert plain.metrics["class_mass"] is None
    np.testing.assert_allclose(bal.metrics["class_mass"], probs[votes > 0].sum(0), rtol=1e-6)
    x = {"embedding": torch.from_numpy(emb)}
    assert plain.model is not None and bal.model is not None
    p_plain = torch.softmax(plain.model.eval()(x), 1)[:, 1].mean()
    p_bal = torch.softmax(bal.model.eval()(x), 1)[:, 1].mean()
    assert p_bal > p_plain + 0.1  # measured: 0.22 (the soft base rate) vs 0.48
    with pytest.raises(ConfigError, match="class_weight"):
        TrainConfig.from_dict({**base, "class_weight": "inverse"})
