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

from wsup_spark.endmodel.config import TrainConfig
from wsup_spark.endmodel.loss import soft_cross_entropy
from wsup_spark.endmodel.models import HashedTextEncoder, Standardize
from wsup_spark.errors import ConfigError, ModelError
from wsup_spark.tasks import TaskGraph

__all__ = [
    "MultiTaskModel",
    "MultiTaskTrunk",
    "batch_targets",
    "build_multitask_model",
    "evaluate_multitask",
    "multitask_soft_cross_entropy",
    "targets_from_arrow",
    "task_specs",
]


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


# --------------------------------------------------------------------------- wsup train


class MultiTaskTrunk(nn.Module):
    """The shared trunk of a built-in model kind (``train.model``): ``text`` — the hashed n-gram
    encoder (width ``dim``); ``numeric`` — standardised features → ReLU MLP (``hidden``);
    ``text_numeric`` — [text encoding ‖ standardised features] → ReLU MLP. ``out_dim`` is the
    width the heads read.

    Examples
    --------
    >>> t = MultiTaskTrunk("numeric", 16, 3, hidden=(8, 4))
    >>> t.out_dim, tuple(t({"numeric": torch.zeros(2, 3)}).shape)
    (4, (2, 4))
    """

    def __init__(self, kind: str, buckets: int, n_numeric: int, dim: int = 64,
                 hidden: Sequence[int] = (64,), sparse: bool = True,
                 dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        if kind not in ("text", "numeric", "text_numeric"):
            raise ConfigError(f"train.model must be text, numeric or text_numeric, got {kind!r}")
        if kind != "text" and not n_numeric:
            raise ConfigError(f"train.model={kind} needs train.numeric_cols (a list of columns)")
        self.kind = kind
        self.encoder = HashedTextEncoder(buckets, dim, sparse) if kind != "numeric" else None
        self.standardize = Standardize(n_numeric) if kind != "text" else None
        self.dropout = nn.Dropout(dropout)
        d_in = (dim if kind != "numeric" else 0) + (n_numeric if kind != "text" else 0)
        layers: list[nn.Module] = []
        if kind != "text":
            for h in hidden:
                layers += [nn.Linear(d_in, int(h)), nn.ReLU(), nn.Dropout(dropout)]
                d_in = int(h)
        self.mlp = nn.Sequential(*layers)
        self.out_dim = d_in

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Batch → (n, out_dim) features."""
        parts = []
        if self.encoder is not None:
            parts.append(self.encoder(batch))
        if self.standardize is not None:
            parts.append(self.standardize(batch["numeric"]))
        z = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self.mlp(self.dropout(z))  # type: ignore[no-any-return]


def task_specs(graph: TaskGraph) -> tuple[list[tuple[str, int]], dict[str, str]]:
    """``(tasks, parents)`` of :class:`MultiTaskModel` for a task graph: ``[(name, k)]`` in graph
    order (parents first) and ``{child: parent}``."""
    tasks = [(t.name, t.cardinality) for t in graph.tasks]
    return tasks, {t.name: t.parent for t in graph.tasks if t.parent}


def build_multitask_model(cfg: TrainConfig) -> MultiTaskModel:
    """The model ``wsup train`` trains for ``cfg.tasks``: a :class:`MultiTaskTrunk` of kind
    ``cfg.model`` and one head per task (a child head fed its parent's softmax when
    ``cfg.feed_parent``)."""
    if cfg.tasks is None:
        raise ConfigError("build_multitask_model needs train.tasks (the task graph)")
    tasks, parents = task_specs(TaskGraph.from_dict(cfg.tasks))
    trunk = MultiTaskTrunk(cfg.model, cfg.buckets, len(cfg.numeric_cols), cfg.dim, cfg.hidden,
                           dropout=cfg.dropout)  # fmt: skip
    return MultiTaskModel(trunk, trunk.out_dim, tasks, parents, cfg.feed_parent)


def batch_targets(
    batch: Mapping[str, torch.Tensor], tasks: Sequence[tuple[str, int]]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Per task the soft targets ``probs_<task>`` and masks ``mask_<task>`` of a dataset batch
    (:class:`~wsup_spark.endmodel.dataset.DeltaIterableDataset` with ``tasks=``)."""
    return ({t: batch[f"probs_{t}"] for t, _ in tasks},
            {t: batch[f"mask_{t}"] for t, _ in tasks})  # fmt: skip


def _applies(graph: TaskGraph) -> dict[str, np.ndarray]:
    """Child task -> (k_parent,) bool: the child applies when its parent takes that value."""
    out: dict[str, np.ndarray] = {}
    Y = graph.feasible
    for j, t in enumerate(graph.tasks):
        if t.parent is None:
            continue
        p = graph.index(t.parent)
        ok = np.zeros(graph.cardinalities[p], bool)
        for row in Y:
            if row[p] >= 0 and row[j] >= 0:
                ok[row[p]] = True
        out[t.name] = ok
    return out


@torch.no_grad()
def evaluate_multitask(
    model: nn.Module,
    batches: Any,
    device: torch.device,
    graph: TaskGraph,
    distributed: bool = False,
) -> dict[str, Any]:
    """Per task, the end model's and the label model's accuracy on the rows with that task's gold.

    The end model's child prediction is N/A where its parent prediction does not admit the child
    (a normal X-ray has no finding); the label model's is N/A where ``probs_<task>`` is null. A
    predicted N/A counts as wrong. Under DDP the confusion counts are summed over ranks.

    Returns
    -------
    dict with ``n_eval_gold`` (rows with any task's gold) and ``tasks``: name ->
    ``{n_eval_gold, end_model_accuracy, label_model_accuracy, end_model_predicted_na,
    label_model_predicted_na, confusion}`` (the end model's (k, k + 1) counts, gold × predicted,
    the last column N/A)
    """
    tasks, parents = task_specs(graph)
    applies = {c: torch.from_numpy(v) for c, v in _applies(graph).items()}
    conf = {t: torch.zeros(2, k, k + 1, dtype=torch.int64) for t, k in tasks}
    any_gold = torch.zeros(1, dtype=torch.int64)
    was_training = model.training
    model.eval()
    for batch in batches:
        golds = [batch[f"gold_{t}"] for t, _ in tasks if f"gold_{t}" in batch]
        if not golds or not bool(torch.stack(golds).ge(0).any()):
            continue
        any_gold += int(torch.stack(golds).ge(0).any(dim=0).sum())
        logits = model({k: v.to(device) for k, v in batch.items()})
        pred = {t: logits[t].argmax(dim=1).cpu() for t, _ in tasks}
        k_of = dict(tasks)
        for t, k in tasks:
            if t in parents:  # N/A where the predicted parent value (or N/A) excludes the child
                pp, kp = pred[parents[t]], k_of[parents[t]]
                ok = (pp < kp) & applies[t][pp.clamp(max=kp - 1)]
                pred[t] = torch.where(ok, pred[t], k)
        for t, k in tasks:
            gold = batch.get(f"gold_{t}")
            if gold is None:
                continue
            keep = gold >= 0
            lm = torch.where(batch[f"mask_{t}"], batch[f"probs_{t}"].argmax(dim=1), k)
            for j, p in enumerate((pred[t], lm)):
                idx = gold[keep] * (k + 1) + p[keep]
                conf[t][j] += torch.bincount(idx, minlength=k * (k + 1)).reshape(k, k + 1)
    if distributed:
        import torch.distributed as dist

        flat = torch.cat([any_gold, *[c.flatten() for c in conf.values()]])
        if dist.get_backend() == "nccl":
            flat = flat.to(device)
        dist.all_reduce(flat)
        flat = flat.cpu()
        any_gold, pos = flat[:1], 1
        for t, k in tasks:
            conf[t] = flat[pos : pos + 2 * k * (k + 1)].reshape(2, k, k + 1)
            pos += 2 * k * (k + 1)
    model.train(was_training)
    out: dict[str, Any] = {"n_eval_gold": int(any_gold.item()), "tasks": {}}
    for t, k in tasks:
        c = conf[t].numpy()
        n = int(c[0].sum())
        out["tasks"][t] = {
            "n_eval_gold": n,
            "end_model_accuracy": float(np.trace(c[0][:, :k]) / n) if n else float("nan"),
            "label_model_accuracy": float(np.trace(c[1][:, :k]) / n) if n else float("nan"),
            "end_model_predicted_na": int(c[0][:, k].sum()),
            "label_model_predicted_na": int(c[1][:, k].sum()),
            "confusion": c[0].tolist(),
        }
    return out
