"""End models: fastText-style hashed n-gram text model, numeric MLP, and both combined."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class HashedTextModel(nn.Module):
    """EmbeddingBag(mean) over hashed word/bigram ids → linear layer. Input: tokens, offsets."""

    def __init__(self, buckets: int, k: int, dim: int = 64, sparse: bool = True) -> None:
        super().__init__()
        self.emb = nn.EmbeddingBag(buckets, dim, mode="mean", padding_idx=0, sparse=sparse)
        self.out = nn.Linear(dim, k)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.out(self.emb(batch["tokens"], batch["offsets"]))  # type: ignore[no-any-return]


class NumericMLP(nn.Module):
    """Standardised numeric features → MLP. Input: numeric (n, f)."""

    def __init__(self, n_features: int, k: int, hidden: int = 64) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(n_features)
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, k))

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.net(self.norm(batch["numeric"]))  # type: ignore[no-any-return]


class TextNumericModel(nn.Module):
    """Text bag embedding concatenated with normalised numeric features → MLP head."""

    def __init__(self, buckets: int, n_features: int, k: int, dim: int = 64,
                 hidden: int = 64, sparse: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.emb = nn.EmbeddingBag(buckets, dim, mode="mean", padding_idx=0, sparse=sparse)
        self.norm = nn.BatchNorm1d(n_features)
        self.head = nn.Sequential(nn.Linear(dim + n_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, k))  # fmt: skip

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        z = torch.cat([self.emb(batch["tokens"], batch["offsets"]),
                       self.norm(batch["numeric"])], dim=1)  # fmt: skip
        return self.head(z)  # type: ignore[no-any-return]


def build_model(kind: str, k: int, buckets: int, n_numeric: int, dim: int = 64,
                sparse: bool = True) -> nn.Module:  # fmt: skip
    """Model by name: ``text``, ``numeric`` or ``text_numeric``.

    ``sparse`` embeddings (the default) update only the rows a batch touches (SparseAdam); the
    trainer turns it off under DDP, which reduces dense gradients.
    """
    from wsup_spark.core.errors import ConfigError

    if kind == "text":
        return HashedTextModel(buckets, k, dim, sparse)
    if kind == "numeric":
        if not n_numeric:
            raise ConfigError("train.model=numeric needs train.numeric_cols")
        return NumericMLP(n_numeric, k)
    if kind == "text_numeric":
        if not n_numeric:
            raise ConfigError("train.model=text_numeric needs train.numeric_cols")
        return TextNumericModel(buckets, n_numeric, k, dim, sparse=sparse)
    raise ConfigError(f"train.model must be text, numeric or text_numeric, got {kind!r}")


def make_optimizers(model: nn.Module, lr: float) -> list[torch.optim.Optimizer]:
    """SparseAdam for sparse embedding tables, Adam for everything else."""
    sparse, dense = [], []
    for mod in model.modules():
        for p in mod.parameters(recurse=False):
            (sparse if isinstance(mod, nn.EmbeddingBag) and mod.sparse else dense).append(p)
    opts: list[torch.optim.Optimizer] = []
    if sparse:
        opts.append(torch.optim.SparseAdam(sparse, lr=lr))
    if dense:
        opts.append(torch.optim.Adam(dense, lr=lr))
    return opts
