"""End models: a fastText-style hashed n-gram text classifier, a numeric MLP, both combined, and an
MLP on a precomputed (frozen) sentence embedding; text/embedding and numeric views fused early (one
MLP over the concatenation) or late (separate experts, :class:`LateFusionModel`).

Every model maps a batch dict (the layout of :mod:`~.dataset`) to ``(n, k)`` logits (a late-fusion
model in training mode: ``(V, n, k)``, one slice per view). A user's own ``nn.Module`` with the
same ``forward(batch) -> logits`` contract can be passed to the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wsup_spark.endmodel.config import FUSIONS, MODEL_KINDS
from wsup_spark.errors import ConfigError


class HashedTextEncoder(nn.Module):
    """Mean of the embeddings of a text's hashed word, word n-gram and char n-gram ids.

    Word and word n-gram ids come as one bag per row (``tokens``, ``offsets``). Char n-grams come
    factored (``char_tokens``/``char_offsets`` per distinct token, ``token_word``/``token_row`` per
    token occurrence): each distinct token's char n-gram vectors are summed once and added to every
    row it occurs in. The result equals the mean over the flat bag of all ids (fastText's hidden
    layer) at the cost of the distinct tokens only. Empty texts encode to zeros.

    Parameters
    ----------
    buckets : rows of the embedding table (the hashing id space)
    dim : embedding width
    sparse : sparse gradients (only touched rows are updated; use SparseAdam). NCCL cannot
        all-reduce sparse gradients, so the trainer turns this off for multi-GPU DDP.
    """

    def __init__(self, buckets: int, dim: int = 64, sparse: bool = True) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(buckets, dim, mode="sum", sparse=sparse)
        nn.init.uniform_(self.bag.weight, -1.0 / dim, 1.0 / dim)  # fastText's initialisation
        self.dim = dim

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Batch → (n, dim) float32."""
        tokens, offsets = batch["tokens"], batch["offsets"]
        total = self.bag(tokens, offsets)
        count = torch.diff(offsets, append=offsets.new_tensor([tokens.shape[0]])).to(total.dtype)
        if "char_tokens" in batch:
            ct, co = batch["char_tokens"], batch["char_offsets"]
            per_word = F.embedding_bag(ct, self.bag.weight, co, mode="sum", sparse=self.bag.sparse)
            per_word_n = torch.diff(co, append=co.new_tensor([ct.shape[0]])).to(total.dtype)
            rows, words = batch["token_row"], batch["token_word"]
            total = total.index_add(0, rows, per_word[words])
            count = count.index_add(0, rows, per_word_n[words])
        out: torch.Tensor = total / count.clamp_min(1.0).unsqueeze(1)
        return out


