"""Soft cross-entropy and the built-in models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsup_spark.endmodel.hashing import hash_ngrams
from wsup_spark.endmodel.loss import confidence_weights, soft_cross_entropy
from wsup_spark.endmodel.models import HashedTextEncoder, NumericMLP, Standardize, build_model
from wsup_spark.errors import ConfigError, ModelError


def test_soft_ce_equals_hard_ce_for_one_hot_labels():
    torch.manual_seed(0)
    logits = torch.randn(16, 4)
    y = torch.randint(0, 4, (16,))
    onehot = F.one_hot(y, 4).float()
    assert torch.allclose(soft_cross_entropy(logits, onehot), F.cross_entropy(logits, y))
    w = torch.rand(16)
    hard = (F.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum()
    assert torch.allclose(soft_cross_entropy(logits, onehot, w), hard)


def test_soft_ce_gradient_is_softmax_minus_probs():
    torch.manual_seed(1)
    logits = torch.randn(8, 3, requires_grad=True)
    probs = torch.softmax(torch.randn(8, 3), 1)
    soft_cross_entropy(logits, probs).backward()
    expect = (torch.softmax(logits.detach(), 1) - probs) / 8
    assert torch.allclose(logits.grad, expect, atol=1e-6)
    # the loss is minimised (gradient 0) exactly at logits = log probs
    at_target = torch.log(probs).requires_grad_(True)
    soft_cross_entropy(at_target, probs).backward()
    assert at_target.grad.abs().max() < 1e-6
    # and equals the entropy of probs there
    ent = -(probs * probs.log()).sum(1).mean()
    assert torch.isclose(soft_cross_entropy(torch.log(probs), probs), ent)


def test_soft_ce_edge_cases():
    with pytest.raises(ModelError, match="k classes"):
        soft_cross_entropy(torch.zeros(4, 3), torch.zeros(4, 2))
    assert float(soft_cross_entropy(torch.zeros(0, 2), torch.zeros(0, 2))) == 0.0
    w = confidence_weights(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    assert torch.allclose(w, torch.tensor([0.0, 0.8]))


def test_factored_char_encoder_equals_flat_mean():
    texts = ["good movie good", "", "bad bad plot", "x"]
    h = hash_ngrams(texts, 500, word_ngrams=2, char_ngrams=(2, 4))
    enc = HashedTextEncoder(500, 8, sparse=False)
    batch = {k: torch.from_numpy(v.copy()) for k, v in {
        "tokens": h.ids, "offsets": h.offsets[:-1], "char_tokens": h.char_ids,
        "char_offsets": h.char_offsets[:-1], "token_word": h.token_word, "token_row": h.token_row,
    }.items()}  # fmt: skip
    ids, offs = h.flat()
    flat = torch.nn.functional.embedding_bag(
        torch.from_numpy(ids), enc.bag.weight, torch.from_numpy(offs[:-1].copy()), mode="mean"
    )
    out = enc(batch)
    assert out.shape == (4, 8)
    assert torch.allclose(out, flat, atol=1e-6)
    assert torch.equal(out[1], torch.zeros(8))  # empty text


def test_standardize_and_model_builder():
    s = Standardize(2)
    s.fit(np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]]))
    z = s(torch.tensor([[2.0, 5.0], [float("nan"), 7.0]]))
    assert torch.allclose(z, torch.tensor([[0.0, 0.0], [0.0, 2.0]]))
    assert isinstance(build_model("numeric", 3, 16, 2), NumericMLP)
    with pytest.raises(ConfigError, match="numeric_cols"):
        build_model("text_numeric", 2, 16, 0)
    with pytest.raises(ConfigError, match="must be one of"):
        build_model("bert", 2, 16, 0)
