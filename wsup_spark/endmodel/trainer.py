"""Train an end model on a Delta training table with the noise-aware loss.

Device: CUDA when available (mixed precision there), CPU otherwise. Distributed: launched with
``torchrun`` (``WORLD_SIZE > 1``) it initialises a process group (NCCL on GPU, gloo on CPU), shards
the table across ranks and wraps the model in DDP; ranks step in lockstep (see ``_lockstep``).
Evaluation: accuracy/F1 on held-out gold rows (``id_hash % holdout_mod == 0`` never trains),
next to the label model's own accuracy (argmax of ``probs``) on the same rows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsup_spark.core.errors import ConfigError
from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec, as_torch_dataset
from wsup_spark.endmodel.loss import soft_cross_entropy
from wsup_spark.endmodel.models import build_model, make_optimizers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """The ``train:`` section of a config."""

    table: str = ""
    version: int | None = None
    text_col: str | None = "text"
    numeric_cols: tuple[str, ...] = ()
    model: str = "text"
    epochs: int = 3
    lr: float = 0.05
    batch_size: int = 512
    buckets: int = 2**16
    dim: int = 32
    device: str = "auto"
    checkpoint_dir: str | None = None
    seed: int = 0
    holdout_mod: int = 5
    drop_unlabeled: bool = True
    confidence_weighting: bool = False
    num_workers: int = 0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainConfig:
        """Validate a mapping (unknown keys are errors)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} in config section 'train'; "
                              f"allowed: {sorted(names)}")  # fmt: skip
        raw = dict(raw)
        if "numeric_cols" in raw:
            raw["numeric_cols"] = tuple(raw["numeric_cols"] or ())
        cfg = cls(**raw)
        if not cfg.table:
            raise ConfigError("train.table is empty: point it at a training table (Delta)")
        if cfg.text_col is None and not cfg.numeric_cols:
            raise ConfigError("train needs text_col and/or numeric_cols")
        return cfg


@dataclass
class TrainResult:
    """Metrics of a training run."""

    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _init_distributed(device: torch.device) -> bool:
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


