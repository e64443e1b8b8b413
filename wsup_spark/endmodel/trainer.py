"""Train an end model on a Delta training table with the noise-aware loss.

- Device: ``auto`` picks CUDA when available, else CPU. Mixed precision (bf16, or fp16 with loss
  scaling) on CUDA only.
- Distributed: launched by ``torchrun`` (``WORLD_SIZE > 1``) it joins the process group (NCCL on
  GPU, gloo on CPU), pins the table version chosen by rank 0, shards rows across ranks and
  DataLoader workers (every row once per epoch) and wraps the model in DDP. Shards differ by a few
  rows after filtering, so ranks step in lockstep: a rank that has run out takes zero-weight steps
  until every rank is done, which keeps DDP's collectives matched without dropping rows.
- Evaluation: accuracy/F1 of the end model and of the label model on held-out gold rows.
- Model selection (``dev_mod``): a gold dev split, disjoint from the held-out rows, never trains;
  after every epoch all ranks score the model on it (confusion counts all-reduced, so every rank
  takes the same decision), the best epoch's weights are copied and restored at the end (before
  the held-out evaluation and the final checkpoint), and ``patience`` epochs in a row without a
  dev improvement stop training early.
- Checkpoints: after every epoch (rank 0), see :mod:`~.checkpoint`; ``resume`` continues from one.
- Self-training (``self_training``): after ``epochs`` epochs on the covered rows, a frozen copy
  of the model (the teacher) labels the rows no LF voted on, and ``epochs`` more epochs train on
  every row — uncovered rows with the teacher's confident predictions as soft labels
  (:func:`~.loss.self_training_targets`).
- Reproducible: ``seed`` fixes initialisation and every shuffle.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsup_spark.config import parse_config, task_graph_of
from wsup_spark.endmodel.checkpoint import load_checkpoint, load_optimizers, save_checkpoint
from wsup_spark.endmodel.config import TrainConfig
from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec
from wsup_spark.endmodel.evaluate import evaluate, to_device
from wsup_spark.endmodel.loss import (
    class_balanced_targets,
    confidence_weights,
    self_training_targets,
    soft_cross_entropy,
)
from wsup_spark.endmodel.models import build_model, fit_standardizers, make_optimizers, set_sparse
from wsup_spark.endmodel.multitask import (
    batch_targets,
    build_multitask_model,
    evaluate_multitask,
    multitask_soft_cross_entropy,
    task_specs,
)
from wsup_spark.endmodel.table import TableFiles, resolve_table
from wsup_spark.errors import ConfigError
from wsup_spark.run.layout import RunLayout
from wsup_spark.run.manifest import RunManifest
from wsup_spark.tasks import TaskGraph

logger = logging.getLogger(__name__)

BatchHook = Callable[[int, dict[str, torch.Tensor]], None]


@dataclass
class DevSelection:
    """Best-epoch bookkeeping of dev-split model selection (identical on every rank).

    Attributes
    ----------
    patience : epochs in a row without improvement that end a round (0 = never)
    curve, epochs : the dev score of every scored epoch and its (1-based) epoch number
    best, best_epoch, state : the best score (strictly greater wins, so ties keep the earlier
        epoch; NaN never wins), its epoch (0 = none yet) and a CPU copy of its ``state_dict``
    bad : epochs in a row without improvement in the current round
    """

    patience: int = 0
    curve: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    best: float = float("-inf")
    best_epoch: int = 0
    state: dict[str, torch.Tensor] | None = None
    bad: int = 0

    def update(self, epoch: int, score: float, model: nn.Module) -> bool:
        """Record ``epoch``'s dev ``score``; copy ``model``'s weights when it improves.

        Returns True when ``patience`` epochs in a row have not improved (stop the round).
        """
        self.curve.append(float(score))
        self.epochs.append(int(epoch))
        if score > self.best:
            self.best, self.best_epoch, self.bad = float(score), int(epoch), 0
            self.state = {k: v.detach().to("cpu", copy=True)
                          for k, v in model.state_dict().items()}  # fmt: skip
        else:
            self.bad += 1
        return bool(self.patience) and self.bad >= self.patience

    def restore(self, model: nn.Module) -> bool:
        """Load the best epoch's weights into ``model``; False when no epoch was scored."""
        if self.state is None:
            return False
        model.load_state_dict(self.state)
        return True


