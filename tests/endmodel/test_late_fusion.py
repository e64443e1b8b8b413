"""Late fusion (``train.fusion: late``): views trained as separate experts, fused as a product.

The toy table is the demo's situation in miniature: the LF reads a cue word of the text that is
right 80% of the time, so the soft labels are a function of the text; a numeric column no LF read
carries independent evidence of the class. A model over the concatenated features learns to
imitate the LF from the text; late fusion adds the numeric evidence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from deltalake import write_deltalake

from wsup_spark.endmodel import TrainConfig, load_checkpoint, train
from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec
from wsup_spark.endmodel.loss import soft_cross_entropy
from wsup_spark.endmodel.models import LateFusionModel, NumericMLP, build_model
from wsup_spark.errors import ConfigError


def _cue_table(path: Path, n: int = 4000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    cue = np.where(rng.random(n) < 0.8, y, 1 - y)  # what the LF reads: right 80% of the time
    words = np.array(["clear", "finding"])[cue]
    filler = rng.choice(["the", "report", "chest", "view", "seen"], (n, 3))
    texts = [" ".join([w, *f]) for w, f in zip(words, filler, strict=True)]
    probs = np.where(cue[:, None] == np.arange(2), 0.8, 0.2)  # the label model: P(y | cue)
    t = pa.table({
        "id": pa.array(np.arange(n), pa.int64()),
        "text": pa.array(texts),
        "score": pa.array(y + rng.normal(0, 0.6, n)),  # independent of the cue given y
        "probs": pa.array(list(probs), pa.list_(pa.float64())),
        "n_votes": pa.array(np.ones(n, np.int32)),
        "gold": pa.array(y.astype(np.int32)),
    })  # fmt: skip
    write_deltalake(str(path), t)
    return y


def _cfg(table: Path, fusion: str, **kw: object) -> TrainConfig:
    return TrainConfig.from_dict({
        "table": str(table), "model": "text_numeric", "numeric_cols": ["score"],
        "fusion": fusion, "epochs": 6, "lr": 0.05, "batch_size": 128, "hidden": [],
        "device": "cpu", "progress": "log", "holdout_mod": 4, **kw,
    })  # fmt: skip


def test_late_fusion_adds_the_evidence_of_features_no_lf_read(tmp_path: Path) -> None:
    _cue_table(tmp_path / "t")
    early = train(_cfg(tmp_path / "t", "early")).metrics
    res = train(_cfg(tmp_path / "t", "late", checkpoint_dir=str(tmp_path / "ck")))
    late = res.metrics
    lm = late["label_model_accuracy"]
    assert 0.75 < lm < 0.85  # the cue's accuracy
    assert early["end_model_accuracy"] < lm + 0.03  # imitates the LF
    assert late["end_model_accuracy"] > lm + 0.05  # product of the cue and the score
    assert late["end_model_accuracy"] > early["end_model_accuracy"] + 0.05
    prior = res.model.log_prior.exp()  # the labels' class mass, ~0.5 / 0.5
    assert torch.allclose(prior, torch.full((2,), 0.5), atol=0.06)
    # the checkpoint rebuilds the late-fusion model with its prior
    model, cfg, _ = load_checkpoint(str(tmp_path / "ck"))
    assert isinstance(model, LateFusionModel) and cfg.fusion == "late"
    assert torch.equal(model.log_prior, res.model.log_prior)
    ds = DeltaIterableDataset(str(tmp_path / "t"), features=FeatureSpec("text", ("score",)),
                              batch_size=64, shuffle=False)  # fmt: skip
    b = next(iter(ds))
    model.eval()
    res.model.eval()
    with torch.no_grad():
        assert torch.allclose(model(b), res.model(b), atol=1e-6)


def test_view_0_learns_the_labels_and_the_others_the_em_posterior() -> None:
    torch.manual_seed(0)
    m = LateFusionModel([NumericMLP(1, 2, hidden=()), NumericMLP(1, 2, hidden=())], k=2).train()
    b = {"numeric": torch.randn(8, 1)}
    z = m(b)
    target = torch.tensor([[0.9, 0.1], [0.3, 0.7]]).repeat(4, 1)
    q = torch.softmax(z[1].detach(), 1)
    r = target * q / q.mean(0)
    r = r / r.sum(1, keepdim=True)
    loss = soft_cross_entropy(z, target)
    expect = soft_cross_entropy(z[0], target) + soft_cross_entropy(z[1], r)
    assert torch.isclose(loss, expect) and not torch.allclose(r, target)
    loss.backward()  # type: ignore[no-untyped-call]
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in m.parameters())


def test_fused_logits_are_the_product_of_experts() -> None:
    m = LateFusionModel([NumericMLP(1, 3, hidden=()), NumericMLP(1, 3, hidden=())], k=3)
    m.log_prior.copy_(torch.log(torch.tensor([0.5, 0.3, 0.2])))
    b = {"numeric": torch.randn(5, 1)}
    m.eval()
    with torch.no_grad():
        p = [torch.softmax(v(b), 1) for v in m.views]
        expect = torch.softmax(torch.log(p[0] * p[1] / torch.tensor([0.5, 0.3, 0.2])), 1)
        assert torch.allclose(torch.softmax(m(b), 1), expect, atol=1e-6)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"model": "text", "fusion": "late"}, "two views"),
        ({"model": "embedding", "fusion": "late"}, "two views"),
        ({"model": "text_numeric", "numeric_cols": ["a"], "fusion": "middle"}, "train.fusion"),
        ({"model": "text_numeric", "numeric_cols": ["a"], "fusion": "late",
          "tasks": {"tasks": []}}, "multi-task"),
    ],
)  # fmt: skip
def test_fusion_config_errors(raw: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainConfig.from_dict({"table": "/t", **raw})


def test_late_fusion_of_an_embedding_and_numeric_columns() -> None:
    m = build_model("embedding", 2, 16, 1, hidden=(4,), embedding_dim=3, fusion="late")
    assert isinstance(m, LateFusionModel)
    b = {"embedding": torch.zeros(2, 3), "numeric": torch.zeros(2, 1)}
    assert tuple(m.eval()(b).shape) == (2, 2)
