"""The whole train loop on CPU: learning from noisy soft labels, determinism, checkpoints, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from script_modules import load_script

from wsup_spark.endmodel.checkpoint import load_checkpoint, read_meta
from wsup_spark.endmodel.config import TrainConfig
from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec
from wsup_spark.endmodel.evaluate import predict
from wsup_spark.endmodel.trainer import train, train_from_config
from wsup_spark.errors import ConfigError, ModelError


def small(table, **kw):
    base = dict(table=table, epochs=3, batch_size=64, buckets=4096, dim=16, lr=0.01,
                progress="log")  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_learns_beyond_its_noisy_labels(text_table):
    """Labels are 70% right; the end model learns the sentiment words and gets ~all gold right,
    including the rows no LF voted on (where the label model can only guess)."""
    m = train(small(text_table)).metrics
    assert m["n_eval_gold"] > 400 and m["n_eval_uncovered"] > 30
    assert m["label_model_accuracy"] < 0.8
    # ~0.97 whatever the (random) file names of the table, which set the shard order
    assert m["end_model_accuracy"] > 0.93 and m["end_model_f1"] > 0.93
    assert m["end_model_uncovered_accuracy"] > 0.9
    assert m["train_rows_per_epoch"] == 3000 - 300 - m["n_eval_gold"] + m["n_eval_uncovered"]


def test_text_numeric_with_char_ngrams_and_workers(text_table):
    cfg = small(text_table, model="text_numeric", numeric_cols=("score",), char_ngrams=(3, 5),
                epochs=3, num_workers=2, confidence_weighting=True)  # fmt: skip
    # labels are 70% right; a few dozen SGD steps land anywhere in ~0.92-1.0 depending on the
    # table's (random) file names, which set the shard order
    assert train(cfg).metrics["end_model_accuracy"] > 0.85


def test_deterministic_given_a_seed(text_table):
    def weights(seed):
        r = train(small(text_table, epochs=1, seed=seed, num_workers=1))
        return r.model.state_dict(), r.metrics["train_loss"]

    (a, la), (b, lb), (c, _) = weights(3), weights(3), weights(4)
    assert la == lb and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["encoder.bag.weight"], c["encoder.bag.weight"])


def test_checkpoint_round_trip_and_resume(text_table, tmp_path):
    ck = tmp_path / "ck"
    cfg = small(text_table, model="text_numeric", numeric_cols=("score",), epochs=1,
                checkpoint_dir=str(ck), storage_options={"AWS_SECRET": "s3cr3t"})  # fmt: skip
    res = train(cfg)
    assert res.checkpoint == str(ck) and {p.name for p in ck.iterdir()} == {
        "model.pt", "optim.pt", "config.json"}  # fmt: skip
    assert "s3cr3t" not in (ck / "config.json").read_text()
    model, cfg2, meta = load_checkpoint(ck)
    assert cfg2.to_dict() | {"storage_options": {}} == cfg.to_dict() | {"storage_options": {}}
    assert meta["k"] == 2 and meta["epoch"] == 1 and meta["table_version"] == 2
    ds = DeltaIterableDataset(text_table, features=FeatureSpec("text", ("score",), 4096),
                              shuffle=False, batch_size=256)  # fmt: skip
    ids1, p1 = predict(res.model, ds)
    ids2, p2 = predict(model, ds)
    assert (ids1 == ids2).all() and torch.allclose(torch.from_numpy(p1), torch.from_numpy(p2))
    # resume: one more epoch on top of the checkpoint
    resumed = train(TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True}))
    assert read_meta(ck)["epoch"] == 2 and resumed.metrics["end_model_accuracy"] > 0.85


def test_custom_module(text_table, tmp_path):
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1, 2)

        def forward(self, batch):
            return self.lin(batch["numeric"])

    cfg = small(text_table, model="numeric", numeric_cols=("score",), checkpoint_dir=str(
        tmp_path / "c"))  # fmt: skip
    res = train(cfg, model=Tiny())
    assert res.metrics["end_model_accuracy"] > 0.8
    with pytest.raises(ModelError, match="custom model"):
        load_checkpoint(tmp_path / "c")
    assert isinstance(load_checkpoint(tmp_path / "c", model=Tiny())[0], Tiny)


def test_config_validation():
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({"table": "x", "epoch": 3})
    with pytest.raises(ConfigError, match="train.table is empty"):
        TrainConfig.from_dict({})
    with pytest.raises(ConfigError, match="needs train.numeric_cols"):
        TrainConfig.from_dict({"table": "x", "model": "numeric"})
    with pytest.raises(ConfigError, match="char_ngrams"):
        TrainConfig.from_dict({"table": "x", "char_ngrams": [5, 3]})
    with pytest.raises(ConfigError, match="positive integer"):
        TrainConfig.from_dict({"table": "x", "batch_size": 0})
    with pytest.raises(ConfigError, match="CUDA is not available"):
        train(TrainConfig(table="x", device="cuda")) if not torch.cuda.is_available() else (
            pytest.skip("has CUDA"))  # fmt: skip


def test_train_from_config_and_the_job(text_table, tmp_path, capsys):
    out = Path(text_table).parent  # the training table is <output.path>/train
    raw = {
        "lfs": {"modules": ["wsup_spark.demo.radiology_lfs"]},
        "output": {"path": str(out)},
        "train": {"epochs": 1, "batch_size": 128, "buckets": 4096, "dim": 8, "progress": "log",
                  "checkpoint_dir": str(tmp_path / "ck")},
    }  # fmt: skip
    m = train_from_config(raw)
    assert m["table"] == f"{out}/train" and m["end_model_accuracy"] > 0.8
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump(raw))
    job = load_script("jobs/train.py", "train_job")
    capsys.readouterr()
    assert job.main(["--config", str(conf), "--set", "train.lr=0.05"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["end_model_accuracy"] > 0.8 and metrics["checkpoint"] == str(tmp_path / "ck")
    assert job.main(["--config", str(conf), "--set", "train.model=bert"]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")
def test_cuda_mixed_precision(text_table):
    """The GPU path: device auto-selection picks CUDA, autocast (bf16/fp16) trains as well."""
    res = train(small(text_table, model="text_numeric", numeric_cols=("score",), amp=True))
    assert res.metrics["device"].startswith("cuda") and res.metrics["end_model_accuracy"] > 0.9
    assert next(res.model.parameters()).is_cuda