def dev_score(
    model: nn.Module,
    dev_ds: DeltaIterableDataset,
    device: torch.device,
    k: int,
    graph: TaskGraph | None,
    metric: str,
    distributed: bool,
) -> tuple[float, float, int]:
    """(end model score, label model score, gold rows) on the dev split; the score is accuracy
    (``metric="acc"``) or F1 (``"f1"``, see :func:`~.evaluate.scores`); multi-task: the mean
    accuracy over the tasks with dev gold rows. NaN when the split has no gold row. Under DDP
    every rank scores its shard and the counts are all-reduced (same result on every rank)."""
    if graph is not None:
        m = evaluate_multitask(model, dev_ds, device, graph, distributed)
        per = [t for t in m["tasks"].values() if t["n_eval_gold"] > 0]
        if not per:
            return float("nan"), float("nan"), 0
        end = sum(t["end_model_accuracy"] for t in per) / len(per)
        lm = sum(t["label_model_accuracy"] for t in per) / len(per)
        return float(end), float(lm), int(m["n_eval_gold"])
    m = evaluate(model, dev_ds, device, k, distributed)
    key = "accuracy" if metric == "acc" else "f1"
    return float(m[f"end_model_{key}"]), float(m[f"label_model_{key}"]), int(m["n_eval_gold"])


@dataclass
class TrainResult:
    """What :func:`train` returns: metrics, the checkpoint directory (rank 0) and the model."""

    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    model: nn.Module | None = None


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → cuda when available, else cpu; under torchrun ``cuda`` is LOCAL_RANK's GPU.

    Raises
    ------
    ConfigError
        when CUDA is asked for but not available.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device={name!r} but CUDA is not available; use auto or cpu")
        if name == "cuda" and "LOCAL_RANK" in os.environ:
            name = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return torch.device(name)


def _init_distributed(device: torch.device) -> tuple[bool, bool]:
    """(distributed, whether this call created the process group)."""
    import torch.distributed as dist

    if not dist.is_available():
        return False, False
    if dist.is_initialized():
        return dist.get_world_size() > 1, False
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False, False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True, True


def _resolve_shared(cfg: TrainConfig, distributed: bool, device: torch.device) -> TableFiles:
    """Resolve the table once (rank 0) and share the file list, so every rank reads the same
    version and only one process per job touches deltalake."""
    if not distributed:
        return resolve_table(cfg.table, cfg.version, cfg.storage_options)
    import torch.distributed as dist

    box: list[Any] = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = resolve_table(cfg.table, cfg.version, cfg.storage_options)
        except Exception as e:  # every rank must leave the collective
            box[0] = e
    dist.broadcast_object_list(box, src=0, device=device if device.type == "cuda" else None)
    if isinstance(box[0], Exception):
        raise box[0]
    return box[0]  # type: ignore[no-any-return]