def train(cfg: TrainConfig) -> TrainResult:
    """Train and evaluate; returns metrics (and the checkpoint path on rank 0)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    device = pick_device(cfg.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    distributed = _init_distributed(device)
    rank = dist.get_rank() if distributed else 0
    torch.manual_seed(cfg.seed)
    spec = FeatureSpec(cfg.text_col, tuple(cfg.numeric_cols), cfg.buckets)
    common = dict(path=cfg.table, version=cfg.version, features=spec, batch_size=cfg.batch_size,
                  seed=cfg.seed, holdout_mod=cfg.holdout_mod)  # fmt: skip
    train_ds = DeltaIterableDataset(**common, shuffle=True, split="train",  # type: ignore[arg-type]
                                    drop_unlabeled=cfg.drop_unlabeled)  # fmt: skip
    eval_ds = DeltaIterableDataset(**common, shuffle=False, split="holdout")  # type: ignore[arg-type]
    k = _cardinality(train_ds)
    sparse = not distributed  # DDP reduces dense gradients only (NCCL: never sparse)
    model = build_model(cfg.model, k, cfg.buckets, len(cfg.numeric_cols), cfg.dim, sparse)
    model = model.to(device)
    opts = make_optimizers(model, cfg.lr)
    if distributed:
        model = DDP(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )  # BatchNorm statistics stay per rank
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    loader = torch.utils.data.DataLoader(as_torch_dataset(train_ds), batch_size=None,
                                         num_workers=cfg.num_workers)  # fmt: skip
    show_bar = rank == 0 and sys.stderr.isatty()
    t0, seen = time.perf_counter(), 0
    for epoch in range(cfg.epochs):
        train_ds.set_epoch(epoch)
        model.train()
        total, steps = 0.0, 0
        it = loader
        if show_bar:
            from tqdm import tqdm

            it = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch")
        for batch in _lockstep(it, distributed):
            b = _to(batch, device)
            with torch.autocast(device.type, enabled=amp):
                logits = model(b)
            w = b["probs"].max(dim=1).values if cfg.confidence_weighting else None
            loss = soft_cross_entropy(logits, b["probs"], w)
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            for opt in opts:
                scaler.step(opt)
            scaler.update()
            total += float(loss.detach())
            steps += 1
            seen += len(b["probs"])
        if rank == 0:
            logger.info("epoch %d/%d: mean loss %.4f over %d steps", epoch + 1, cfg.epochs,
                        total / max(steps, 1), steps)  # fmt: skip
    elapsed = time.perf_counter() - t0
    metrics = evaluate(model, eval_ds, device, k, distributed)
    metrics.update({"epochs": cfg.epochs, "train_rows_per_s": seen / max(elapsed, 1e-9),
                    "device": str(device), "world_size": dist.get_world_size() if distributed
                    else 1})  # fmt: skip
    ckpt = None
    if rank == 0 and cfg.checkpoint_dir:
        ckpt = save_checkpoint(model, cfg, metrics, k)
    if distributed:
        dist.barrier()
    return TrainResult(metrics, ckpt)


def _lockstep(batches: Any, distributed: bool) -> Any:
    """Yield batches while EVERY rank still has one (DDP needs equal step counts per rank).

    Shards differ by a few rows, so under DDP an epoch ends when the first rank runs out — the
    ``drop_last`` behaviour of ``DistributedSampler``; the rows each rank skips change with the
    per-epoch shuffle. Single-process training sees every row.
    """
    import torch.distributed as dist

    it = iter(batches)
    while True:
        batch = next(it, None)
        if distributed:
            flag = torch.tensor([0 if batch is None else 1])
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            if int(flag) == 0:
                return
        elif batch is None:
            return
        yield batch


def _cardinality(ds: DeltaIterableDataset) -> int:
    import pyarrow.parquet as pq

    for f, rg, n in ds.units:
        if n:
            t = pq.ParquetFile(f[7:] if f.startswith("file://") else f).read_row_group(
                rg, columns=["probs"])  # fmt: skip
            return len(t.column("probs")[0])
    raise ConfigError(f"training table {ds.path!r} has no rows")


@torch.no_grad()
def evaluate(model: Any, ds: DeltaIterableDataset, device: torch.device, k: int,
             distributed: bool = False) -> dict[str, Any]:  # fmt: skip
    """Confusion counts of the end model and of the label model (argmax probs) on gold rows."""
    import torch.distributed as dist

    model.eval()
    conf = torch.zeros(2, k, k, dtype=torch.int64)
    for batch in ds:
        gold = batch["gold"]
        keep = gold >= 0
        if not keep.any():
            continue
        pred = model(_to(batch, device)).argmax(dim=1).cpu()
        lm = batch["probs"].argmax(dim=1)
        for j, p in enumerate((pred, lm)):
            conf[j] += torch.bincount(gold[keep] * k + p[keep], minlength=k * k).reshape(k, k)
    if distributed:
        dist.all_reduce(conf)
    out: dict[str, Any] = {"n_eval_gold": int(conf[0].sum())}
    for j, name in enumerate(("end_model", "label_model")):
        c = conf[j].numpy()
        out[f"{name}_accuracy"] = float(np.trace(c) / max(c.sum(), 1))
        if k == 2:
            tp, fp, fn = c[1, 1], c[0, 1], c[1, 0]
            out[f"{name}_f1"] = float(2 * tp / max(2 * tp + fp + fn, 1))
    return out


def save_checkpoint(model: Any, cfg: TrainConfig, metrics: dict[str, Any], k: int) -> str:
    """``model.pt`` (state_dict only) + ``config.json`` under ``cfg.checkpoint_dir``."""
    assert cfg.checkpoint_dir is not None
    d = Path(cfg.checkpoint_dir)
    d.mkdir(parents=True, exist_ok=True)
    inner = getattr(model, "module", model)
    torch.save(inner.state_dict(), d / "model.pt")
    (d / "config.json").write_text(json.dumps({"train": dataclasses.asdict(cfg), "k": k,
                                               "metrics": metrics}, indent=2))  # fmt: skip
    return str(d)


def load_checkpoint(path: str) -> tuple[Any, TrainConfig]:
    """Rebuild the model from ``config.json`` and load ``model.pt`` (weights only)."""
    d = Path(path)
    meta = json.loads((d / "config.json").read_text())
    cfg = TrainConfig.from_dict(meta["train"])
    model = build_model(cfg.model, meta["k"], cfg.buckets, len(cfg.numeric_cols), cfg.dim)
    model.load_state_dict(torch.load(d / "model.pt", weights_only=True))
    return model, cfg


def train_from_config(raw: Mapping[str, Any], default_table: str | None = None) -> dict[str, Any]:
    """Entry used by ``wsup train`` and jobs/train.py: the ``train:`` mapping → metrics."""
    raw = dict(raw)
    if not raw.get("table") and default_table:
        raw["table"] = default_table
    res = train(TrainConfig.from_dict(raw))
    return {**res.metrics, "checkpoint": res.checkpoint}
