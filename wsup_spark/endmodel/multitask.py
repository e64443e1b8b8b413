"""Multi-task end model: a shared trunk, one head per task, masked per-task soft cross-entropy.

Trained on a multi-task labels table (one ``probs_<task>`` column per task, null where the task
does not apply): the loss is the sum over tasks of the noise-aware soft cross-entropy
(:func:`~wsup_spark.endmodel.loss.soft_cross_entropy`) over the rows where that task applies —
N/A rows are masked, so a normal X-ray teaches the ``abnormal`` head and never the ``finding``
head. A child head can take its parent's predicted distribution as extra input
(``feed_parent=True``), so "which finding" is conditioned on "is it abnormal".

Any trunk works: an ``nn.Module`` mapping the batch to ``(n, trunk_dim)`` features (e.g. the text
encoder of :mod:`~wsup_spark.endmodel.models`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from wsup_spark.endmodel.loss import soft_cross_entropy
from wsup_spark.errors import ModelError

__all__ = ["MultiTaskModel", "multitask_soft_cross_entropy", "targets_from_arrow"]


class MultiTaskModel(nn.Module):
    """Shared trunk + one linear head per task.

    Parameters
    ----------
    trunk : nn.Module
        ``forward(batch) -> (n, trunk_dim)`` features.
    trunk_dim : int
    tasks : sequence of (name, k)
        Tasks in an order where parents precede children.
    parents : mapping child name -> parent name, optional
        The task hierarchy (e.g. from :class:`~wsup_spark.tasks.TaskGraph`).
    feed_parent : bool
        Give each child head its parent head's softmax as extra input.

    Examples
    --------
    >>> trunk = nn.Linear(4, 8)
    >>> m = MultiTaskModel(trunk, 8, [("abnormal", 2), ("finding", 5)],
    ...                    parents={"finding": "abnormal"}, feed_parent=True)
    >>> out = m(torch.zeros(3, 4))
    >>> {k: tuple(v.shape) for k, v in out.items()}
    {'abnormal': (3, 2), 'finding': (3, 5)}
    """

    def __init__(
        self,
        trunk: nn.Module,
        trunk_dim: int,
        tasks: Sequence[tuple[str, int]],
        parents: Mapping[str, str] | None = None,
        feed_parent: bool = False,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.tasks = [(str(n), int(k)) for n, k in tasks]
        names = [n for n, _ in self.tasks]
        if len(set(names)) != len(names):
            raise ModelError(f"task names must be unique, got {names}")
        self.parents = dict(parents or {})
        for child, parent in self.parents.items():
            if child not in names or parent not in names[: names.index(child)]:
                raise ModelError(
                    f"parent {parent!r} of task {child!r} must be a task listed before it "
                    f"(tasks: {names})"
                )
        self.feed_parent = bool(feed_parent)
        k_of = dict(self.tasks)
        self.heads = nn.ModuleDict()
        for name, k in self.tasks:
            extra = k_of[self.parents[name]] if self.feed_parent and name in self.parents else 0
            self.heads[name] = nn.Linear(trunk_dim + extra, k)

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        """Batch → {task name: (n, k_t) logits}."""
        h = self.trunk(batch)
        out: dict[str, torch.Tensor] = {}
        for name, _ in self.tasks:
            x = h
            if self.feed_parent and name in self.parents:
                x = torch.cat([h, torch.softmax(out[self.parents[name]], dim=1)], dim=1)
            out[name] = self.heads[name](x)
        return out


def multitask_soft_cross_entropy(
    logits: Mapping[str, torch.Tensor],
    probs: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    task_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Σ_t w_t · soft cross-entropy of task t over the rows where it applies (``masks[t]``).

    A task with no applicable row in the batch contributes 0 (and no gradient); an N/A row's
    ``probs`` are never read (they may be anything, NaN included).

    Parameters
    ----------
    logits, probs : task name -> (n, k_t)
    masks : task name -> (n,) bool, True where the task applies
    task_weights : task name -> weight (default 1 each)

    Examples
    --------
    >>> lg = {"a": torch.zeros(2, 2), "f": torch.zeros(2, 3)}
    >>> pr = {"a": torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
    ...       "f": torch.tensor([[float("nan")] * 3, [1.0, 0.0, 0.0]])}
    >>> mk = {"a": torch.tensor([True, True]), "f": torch.tensor([False, True])}
    >>> round(float(multitask_soft_cross_entropy(lg, pr, mk)), 4)  # log 2 + log 3
    1.7918
    """
    total: torch.Tensor | None = None
    for name, lg in logits.items():
        if name not in probs or name not in masks:
            raise ModelError(f"no targets for task {name!r} (have {sorted(probs)})")
        m = masks[name].to(torch.bool)
        if m.shape != lg.shape[:1]:
            raise ModelError(f"mask of task {name!r} has shape {tuple(m.shape)}, expected "
                             f"({lg.shape[0]},)")  # fmt: skip
        w = 1.0 if task_weights is None else float(task_weights.get(name, 1.0))
        if bool(m.any()):
            term = w * soft_cross_entropy(lg[m], probs[name][m].to(lg.dtype))
        else:
            term = lg.float().sum() * 0.0
        total = term if total is None else total + term
    if total is None:
        raise ModelError("no tasks in the logits")
    return total


def targets_from_arrow(
    batch: Any, tasks: Sequence[tuple[str, int]]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Soft targets and masks of a multi-task labels batch (Arrow): for each task its
    ``probs_<task>`` column as (n, k) float32 (zeros where null) and the (n,) mask of non-null
    rows.

    Examples
    --------
    >>> import pyarrow as pa
    >>> b = pa.record_batch({"probs_f": pa.array([[0.25, 0.75], None], pa.list_(pa.float64()))})
    >>> P, M = targets_from_arrow(b, [("f", 2)])
    >>> P["f"].tolist(), M["f"].tolist()
    ([[0.25, 0.75], [0.0, 0.0]], [True, False])
    """
    probs: dict[str, torch.Tensor] = {}
    masks: dict[str, torch.Tensor] = {}
    n = batch.num_rows
    for name, k in tasks:
        col = batch.column(f"probs_{name}")
        valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
        out = np.zeros((n, k), np.float32)
        if valid.any():
            vals = col.drop_null().flatten().to_numpy(zero_copy_only=False)
            out[valid] = np.asarray(vals, np.float32).reshape(int(valid.sum()), k)
        probs[name] = torch.from_numpy(out)
        masks[name] = torch.from_numpy(valid)
    return probs, masks