def _lockstep(
    batches: Any, distributed: bool, dummy: dict[str, torch.Tensor], device: torch.device
) -> Iterator[tuple[dict[str, torch.Tensor], bool]]:
    """(batch, real) while any rank still has a batch; exhausted ranks get (dummy, False)."""
    it = iter(batches)
    while True:
        batch = next(it, None)
        if not distributed:
            if batch is None:
                return
            yield batch, True
            continue
        import torch.distributed as dist

        flag = torch.tensor([0 if batch is None else 1], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if int(flag.item()) == 0:
            return
        yield (batch, True) if batch is not None else (dummy, False)


def _progress(cfg: TrainConfig, rank: int) -> bool:
    if rank != 0:
        return False
    if cfg.progress == "bar":
        return True
    return cfg.progress == "auto" and sys.stderr.isatty()


def _class_mass(ds: DeltaIterableDataset) -> torch.Tensor:
    """(k,) float64 soft label mass per class over the rows ``ds`` trains on (every rank reads
    the whole split, so all ranks weigh alike)."""
    mass = torch.zeros(ds.k, dtype=torch.float64)
    whole = DeltaIterableDataset(table=ds.table, features=FeatureSpec(None), batch_size=65536,
                                 shuffle=False, split=ds.split, holdout_mod=ds.holdout_mod,
                                 dev_mod=ds.dev_mod,
                                 drop_unlabeled=ds.drop_unlabeled, rank=0, world_size=1,
                                 tasks=ds.tasks)  # fmt: skip
    for b in whole:
        mass += b["probs"].double().sum(0)
    logger.info("class weighting: soft label mass per class %s", [round(float(x), 1) for x in mass])
    return mass


def train(
    cfg: TrainConfig, model: nn.Module | None = None, on_batch: BatchHook | None = None
) -> TrainResult:
    """Train (and evaluate) the end model described by ``cfg``.

    Parameters
    ----------
    cfg : TrainConfig
    model : your own ``nn.Module`` mapping a batch dict to (n, k) logits (see
        :mod:`~.dataset` for the batch layout); None builds ``cfg.model``
    on_batch : called as ``on_batch(epoch, batch)`` with every real training batch (CPU tensors;
        ``epoch`` 0-based, self-training's round 2 continues the count)

    Returns
    -------
    TrainResult (checkpoint set on rank 0 when ``cfg.checkpoint_dir`` is)
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    device = pick_device(cfg.device)
    distributed, owns_group = _init_distributed(device)
    try:
        rank = dist.get_rank() if distributed else 0
        world = dist.get_world_size() if distributed else 1
        torch.manual_seed(cfg.seed)
        table = _resolve_shared(cfg, distributed, device)
        custom = model is not None
        spec = FeatureSpec.of(cfg, custom)
        graph = TaskGraph.from_dict(cfg.tasks) if cfg.tasks is not None else None
        tasks = task_specs(graph)[0] if graph is not None else None
        common: dict[str, Any] = dict(table=table, features=spec, batch_size=cfg.batch_size,
                                      seed=cfg.seed, holdout_mod=cfg.holdout_mod,
                                      dev_mod=cfg.dev_mod, shuffle_buffer=cfg.shuffle_buffer,
                                      tasks=tasks)  # fmt: skip
        train_ds = DeltaIterableDataset(**common, shuffle=True, split="train",
                                        drop_unlabeled=cfg.drop_unlabeled)  # fmt: skip
        golds = [f"gold_{t}" for t, _ in tasks] if tasks else ["gold"]
        has_gold = bool(set(golds) & set(table.schema.names))
        eval_ds = DeltaIterableDataset(**common, shuffle=False, split="eval") if has_gold else None
        dev_ds = None
        if cfg.dev_mod and has_gold:
            dev_ds = DeltaIterableDataset(**common, shuffle=False, split="dev")
        elif cfg.dev_mod:
            logger.warning("train.dev_mod=%d but %s has no gold column: no model selection",
                           cfg.dev_mod, cfg.table)  # fmt: skip
        sel = DevSelection(patience=cfg.patience or 0)
        dev_lm, n_dev, stopped_early, epochs_trained = float("nan"), 0, False, 0
        k = train_ds.k
        class_mass = _class_mass(train_ds) if cfg.class_weight == "balanced" else None
        if model is None and cfg.tasks is not None:
            model = build_multitask_model(cfg)  # shared trunk, one head per task
        elif model is None:
            model = build_model(cfg.model, k, cfg.buckets, len(cfg.numeric_cols), cfg.dim,
                                cfg.hidden, dropout=cfg.dropout,
                                embedding_dim=train_ds.embedding_dim,
                                fusion=cfg.fusion)  # fmt: skip
        fit_standardizers(model, train_ds.sample_numeric())
        if distributed and device.type == "cuda":
            set_sparse(model, False)  # NCCL all-reduces dense gradients only
        start_epoch = 0
        ckpt_dir = cfg.checkpoint_dir
        resume_from = ckpt_dir if cfg.resume and ckpt_dir and (
            Path(ckpt_dir) / "config.json").exists() else None  # fmt: skip
        if resume_from:
            model, _, meta = load_checkpoint(resume_from, model)
            start_epoch = int(meta["epoch"])
            if meta.get("table_version") != table.version:
                logger.warning("resuming a checkpoint trained on table version %s with version %s",
                               meta.get("table_version"), table.version)  # fmt: skip
        model = model.to(device)
        opts = make_optimizers(model, cfg.lr, cfg.weight_decay)
        if resume_from:
            load_optimizers(resume_from, opts)
            logger.info("resumed from %s after epoch %d", resume_from, start_epoch)
        net: nn.Module = model
        if distributed:
            net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
        amp_dtype = None
        if cfg.amp and device.type == "cuda":
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        def make_loader(ds: DeltaIterableDataset) -> Any:
            return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=cfg.num_workers,
                                               pin_memory=device.type == "cuda")  # fmt: skip

        epoch_ds = train_ds  # self-training's second round: every row of the train split
        loader = make_loader(epoch_ds)
        total_epochs = cfg.epochs * (2 if cfg.self_training else 1)
        teacher: nn.Module | None = None
        head = DeltaIterableDataset(table=table, features=spec, batch_size=2, shuffle=False,
                                    read_rows=2, rank=0, world_size=1, tasks=tasks)  # fmt: skip
        dummy = to_device(next(iter(head)), device)
        logger.info(
            "training %s (k=%d) on %s version %d (%d rows) on %s, world size %d, %d epoch(s)",
            type(model).__name__, k, cfg.table, table.version, table.num_rows, device, world,
            total_epochs,
        )  # fmt: skip
        bar = _progress(cfg, rank)
        t0 = time.perf_counter()
        rows_per_epoch: list[int] = []
        mean_loss = float("nan")
        ckpt: str | None = None

        def score_dev(epoch: int) -> bool:
            """Score the model on dev after (1-based) ``epoch``; True: patience ran out."""
            nonlocal dev_ds, dev_lm, n_dev
            if dev_ds is None:
                return False
            score, dev_lm, n_dev = dev_score(model, dev_ds, device, k, graph, cfg.dev_metric,
                                             distributed)  # fmt: skip
            if n_dev == 0:  # the same on every rank (all-reduced counts)
                logger.warning("the dev split (train.dev_mod=%d) of %s has no gold row: no "
                               "model selection", cfg.dev_mod, cfg.table)  # fmt: skip
                dev_ds = None
                return False
            stop = sel.update(epoch, score, model)
            if rank == 0:
                logger.info("epoch %d/%d: dev %s %.4f over %d gold rows (label model %.4f; best "
                            "%.4f, epoch %d)", epoch, total_epochs, cfg.dev_metric, score, n_dev,
                            dev_lm, sel.best, sel.best_epoch)  # fmt: skip
            return stop

        if start_epoch > 0:  # resumed: the checkpoint's model is the first candidate
            score_dev(start_epoch)
        epoch = start_epoch
        while epoch < total_epochs:
            if epoch >= cfg.epochs and teacher is None:  # self-training: the second round
                # (resumed inside round 2, the teacher is the checkpoint's model)
                if sel.restore(model):  # the teacher, and round 2's start: round 1's best epoch
                    logger.info("self-training: round 2 starts from round 1's best dev epoch %d",
                                sel.best_epoch)  # fmt: skip
                sel.bad = 0  # round 2 has its own patience
                teacher = copy.deepcopy(model).eval()
                epoch_ds = DeltaIterableDataset(**common, shuffle=True, split="train",
                                                drop_unlabeled=False)  # fmt: skip
                loader = make_loader(epoch_ds)
                logger.info("self-training: %d more epoch(s) on every row; uncovered rows take "
                            "the round-1 model's predictions with confidence >= %.2f",
                            cfg.epochs, cfg.self_training_threshold)  # fmt: skip
            epoch_ds.set_epoch(epoch)
            net.train()
            total_loss, steps, rows, te = 0.0, 0, 0, time.perf_counter()
            batches: Any = _lockstep(loader, distributed, dummy, device)
            if bar:
                from tqdm import tqdm

                batches = tqdm(batches, desc=f"epoch {epoch + 1}/{total_epochs}", unit="batch",
                               file=sys.stderr)  # fmt: skip
            for batch, real in batches:
                if real and on_batch is not None:
                    on_batch(epoch, batch)
                b = to_device(batch, device) if real else batch
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = net(b)
                if tasks:  # Σ_t soft cross-entropy over the rows where task t applies
                    loss = multitask_soft_cross_entropy(logits, *batch_targets(b, tasks))
                else:
                    target = b["probs"]
                    w = confidence_weights(target) if cfg.confidence_weighting else None
                    if teacher is not None:
                        with torch.no_grad():
                            guess = torch.softmax(teacher(b).float(), dim=1)
                        target, w = self_training_targets(target, b["n_votes"] > 0, guess,
                                                          cfg.self_training_threshold, w)
                    if class_mass is not None:
                        target, cw = class_balanced_targets(target, class_mass)
                        w = cw if w is None else w * cw
                    loss = soft_cross_entropy(logits, target, w)
                if not real:
                    loss = loss * 0.0
                for opt in opts:
                    opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                for opt in opts:
                    scaler.step(opt)
                scaler.update()
                if real:
                    n = int(b["id"].shape[0])
                    total_loss += float(loss.detach()) * n
                    rows += n
                    steps += 1
                if not bar and rank == 0 and steps and steps % cfg.log_every == 0 and real:
                    logger.info("epoch %d/%d step %d: loss %.4f, %.0f rows/s (rank 0)",
                                epoch + 1, total_epochs, steps, total_loss / max(rows, 1),
                                rows / max(time.perf_counter() - te, 1e-9))  # fmt: skip
            stats = torch.tensor([rows, total_loss], dtype=torch.float64)
            if distributed:
                stats = stats.to(device)
                dist.all_reduce(stats)
                stats = stats.cpu()
            rows_all = int(stats[0])
            mean_loss = float(stats[1]) / max(float(stats[0]), 1.0)
            rows_per_epoch.append(rows_all)
            if rank == 0:
                logger.info("epoch %d/%d: loss %.4f over %d rows, %.0f rows/s", epoch + 1,
                            total_epochs, mean_loss, rows_all,
                            rows_all / max(time.perf_counter() - te, 1e-9))  # fmt: skip
                if ckpt_dir:
                    ckpt = save_checkpoint(ckpt_dir, model, cfg, k, epoch + 1,
                                           {"train_loss": mean_loss}, table.version, opts,
                                           custom)  # fmt: skip
            epochs_trained += 1
            epoch += 1
            if score_dev(epoch):
                stopped_early = True
                if cfg.self_training and epoch <= cfg.epochs:  # round 1 ends; round 2 next
                    logger.info("early stop: %d epoch(s) without a dev improvement; round 1 ends "
                                "after epoch %d", sel.patience, epoch)  # fmt: skip
                    epoch = cfg.epochs
                else:
                    logger.info("early stop: %d epoch(s) without a dev improvement, after epoch "
                                "%d of %d", sel.patience, epoch, total_epochs)  # fmt: skip
                    break
        if sel.restore(model):
            logger.info("restored the best dev epoch %d of %s (dev %s %.4f)", sel.best_epoch,
                        sel.epochs, cfg.dev_metric, sel.best)  # fmt: skip
        elapsed = time.perf_counter() - t0
        metrics: dict[str, Any] = {}
        if eval_ds is not None and graph is not None:
            metrics.update(evaluate_multitask(model, eval_ds, device, graph, distributed))
        elif eval_ds is not None:
            metrics.update(evaluate(model, eval_ds, device, k, distributed))
        else:
            logger.warning("training table %s has no gold column: no evaluation", cfg.table)
        metrics.update({
            "k": k, "epochs": total_epochs, "self_training": cfg.self_training,
            "class_mass": None if class_mass is None else [float(x) for x in class_mass],
            "train_loss": mean_loss,
            "train_rows_per_epoch": rows_per_epoch[-1] if rows_per_epoch else 0,
            "train_rows_per_s": sum(rows_per_epoch) / max(elapsed, 1e-9),
            "train_seconds": elapsed, "device": str(device), "world_size": world,
            "table": cfg.table, "table_version": table.version,
            "epochs_trained": epochs_trained, "dev_metric": cfg.dev_metric if cfg.dev_mod else None,
            "n_dev_gold": n_dev, "dev_curve": sel.curve, "dev_epochs": sel.epochs,
            "best_epoch": sel.best_epoch or None,
            "dev_best": sel.best if sel.best_epoch else None,
            "dev_label_model": dev_lm if n_dev else None, "stopped_early": stopped_early,
        })  # fmt: skip
        if rank == 0 and ckpt_dir:
            ckpt = save_checkpoint(ckpt_dir, model, cfg, k, total_epochs, metrics, table.version,
                                   opts, custom)  # fmt: skip
        metrics["checkpoint"] = ckpt
        if distributed:
            dist.barrier()
        return TrainResult(metrics, ckpt, model)
    finally:
        if owns_group and dist.is_initialized():
            dist.destroy_process_group()


def train_from_config(cfg: Any, default_table: str | None = None) -> dict[str, Any]:
    """Train from a config and return the metrics (``wsup train`` and ``jobs/train.py`` call this).

    Parameters
    ----------
    cfg : the ``train:`` mapping, a whole config mapping with a ``train:`` key, or a
        :class:`~wsup_spark.config.PipelineConfig`. With a whole config, ``train.table``
        defaults to ``<output.path>/train`` (the pipeline's training table).
    default_table : the table when the mapping names none

    Returns
    -------
    dict of metrics (JSON-able): accuracies/F1 of the end model and the label model on held-out
    gold rows, throughput, the pinned table version, the checkpoint directory

    Raises
    ------
    ConfigError
        when the configuration is invalid or names no table.
    """
    if hasattr(cfg, "train") and hasattr(cfg, "output"):  # PipelineConfig
        raw: dict[str, Any] = dict(cfg.train)
        default_table = default_table or RunLayout.at(str(cfg.output.path)).train
        if getattr(cfg, "tasks", None) is not None and cfg.tasks.tasks:  # multi-task
            raw.setdefault("tasks", task_graph_of(cfg.tasks).to_dict())
    elif isinstance(cfg, Mapping) and "train" in cfg and isinstance(cfg["train"], Mapping):
        raw = dict(cfg["train"])
        if cfg.get("tasks"):  # a whole config with a tasks section: multi-task
            raw.setdefault("tasks", task_graph_of(parse_config(dict(cfg)).tasks).to_dict())
        out = cfg.get("output")
        if isinstance(out, Mapping) and out.get("path"):
            default_table = default_table or RunLayout.at(str(out["path"])).train
    elif isinstance(cfg, Mapping):
        raw = dict(cfg)
    else:
        raise ConfigError(f"train_from_config needs a mapping or a PipelineConfig, got {cfg!r}")
    if not raw.get("table") and default_table:
        raw["table"] = default_table
        if raw.get("version") is None:  # the run manifest names the run's training-table version
            done = RunManifest(RunLayout.at(default_table.rsplit("/", 1)[0])).last_commit()
            if done is not None and done.train_version is not None:
                raw["version"] = done.train_version
    return train(TrainConfig.from_dict(raw)).metrics
