"""Checkpoints: ``model.pt`` (a state_dict of tensors), ``optim.pt`` and ``config.json``.

No arbitrary objects are pickled: the weights are loaded with ``torch.load(weights_only=True)`` and
the model is rebuilt from ``config.json`` (built-in models) or passed in (your own module). Files
are written to temporary names and renamed, ``config.json`` last, so a crash leaves the previous
complete checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsup_spark.endmodel.config import TrainConfig
from wsup_spark.endmodel.models import build_model
from wsup_spark.errors import ModelError

logger = logging.getLogger(__name__)

FORMAT = 1


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(
    directory: str | os.PathLike[str],
    model: nn.Module,
    cfg: TrainConfig,
    k: int,
    epoch: int,
    metrics: Mapping[str, Any] | None = None,
    table_version: int | None = None,
    optimizers: Sequence[torch.optim.Optimizer] = (),
    custom_model: bool = False,
) -> str:
    """Write the checkpoint of ``model`` (unwrapped from DDP) after ``epoch`` (1-based).

    Returns
    -------
    the checkpoint directory
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    inner = getattr(model, "module", model)
    _atomic_save(inner.state_dict(), d / "model.pt")
    if optimizers:
        _atomic_save([o.state_dict() for o in optimizers], d / "optim.pt")
    train = cfg.to_dict()
    train["storage_options"] = {key: "***" for key in cfg.storage_options}  # never secrets
    meta = {
        "format": FORMAT,
        "k": int(k),
        "epoch": int(epoch),
        "model": "custom" if custom_model else cfg.model,
        "model_class": f"{type(inner).__module__}.{type(inner).__qualname__}",
        "table_version": table_version,
        "train": train,
        "metrics": dict(metrics or {}),
        "torch": torch.__version__,
    }
    tmp = d / "config.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, default=str))
    os.replace(tmp, d / "config.json")
    return str(d)


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """``config.json`` of a checkpoint.

    Raises
    ------
    ModelError
        when the directory holds no (readable) checkpoint.
    """
    p = Path(directory) / "config.json"
    try:
        meta: dict[str, Any] = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"no readable checkpoint at {str(directory)!r} ({e})") from e
    if meta.get("format") != FORMAT:
        raise ModelError(f"checkpoint {str(directory)!r} has format {meta.get('format')}; "
                         f"this version reads format {FORMAT}")  # fmt: skip
    return meta


def load_checkpoint(
    directory: str | os.PathLike[str],
    model: nn.Module | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[nn.Module, TrainConfig, dict[str, Any]]:
    """Rebuild (or fill ``model``) from a checkpoint.

    Parameters
    ----------
    model : your own module for checkpoints of custom models (required for them); built-in
        models are rebuilt from ``config.json`` when None

    Returns
    -------
    (model with the saved weights, its TrainConfig, the checkpoint's metadata)
    """
    meta = read_meta(directory)
    cfg = TrainConfig.from_dict(meta["train"])
    if model is None:
        if meta["model"] == "custom":
            raise ModelError(
                f"checkpoint {str(directory)!r} holds a custom model ({meta['model_class']}); "
                "pass an instance as load_checkpoint(path, model=...)"
            )
        if cfg.tasks is not None:  # multi-task: the trunk and one head per task
            from wsup_spark.endmodel.multitask import build_multitask_model

            model = build_multitask_model(cfg)
    state = torch.load(Path(directory) / "model.pt", map_location=map_location, weights_only=True)
    if model is None:  # a built-in single-task model
        emb = 0  # model: embedding — e = the first layer's input width minus the numeric ones
        if cfg.model == "embedding" and "net.0.weight" in state:
            emb = int(state["net.0.weight"].shape[1]) - len(cfg.numeric_cols)
        elif cfg.model == "embedding" and "views.0.net.0.weight" in state:  # late fusion
            emb = int(state["views.0.net.0.weight"].shape[1])
        model = build_model(cfg.model, meta["k"], cfg.buckets, len(cfg.numeric_cols), cfg.dim,
                            cfg.hidden, dropout=cfg.dropout, embedding_dim=emb,
                            fusion=cfg.fusion)  # fmt: skip
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelError(f"checkpoint {str(directory)!r} does not fit the model: {e}") from e
    return model, cfg, meta


def load_optimizers(directory: str | os.PathLike[str],
                    optimizers: Sequence[torch.optim.Optimizer]) -> bool:  # fmt: skip
    """Restore optimizer states saved next to a checkpoint; False when there are none."""
    p = Path(directory) / "optim.pt"
    if not p.exists():
        return False
    states = torch.load(p, map_location="cpu", weights_only=True)
    if len(states) != len(optimizers):
        raise ModelError(f"{p} holds {len(states)} optimizer state(s); expected {len(optimizers)}")
    for o, s in zip(optimizers, states, strict=True):
        o.load_state_dict(s)
    return True