class Standardize(nn.Module):
    """``(x - mean) / std`` per feature; NaN (null) inputs become 0 (the mean).

    ``mean`` and ``std`` are buffers (saved in the state_dict), set by :meth:`fit` from a sample.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def fit(self, sample: np.ndarray) -> None:
        """Set the statistics from ``sample`` : (m, f), NaN-aware; constant features get std 1."""
        if sample.size == 0:
            return
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(sample.astype(np.float64), axis=0))
            std = np.nan_to_num(np.nanstd(sample.astype(np.float64), axis=0))
        std[std < 1e-12] = 1.0
        self.mean.copy_(torch.from_numpy(mean))
        self.std.copy_(torch.from_numpy(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, f) → (n, f)."""
        z = (x - self.mean) / self.std
        return torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def _mlp(d_in: int, hidden: Sequence[int], k: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(d_in, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        d_in = h
    layers.append(nn.Linear(d_in, k))
    return nn.Sequential(*layers)


class FastTextClassifier(nn.Module):
    """:class:`HashedTextEncoder` → dropout → linear (fastText's supervised model)."""

    def __init__(self, buckets: int, k: int, dim: int = 64, sparse: bool = True,
                 dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.encoder = HashedTextEncoder(buckets, dim, sparse)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, k)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Batch with text ids → (n, k) logits."""
        return self.out(self.dropout(self.encoder(batch)))  # type: ignore[no-any-return]


class NumericMLP(nn.Module):
    """Standardised numeric features → MLP (``hidden`` ReLU layers) → (n, k) logits."""

    def __init__(self, n_features: int, k: int, hidden: Sequence[int] = (64,),
                 dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.standardize = Standardize(n_features)
        self.net = _mlp(n_features, hidden, k, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Batch with ``numeric`` (n, f) → (n, k) logits."""
        return self.net(self.standardize(batch["numeric"]))  # type: ignore[no-any-return]


class TextNumericModel(nn.Module):
    """[text encoding (dim) ‖ standardised numeric features (f)] → MLP → (n, k) logits."""

    def __init__(self, buckets: int, n_features: int, k: int, dim: int = 64,
                 hidden: Sequence[int] = (64,), sparse: bool = True,
                 dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.encoder = HashedTextEncoder(buckets, dim, sparse)
        self.standardize = Standardize(n_features)
        self.head = _mlp(dim + n_features, hidden, k, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Batch with text ids and ``numeric`` → (n, k) logits."""
        z = torch.cat([self.encoder(batch), self.standardize(batch["numeric"])], dim=1)
        return self.head(z)  # type: ignore[no-any-return]


class EmbeddingClassifier(nn.Module):
    """[precomputed embedding (e) ‖ standardised numeric features (f, may be 0)] → MLP → logits.

    The embedding comes from the training table (e.g. frozen MiniLM vectors written by the
    pipeline's ``output.embedding``); ``hidden=()`` is logistic regression.

    >>> m = EmbeddingClassifier(4, 1, 3, hidden=())
    >>> tuple(m({"embedding": torch.zeros(2, 4), "numeric": torch.zeros(2, 1)}).shape)
    (2, 3)
    """

    def __init__(self, embedding_dim: int, n_features: int, k: int,
                 hidden: Sequence[int] = (64,), dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.standardize = Standardize(n_features) if n_features else None
        self.net = _mlp(embedding_dim + n_features, hidden, k, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Batch with ``embedding`` (n, e) (and ``numeric`` (n, f)) → (n, k) logits."""
        z = batch["embedding"]
        if self.standardize is not None:
            z = torch.cat([z, self.standardize(batch["numeric"])], dim=1)
        return self.net(z)  # type: ignore[no-any-return]


class LateFusionModel(nn.Module):
    """Views trained as separate experts on the same soft labels, combined as a product of experts.

    Each view is a model of its own features (e.g. the report text the LFs read, and numeric
    columns no LF looked at); view 0 is the one the LFs read. In training mode ``forward``
    returns ``(V, n, k)`` logits and :func:`~.loss.soft_cross_entropy` sums the views' losses
    (:func:`~.loss.late_fusion_loss`: view 0 learns the labels, every other view learns P(y | its
    own features) by online EM against the labels), so no view can explain the labels away for
    another (a joint model over the concatenation learns to imitate the LFs from the features
    they read, and ignores the others). In eval mode it returns the fused ``(n, k)`` logits

        log P(y | all views) = Σ_v log softmax(z_v) − (V − 1) log P(y) + const,

    exact when the views are conditionally independent given y (co-training's assumption).
    P(y) is an exponential moving average of the views' mean predicted distribution over the
    training batches (buffer ``log_prior``; with a calibrated fit that is the labels' class mass).

    >>> m = LateFusionModel([NumericMLP(2, 3, hidden=()), NumericMLP(2, 3, hidden=())], k=3)
    >>> b = {"numeric": torch.zeros(4, 2)}
    >>> tuple(m.train()(b).shape), tuple(m.eval()(b).shape)
    ((2, 4, 3), (4, 3))
    """

    log_prior: torch.Tensor

    def __init__(self, views: Sequence[nn.Module], k: int, momentum: float = 0.01) -> None:
        super().__init__()
        if len(views) < 2:
            raise ConfigError("late fusion needs at least two views (e.g. text and numeric_cols)")
        self.views = nn.ModuleList(views)
        self.momentum = float(momentum)
        self.register_buffer("log_prior", torch.full((k,), -float(np.log(k))))  # uniform start

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Batch → (V, n, k) view logits (training) or (n, k) fused logits (eval)."""
        z = torch.stack([v(batch).float() for v in self.views])
        if self.training:
            if z.shape[1]:
                with torch.no_grad():
                    p = torch.softmax(z, dim=-1).mean(dim=(0, 1))
                    prior = (1 - self.momentum) * self.log_prior.exp() + self.momentum * p
                    self.log_prior.copy_(prior.clamp_min(1e-6).log())
            return z
        fused = torch.log_softmax(z, dim=-1).sum(0) - (len(self.views) - 1) * self.log_prior
        return fused


def build_model(
    kind: str,
    k: int,
    buckets: int,
    n_numeric: int,
    dim: int = 64,
    hidden: Sequence[int] = (64,),
    sparse: bool = True,
    dropout: float = 0.0,
    embedding_dim: int = 0,
    fusion: str = "early",
) -> nn.Module:
    """A built-in model by name: ``text``, ``numeric``, ``text_numeric`` or ``embedding``
    (``embedding_dim`` = e, the width of the table's embedding column).

    ``fusion="late"`` (``text_numeric``, or ``embedding`` with numeric columns): a
    :class:`LateFusionModel` of the text (or embedding) model and the numeric MLP, instead of one
    MLP over the concatenated features.

    Raises
    ------
    ConfigError
        for an unknown kind or a kind whose features are not configured.
    """
    if fusion not in FUSIONS:
        raise ConfigError(f"train.fusion must be one of {FUSIONS}, got {fusion!r}")
    if fusion == "late":
        if kind not in ("text_numeric", "embedding") or not n_numeric:
            raise ConfigError(
                f"train.fusion=late needs two views: train.model text_numeric, or embedding with "
                f"train.numeric_cols; got model={kind} with {n_numeric} numeric column(s)"
            )
        first = build_model("text" if kind == "text_numeric" else "embedding", k, buckets, 0, dim,
                            hidden, sparse, dropout, embedding_dim)  # fmt: skip
        return LateFusionModel([first, NumericMLP(n_numeric, k, hidden, dropout)], k)
    if kind == "text":
        return FastTextClassifier(buckets, k, dim, sparse, dropout)
    if kind == "embedding":
        if embedding_dim < 1:
            raise ConfigError("train.model=embedding needs the width of the embedding column")
        return EmbeddingClassifier(embedding_dim, n_numeric, k, hidden, dropout)
    if kind in ("numeric", "text_numeric") and not n_numeric:
        raise ConfigError(f"train.model={kind} needs train.numeric_cols (a list of columns)")
    if kind == "numeric":
        return NumericMLP(n_numeric, k, hidden, dropout)
    if kind == "text_numeric":
        return TextNumericModel(buckets, n_numeric, k, dim, hidden, sparse, dropout)
    raise ConfigError(f"train.model must be one of {MODEL_KINDS}, got {kind!r}")


def fit_standardizers(model: nn.Module, sample: np.ndarray) -> None:
    """Fit every :class:`Standardize` in ``model`` on ``sample`` : (m, f) numeric rows."""
    for mod in model.modules():
        if isinstance(mod, Standardize) and sample.size and mod.mean.shape[0] == sample.shape[1]:
            mod.fit(sample)


def make_optimizers(
    model: nn.Module, lr: float, weight_decay: float = 0.0
) -> list[torch.optim.Optimizer]:
    """SparseAdam for sparse embedding tables, AdamW for every other parameter."""
    sparse: list[Any] = []
    dense: list[Any] = []
    for mod in model.modules():
        is_sparse = isinstance(mod, (nn.EmbeddingBag, nn.Embedding)) and bool(mod.sparse)
        for p in mod.parameters(recurse=False):
            if p.requires_grad:
                (sparse if is_sparse else dense).append(p)
    opts: list[torch.optim.Optimizer] = []
    if sparse:
        opts.append(torch.optim.SparseAdam(sparse, lr=lr))
    if dense:
        opts.append(torch.optim.AdamW(dense, lr=lr, weight_decay=weight_decay))
    return opts


def set_sparse(model: nn.Module, sparse: bool) -> None:
    """Switch the gradients of every embedding table of ``model`` to sparse or dense."""
    for mod in model.modules():
        if isinstance(mod, (nn.EmbeddingBag, nn.Embedding)):
            mod.sparse = sparse
