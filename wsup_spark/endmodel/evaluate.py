"""Evaluation on gold rows (accuracy, F1) and prediction, sharded across DDP ranks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

_GROUPS = ("end_model", "label_model")


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Every tensor of ``batch`` on ``device`` (non-blocking from pinned memory)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def scores(conf: np.ndarray) -> dict[str, float]:
    """Accuracy and F1 from a confusion matrix ``conf[gold, pred]`` : (k, k).

    F1 is the positive class's (label 1) for k = 2 and the macro average otherwise.

    Examples
    --------
    >>> s = scores(np.array([[3, 1], [0, 4]]))
    >>> round(s["accuracy"], 3), round(s["f1"], 3)
    (0.875, 0.889)
    """
    conf = np.asarray(conf, dtype=np.float64)
    total = conf.sum()
    acc = float(np.trace(conf) / total) if total else float("nan")
    tp = np.diag(conf)
    denom = conf.sum(axis=0) + conf.sum(axis=1)  # 2tp + fp + fn
    with np.errstate(all="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    if not total:
        return {"accuracy": acc, "f1": float("nan")}
    return {"accuracy": acc, "f1": float(f1[1] if len(conf) == 2 else f1.mean())}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    device: torch.device,
    k: int,
    distributed: bool = False,
) -> dict[str, Any]:
    """The end model's and the label model's (argmax probs) accuracy/F1 on the gold rows.

    Rows without gold (``gold < 0``) are ignored. Also reported on the *uncovered* gold rows
    (``n_votes == 0``), where the label model can only guess the prior: there the end model shows
    whether it generalises beyond the LFs. Under DDP each rank evaluates its shard and the
    confusion matrices are summed.

    Returns
    -------
    dict with ``n_eval_gold``, ``n_eval_uncovered``, ``{end_model,label_model}_{accuracy,f1}`` and
    ``..._uncovered_accuracy``, and ``confusion`` (the end model's, a (k, k) nested list)
    """
    was_training = model.training
    model.eval()
    conf = torch.zeros(4, k, k, dtype=torch.int64)  # [end, lm] x [all, uncovered]
    for batch in batches:
        gold = batch["gold"]
        keep = gold >= 0
        if not bool(keep.any()):
            continue
        pred = model(to_device(batch, device)).argmax(dim=1).cpu()
        lm = batch["probs"].argmax(dim=1)
        unc = keep & (batch["n_votes"] == 0)
        for j, p in enumerate((pred, lm)):
            for g, mask in enumerate((keep, unc)):
                idx = gold[mask] * k + p[mask]
                conf[2 * g + j] += torch.bincount(idx, minlength=k * k).reshape(k, k)
    if distributed:
        import torch.distributed as dist

        if dist.get_backend() == "nccl":
            conf = conf.to(device)
        dist.all_reduce(conf)
        conf = conf.cpu()
    model.train(was_training)
    c = conf.numpy()
    out: dict[str, Any] = {"n_eval_gold": int(c[0].sum()), "n_eval_uncovered": int(c[2].sum())}
    for j, name in enumerate(_GROUPS):
        s = scores(c[j])
        out[f"{name}_accuracy"], out[f"{name}_f1"] = s["accuracy"], s["f1"]
        out[f"{name}_uncovered_accuracy"] = scores(c[2 + j])["accuracy"]
    out["confusion"] = c[0].tolist()
    return out


@torch.no_grad()
def predict(
    model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], device: torch.device | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The end model's class probabilities for every row of ``batches``.

    Returns
    -------
    ids : (n,) int64 (the dataset's ``id``)
    probs : (n, k) float32, softmax of the logits
    """
    device = device or torch.device("cpu")
    was_training = model.training
    model.eval()
    ids, out = [], []
    for batch in batches:
        logits = model(to_device(batch, device)).float()
        ids.append(batch["id"].numpy())
        out.append(torch.softmax(logits, dim=1).cpu().numpy())
    model.train(was_training)
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate(ids), np.concatenate(out)
