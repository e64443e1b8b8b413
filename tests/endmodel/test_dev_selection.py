"""Model selection on a gold dev split (``train.dev_mod``, ``patience``, ``dev_metric``): real
Delta tables, real torch, CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from ddp_dev_train import Tiny  # the two-rank script's model (this folder is on sys.path)
from deltalake import write_deltalake

from wsup_spark.endmodel.config import TrainConfig
from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec
from wsup_spark.endmodel.evaluate import evaluate
from wsup_spark.endmodel.hashing import hash_ints
from wsup_spark.endmodel.trainer import train
from wsup_spark.errors import ConfigError, DataError


def small(table, **kw):
    base = dict(table=table, epochs=3, batch_size=64, buckets=4096, dim=16, lr=0.01,
                progress="log", dev_mod=4)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def splits(n=3000, holdout_mod=5, dev_mod=4):
    """The conftest table's eval / dev masks computed here from the id hash (not the dataset)."""
    ids = np.arange(n)
    gold = ids % 7 != 3
    h = hash_ints(ids)
    held = gold & (h % np.uint64(holdout_mod) == 0)
    dev = gold & ~held & ((h // np.uint64(holdout_mod)) % np.uint64(dev_mod) == 0)
    return ids, held, dev


def tiny(seed=0):
    torch.manual_seed(seed)
    return Tiny()


def sabotage(model, from_epoch):
    """An ``on_batch`` hook that, from 0-based epoch ``from_epoch`` on, resets the weights to
    the negation of what they were when that epoch began before every step: every epoch from
    there ends (one small step away from) inverted, i.e. clearly worse on dev than before."""
    saved = {}

    def hook(epoch, batch):
        if epoch < from_epoch:
            return
        with torch.no_grad():
            if not saved:
                saved.update({k: v.clone() for k, v in model.state_dict().items()})
            for name, p in model.named_parameters():
                p.copy_(-saved[name])

    return hook


def test_dev_rows_never_train_and_are_disjoint_from_eval(text_table):
    ids, held, dev = splits()
    seen = set()
    m = train(small(text_table), on_batch=lambda e, b: seen.update(b["id"].tolist())).metrics
    assert dev.sum() > 300 and not (held & dev).any()
    assert m["n_dev_gold"] == int(dev.sum()) and m["n_eval_gold"] == int(held.sum())
    seen_mask = np.isin(ids, list(seen))
    assert not (seen_mask & dev).any() and not (seen_mask & held).any()
    labeled = ids % 10 != 0
    assert (seen_mask == (labeled & ~held & ~dev)).all()
    assert m["train_rows_per_epoch"] == int((labeled & ~held & ~dev).sum())
    assert len(m["dev_curve"]) == 3 and m["dev_epochs"] == [1, 2, 3]
    assert m["dev_best"] == max(m["dev_curve"]) and m["best_epoch"] in (1, 2, 3)
    assert m["dev_curve"][m["best_epoch"] - 1] == m["dev_best"] > 0.9
    assert m["dev_label_model"] < 0.8 and m["stopped_early"] is False
    # the dataset's splits agree with the hash computed here, and cover the gold rows once
    spec = FeatureSpec(None)
    got = {s: np.concatenate([b["id"].numpy() for b in DeltaIterableDataset(
        text_table, features=spec, split=s, holdout_mod=5, dev_mod=4, shuffle=False)])
        for s in ("train", "dev", "eval")}  # fmt: skip
    assert sorted(got["dev"]) == ids[dev].tolist() and sorted(got["eval"]) == ids[held].tolist()
    assert sorted(np.concatenate(list(got.values()))) == ids.tolist()


def test_dev_off_is_the_old_behaviour(text_table):
    """dev_mod 0 (the default): no dev split, every epoch trains, the same rows as before."""
    ids, held, _ = splits()
    m = train(small(text_table, dev_mod=0, epochs=1)).metrics
    assert m["dev_curve"] == [] and m["best_epoch"] is None and m["n_dev_gold"] == 0
    assert m["train_rows_per_epoch"] == int(((ids % 10 != 0) & ~held).sum())
    with pytest.raises(DataError, match="needs dev_mod"):
        DeltaIterableDataset(text_table, split="dev", holdout_mod=5)


def test_restores_the_best_epoch(text_table):
    """Epochs 3 and 4 are sabotaged (inverted): the returned model is the best dev epoch's —
    exactly the weights of the same seeded run stopped after that epoch — its dev accuracy is
    max(dev_curve), and the held-out evaluation and checkpoint are of it, not of epoch 4."""
    cfg = small(text_table, model="numeric", numeric_cols=("score",), epochs=4)
    model = tiny()
    res = train(cfg, model=model, on_batch=sabotage(model, 2))
    m = res.metrics
    assert len(m["dev_curve"]) == 4 and m["best_epoch"] in (1, 2)
    assert max(m["dev_curve"][2:]) < 0.5 < m["dev_best"] == max(m["dev_curve"])
    assert m["end_model_accuracy"] > 0.8 and not m["stopped_early"]
    dev = DeltaIterableDataset(text_table, features=FeatureSpec(None, ("score",)), split="dev",
                               holdout_mod=5, dev_mod=4, shuffle=False)  # fmt: skip
    assert evaluate(res.model, dev, torch.device("cpu"), 2)["end_model_accuracy"] == m["dev_best"]
    ref = train(small(text_table, model="numeric", numeric_cols=("score",),
                      epochs=m["best_epoch"]), model=tiny())  # fmt: skip
    a, b = res.model.state_dict(), ref.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ref.metrics["end_model_accuracy"] == m["end_model_accuracy"]


def test_early_stopping_after_patience_epochs(text_table, tmp_path):
    cfg = small(text_table, model="numeric", numeric_cols=("score",), epochs=10, patience=2,
                checkpoint_dir=str(tmp_path / "ck"))  # fmt: skip
    model = tiny()
    seen_epochs = set()

    def hook(epoch, batch):
        seen_epochs.add(epoch)
        spoil(epoch, batch)

    spoil = sabotage(model, 2)
    m = train(cfg, model=model, on_batch=hook).metrics
    best = m["best_epoch"]
    assert m["stopped_early"] and best in (1, 2)
    # stops exactly `patience` epochs after the last improvement, none of which improved
    assert m["epochs_trained"] == len(m["dev_curve"]) == best + 2 < 10
    assert seen_epochs == set(range(best + 2))
    assert all(s <= m["dev_best"] for s in m["dev_curve"][best:])
    assert m["end_model_accuracy"] > 0.8  # the restored best epoch, not the inverted last one
    from wsup_spark.endmodel.checkpoint import read_meta

    assert read_meta(tmp_path / "ck")["metrics"]["best_epoch"] == best


def test_self_training_selects_across_both_rounds(text_table):
    """Round 1 stops early (patience 1) and round 2 starts from round 1's best epoch; round 2,
    sabotaged, never beats it, so the final model is round 1's best."""
    cfg = small(text_table, model="numeric", numeric_cols=("score",), epochs=3, patience=1,
                self_training=True, self_training_threshold=0.6)  # fmt: skip
    model = tiny()
    spoil = sabotage(model, 1)
    starts = {}

    def hook(epoch, batch):
        if epoch not in starts:
            starts[epoch] = {k: v.clone() for k, v in model.state_dict().items()}
        spoil(epoch, batch)

    m = train(cfg, model=model, on_batch=hook).metrics
    assert m["best_epoch"] == 1 and m["stopped_early"]
    assert m["dev_epochs"] == [1, 2, 4] and m["epochs_trained"] == 3
    assert sorted(starts) == [0, 1, 3]  # epoch index 2 (round 1's last) was skipped
    ref = train(small(text_table, model="numeric", numeric_cols=("score",), epochs=1),
                model=tiny()).model.state_dict()  # fmt: skip
    assert all(torch.equal(starts[3][k], ref[k]) for k in ref)  # round 2 began at epoch 1's
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())


def test_f1_selection_and_multitask(tmp_path, make_table):
    table = tmp_path / "t"
    make_table(table, n=1200, files=2)
    m = train(small(str(table), epochs=2, dev_metric="f1")).metrics
    assert m["dev_metric"] == "f1" and len(m["dev_curve"]) == 2 and m["dev_best"] > 0.8
    # multi-task: two independent binary tasks, the selection score is their mean dev accuracy
    mt = tmp_path / "mt"
    rng = np.random.default_rng(0)
    n = 1200
    ya, yb = rng.integers(0, 2, n), rng.integers(0, 2, n)
    words = np.array([["bad", "good"], ["cold", "hot"]])
    text = [f"{words[0][a]} {words[1][b]} the" for a, b in zip(ya, yb, strict=True)]

    def probs(y):
        noisy = np.where(rng.random(n) < 0.8, y, 1 - y)
        return pa.array(list(np.eye(2)[noisy] * 0.6 + 0.2), pa.list_(pa.float64()))

    write_deltalake(str(mt), pa.table({
        "id": pa.array(np.arange(n), pa.int64()), "text": text,
        "probs_a": probs(ya), "probs_b": probs(yb),
        "gold_a": pa.array(ya, pa.int32()), "gold_b": pa.array(yb, pa.int32()),
        "n_votes": pa.array(np.full(n, 2), pa.int32()),
    }))  # fmt: skip
    graph = {"tasks": [{"name": "a", "cardinality": 2}, {"name": "b", "cardinality": 2}]}
    m = train(small(str(mt), epochs=2, tasks=graph)).metrics
    assert len(m["dev_curve"]) == 2 and m["n_dev_gold"] > 150
    assert m["dev_best"] == max(m["dev_curve"]) > 0.9
    assert m["tasks"]["a"]["end_model_accuracy"] > 0.9


def test_config_errors():
    ok = {"table": "x", "dev_mod": 10, "patience": 2, "dev_metric": "f1"}
    cfg = TrainConfig.from_dict(ok)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"table": "x"}).dev_mod == 0  # off by default
    for bad, match in [
        ({"dev_mod": -1}, r"train.dev_mod must be an integer >= 0, got -1"),
        ({"dev_mod": "10"}, r"train.dev_mod must be an integer >= 0, got '10'"),
        ({"patience": -2}, r"train.patience must be null or an integer >= 0, got -2"),
        ({"patience": 1.5}, r"train.patience must be null or an integer >= 0, got 1.5"),
        ({"dev_metric": "auc"}, r"train.dev_metric must be one of \('acc', 'f1'\), got 'auc'"),
        ({"dev_mod": 5, "holdout_mod": 0}, r"train.dev_mod=5 needs train.holdout_mod > 0"),
        ({"dev_mod": 0, "patience": 3}, r"train.patience=3 needs a dev split"),
        ({"dev_metric": "f1", "tasks": {"tasks": [{"name": "a", "cardinality": 2}]}},
         r"train.dev_metric=f1 is not supported for multi-task"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError, match=match):
            TrainConfig.from_dict({**ok, **bad})


def test_ddp_ranks_select_and_stop_alike(tmp_path, make_table):
    """Two gloo ranks under torchrun: the dev counts are all-reduced, so both ranks see the same
    dev curve, stop after the same epoch and end with the same (restored) weights; no dev or
    held-out row trains on either rank."""
    table = tmp_path / "t"
    make_table(table, n=3000, files=3)
    here = Path(__file__).resolve().parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(here.parents[1])}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node=2", str(here / "ddp_dev_train.py"), str(table),
                        str(tmp_path)], capture_output=True, text=True, timeout=240, env=env,
                       cwd=here.parents[1])  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1)]
    m0, m1 = (run["metrics"] for run in runs)
    assert m0["world_size"] == 2 and m0["stopped_early"] and m1["stopped_early"]
    for key in ("dev_curve", "dev_epochs", "best_epoch", "epochs_trained", "n_dev_gold",
                "end_model_accuracy"):  # fmt: skip
        assert m0[key] == m1[key], key
    assert m0["epochs_trained"] == m0["best_epoch"] + 2 < 8
    ids, held, dev = splits()
    assert m0["n_dev_gold"] == int(dev.sum())
    seen = np.isin(ids, runs[0]["seen"] + runs[1]["seen"])
    assert not (seen & (held | dev)).any() and seen[(ids % 10 != 0) & ~held & ~dev].all()
    w0, w1 = (torch.load(tmp_path / f"rank{k}.pt") for k in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
