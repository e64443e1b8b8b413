"""End model on real Delta tables and real torch (CPU): dataset sharding, loss, training, DDP."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest
import torch
from deltalake import write_deltalake

from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec, as_torch_dataset
from wsup_spark.endmodel.loss import soft_cross_entropy
from wsup_spark.endmodel.trainer import TrainConfig, load_checkpoint, train

POS = ["great", "excellent", "love", "superb", "fine"]
NEG = ["awful", "terrible", "hate", "bad", "poor"]


def make_table(path, n=3000, files=3, seed=0):
    """Separable synthetic text task; probs are noisy soft labels (70% right), gold is exact."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    words = [" ".join(rng.choice(POS if c else NEG, 3)) + " " + " ".join(rng.choice(["the", "a",
             "movie", "plot"], 2)) for c in y]  # fmt: skip
    noisy = np.where(rng.random(n) < 0.7, y, 1 - y)
    conf = rng.uniform(0.6, 0.9, n)
    probs = np.where(noisy[:, None] == np.arange(2), conf[:, None], 1 - conf[:, None])
    score = y + rng.normal(0, 0.3, n)
    for part in np.array_split(np.arange(n), files):
        t = pa.table({
            "id": pa.array(part.astype(np.int64)),
            "text": pa.array([words[i] for i in part]),
            "score": pa.array(score[part]),
            "probs": pa.array(list(probs[part]), pa.list_(pa.float64())),
            "n_votes": pa.array(np.where(part % 10 == 0, 0, 2).astype(np.int32)),
            "gold": pa.array(y[part].astype(np.int32)),
        })  # fmt: skip
        write_deltalake(str(path), t, mode="append")
    return y


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    p = tmp_path_factory.mktemp("train") / "t"
    make_table(p)
    return str(p)


def _ids(ds, **kw):
    return [int(h) for b in ds for h in b["id_hash"]]


def test_every_row_once_per_epoch_across_ranks_and_workers(table):
    full = DeltaIterableDataset(table, batch_size=128, shuffle=False)
    all_ids = sorted(_ids(full))
    assert len(all_ids) == 3000 == len(set(all_ids))
    for world in (1, 2, 3):
        for epoch in (0, 1):
            got = []
            for rank in range(world):
                ds = DeltaIterableDataset(table, batch_size=100, rank=rank, world_size=world,
                                          seed=7)  # fmt: skip
                ds.set_epoch(epoch)
                loader = torch.utils.data.DataLoader(as_torch_dataset(ds), batch_size=None,
                                                     num_workers=2)  # fmt: skip
                got += [int(h) for b in loader for h in b["id_hash"]]
            assert sorted(got) == all_ids, (world, epoch)


def test_shuffle_changes_with_epoch_and_filters(table):
    ds = DeltaIterableDataset(table, batch_size=3000, seed=1)
    a = _ids(ds)
    ds.set_epoch(1)
    assert a != _ids(ds) and sorted(a) == sorted(_ids(ds))
    lab = DeltaIterableDataset(table, batch_size=500, drop_unlabeled=True)
    assert len(_ids(lab)) == 2700
    tr = DeltaIterableDataset(table, batch_size=500, holdout_mod=5, split="train")
    ho = DeltaIterableDataset(table, batch_size=500, holdout_mod=5, split="holdout")
    assert not set(_ids(tr)) & set(_ids(ho)) and len(_ids(tr)) + len(_ids(ho)) == 3000


def test_batches_are_tensors(table):
    spec = FeatureSpec("text", ("score",), 1024)
    b = next(iter(DeltaIterableDataset(table, features=spec, batch_size=64)))
    assert b["probs"].shape == (64, 2) and b["numeric"].shape == (64, 1)
    assert b["offsets"].shape == (64,) and b["tokens"].dtype == torch.int64
    assert int(b["tokens"].max()) < 1024


def test_soft_cross_entropy():
    logits = torch.randn(8, 3, requires_grad=True)
    y = torch.randint(0, 3, (8,))
    onehot = torch.nn.functional.one_hot(y, 3).float()
    assert torch.allclose(soft_cross_entropy(logits, onehot),
                          torch.nn.functional.cross_entropy(logits, y))  # fmt: skip
    probs = torch.softmax(torch.randn(8, 3), 1)
    soft_cross_entropy(logits, probs).backward()
    # gradient of expected CE w.r.t. logits is softmax(logits) - probs (averaged)
    expect = (torch.softmax(logits.detach(), 1) - probs) / 8
    assert torch.allclose(logits.grad, expect, atol=1e-6)
    w = torch.zeros(8)
    w[0] = 1.0
    assert torch.isclose(soft_cross_entropy(logits, probs, w),
                         -(probs[0] * torch.log_softmax(logits, 1)[0]).sum())  # fmt: skip


def test_training_beats_its_noisy_labels_and_checkpoints(table, tmp_path):
    cfg = TrainConfig(table=table, model="text", epochs=4, lr=0.05, batch_size=128,
                      buckets=4096, dim=16, checkpoint_dir=str(tmp_path / "ck"))  # fmt: skip
    res = train(cfg)
    m = res.metrics
    assert m["n_eval_gold"] > 400
    # labels are 70% right; the end model generalises from the words to ~all right
    assert m["label_model_accuracy"] < 0.8 < m["end_model_accuracy"]
    _model, cfg2 = load_checkpoint(res.checkpoint)
    assert cfg2 == cfg
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["k"] == 2


def _ddp_worker(rank, world, table, init_file, out_dir):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world))
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                                         world_size=world)  # fmt: skip
    ds = DeltaIterableDataset(table, batch_size=97, seed=3)
    ids = [int(h) for b in ds for h in b["id_hash"]]
    with open(os.path.join(out_dir, f"ids-{rank}.json"), "w") as f:
        json.dump(ids, f)
    cfg = TrainConfig(table=table, model="text_numeric", numeric_cols=("score",), epochs=1,
                      batch_size=64, buckets=2048, dim=8)  # fmt: skip
    res = train(cfg)
    with open(os.path.join(out_dir, f"metrics-{rank}.json"), "w") as f:
        json.dump(res.metrics, f)
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_process_ddp_on_cpu_sees_every_row_once(table, tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, table, str(tmp_path / "init"), str(tmp_path)), nprocs=2,
             join=True)  # fmt: skip
    ids = [json.loads((tmp_path / f"ids-{r}.json").read_text()) for r in range(2)]
    assert ids[0] and ids[1] and not set(ids[0]) & set(ids[1])
    assert len(ids[0]) + len(ids[1]) == 3000
    metrics = [json.loads((tmp_path / f"metrics-{r}.json").read_text()) for r in range(2)]
    assert metrics[0]["world_size"] == 2
    assert metrics[0]["n_eval_gold"] == metrics[1]["n_eval_gold"] > 0  # all-reduced


def test_config_errors():
    from wsup_spark.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({"table": "x", "epoch": 3})
    with pytest.raises(ConfigError, match="train.table is empty"):
        TrainConfig.from_dict({})


def test_wsup_train_cli_on_a_pipeline_training_table(spark, tmp_path, capsys):
    """The demo pipeline writes the training table; `wsup train` trains on it (CPU)."""
    from wsup_spark.cli import main
    from wsup_spark.core.config import load_config
    from wsup_spark.pipeline import run_pipeline

    out = tmp_path / "demo"
    run_pipeline(load_config("conf/demo.yaml", ["source.n_rows=2000", f"output.path={out}"]), spark)
    ck = tmp_path / "ck"
    args = ["--set", f"output.path={out}", "--set", "train.epochs=2"]
    rc = main(["train", "--config", "conf/demo.yaml", *args, "--set", f"train.checkpoint_dir={ck}"])
    assert rc == 0
    metrics = json.loads(capsys.readouterr().out)
    # a smoke test of the CLI path (learning quality: test_training_beats_its_noisy_labels)
    assert metrics["n_eval_gold"] > 200 and metrics["end_model_accuracy"] > 0.65
    assert (tmp_path / "ck" / "model.pt").exists()
