"""``TrainConfig``: the ``train:`` section of a config, validated.

This module imports neither torch nor pyarrow, so configs can be checked anywhere.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wsup_spark.errors import ConfigError

MODEL_KINDS = ("text", "numeric", "text_numeric", "embedding")
FUSIONS = ("early", "late")
PROGRESS = ("auto", "bar", "log")
DEV_METRICS = ("acc", "f1")


@dataclass(frozen=True)
class TrainConfig:
    """How to train the end model (YAML ``train:`` section; ``TrainConfig.from_dict``).

    Attributes
    ----------
    table : Delta training table (id, features, probs, n_votes, gold); ``wsup train`` defaults it
        to ``<output.path>/train``
    version : Delta version to pin (None = latest at start; recorded in the checkpoint)
    text_col, numeric_cols : feature columns (text hashed fastText-style; numbers standardised)
    model : ``text`` (hashed n-gram EmbeddingBag + linear), ``numeric`` (MLP), ``text_numeric``,
        or ``embedding`` (an MLP on a precomputed sentence-embedding column, ``embedding_col``,
        plus the standardised ``numeric_cols`` when given; ``hidden: []`` = logistic regression)
    embedding_col : ``array<float>`` column of the training table that ``model: embedding``
        reads (the pipeline writes it with ``output.embedding``)
    epochs, lr, batch_size, weight_decay, dropout : optimisation (Adam/SparseAdam)
    buckets, dim, hidden : hashing id space, embedding width, hidden layer widths of MLP heads
    word_ngrams, char_ngrams : longest word n-gram; (minn, maxn) char n-grams, (0, 0) = off
    device : ``auto`` (cuda if available, else cpu), ``cpu``, ``cuda`` or ``cuda:N``
    amp : mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling); never on CPU
    checkpoint_dir : where ``model.pt`` + ``config.json`` go after every epoch (None = nowhere)
    resume : continue from the checkpoint in ``checkpoint_dir`` when there is one
    seed : seeds the model initialisation and every shuffle (runs are reproducible)
    holdout_mod : gold rows with ``hash(id) % holdout_mod == 0`` never train and form the
        evaluation set (0: evaluate on all gold rows, which then also train)
    dev_mod : model selection on a gold dev split (0 = off, the default): the gold rows outside
        the evaluation set with ``(hash(id) // holdout_mod) % dev_mod == 0`` (about
        (1 - 1/holdout_mod)/dev_mod of the gold rows) never train; after every epoch the model
        is scored on them (``dev_metric``), the best epoch's weights are kept in memory and
        restored at the end, before the held-out evaluation and the final checkpoint. Needs
        ``holdout_mod > 0`` (the dev rows are disjoint from the evaluation rows). With
        ``self_training`` the best round-1 epoch is restored before the teacher labels the
        uncovered rows, and round 2 starts from it; the final model is the best epoch of
        either round (round 2 is kept only where it beats round 1 on dev). Multi-task: the
        mean over tasks of the dev accuracy (``dev_metric: acc`` only). A resumed run
        (``resume``) scores the checkpoint's model first and selects from there on (the best
        weights of the interrupted run live only in its memory)
    patience : stop after this many epochs in a row without a dev improvement (needs
        ``dev_mod``; null or 0 = train every epoch). With ``self_training`` it ends the round:
        an early-stopped round 1 goes on to round 2, whose patience count starts afresh
    dev_metric : ``acc`` (accuracy) or ``f1`` (the positive class's F1 for k = 2, macro F1
        otherwise; single-task only) on the dev rows; ties keep the earlier epoch
    drop_unlabeled : skip rows no LF voted on (their probs are only the class prior)
    confidence_weighting : weigh each row's loss by the label model's confidence
    num_workers : DataLoader worker processes per rank (0 = read in the training process)
    shuffle_buffer : rows shuffled together before batches are cut
    progress : ``auto`` (a tqdm bar when stderr is a terminal, else log lines), ``bar``, ``log``
    log_every : steps between progress log lines (``log`` mode)
    storage_options : passed to deltalake for object stores
    tasks : multi-task training: the task graph (``TaskGraph.to_dict()``); ``wsup train`` sets
        it from the config's ``tasks:`` section. The table then has ``probs_<task>`` (null where
        the task does not apply) and ``gold_<task>`` columns, and the model is a shared trunk
        (``model`` names it) with one head per task, trained with the masked per-task loss
    feed_parent : multi-task: give each child task's head its parent head's softmax
    self_training : after ``epochs`` epochs on the rows the LFs cover, train ``epochs`` more on
        every row: uncovered rows (``n_votes == 0``) take the round-1 model's predicted
        distribution as their soft label where its top probability is at least
        ``self_training_threshold`` (other uncovered rows weigh 0)
    self_training_threshold : the confidence an uncovered row's pseudo-label needs, in (0, 1]
    class_weight : ``balanced`` weighs class c by N / (k · mass_c), with mass_c the soft label
        mass of class c over the training rows (one pass over the table before training), so
        every class carries the same total weight (imbalanced tasks;
        :func:`~.loss.class_balanced_targets`); null = off
    fusion : how ``text_numeric`` (or ``embedding`` with ``numeric_cols``) combines its two
        views: ``early`` (one MLP over the concatenated features) or ``late`` (the text model and
        the numeric MLP each learn the labels on their own and predict as a product of experts,
        :class:`~.models.LateFusionModel`: features no LF read then add evidence instead of being
        ignored by a model that imitates the LFs from the text they read); not with ``tasks``
    """

    table: str = ""
    version: int | None = None
    text_col: str | None = "text"
    numeric_cols: tuple[str, ...] = ()
    model: str = "text"
    epochs: int = 3
    lr: float = 0.01
    batch_size: int = 512
    weight_decay: float = 0.0
    dropout: float = 0.0
    buckets: int = 2**18
    dim: int = 64
    hidden: tuple[int, ...] = (64,)
    word_ngrams: int = 2
    char_ngrams: tuple[int, int] = (0, 0)
    device: str = "auto"
    amp: bool = True
    checkpoint_dir: str | None = None
    resume: bool = False
    seed: int = 0
    holdout_mod: int = 5
    dev_mod: int = 0
    patience: int | None = None
    dev_metric: str = "acc"
    drop_unlabeled: bool = True
    confidence_weighting: bool = False
    num_workers: int = 0
    shuffle_buffer: int = 16384
    progress: str = "auto"
    log_every: int = 100
    storage_options: Mapping[str, str] = field(default_factory=dict)
    tasks: Mapping[str, Any] | None = None
    feed_parent: bool = True
    embedding_col: str = "embedding"
    self_training: bool = False
    self_training_threshold: float = 0.9
    class_weight: str | None = None
    fusion: str = "early"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainConfig:
        """Validate a mapping (e.g. the YAML ``train:`` section); unknown keys are errors.

        Raises
        ------
        ConfigError
            naming the key, the value and what is allowed.

        Examples
        --------
        >>> cfg = TrainConfig.from_dict({"table": "/t", "numeric_cols": ["a"], "model": "numeric"})
        >>> cfg.numeric_cols, TrainConfig.from_dict(cfg.to_dict()) == cfg
        (('a',), True)
        """
        if not isinstance(raw, Mapping):
            raise ConfigError(f"config section 'train' must be a mapping, got {type(raw).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown} in config section 'train'; allowed: {sorted(names)}"
            )
        d = dict(raw)
        for key in ("numeric_cols", "hidden", "char_ngrams"):
            if key in d:
                v = d[key]
                if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
                    if key == "numeric_cols" and isinstance(v, str):
                        v = [v]
                    elif v is None:
                        v = []
                    else:
                        raise ConfigError(f"train.{key} must be a list, got {v!r}")
                d[key] = tuple(v)
        for key in ("storage_options",):
            d[key] = dict(d.get(key) or {})
        if d.get("tasks") is not None:
            if not isinstance(d["tasks"], Mapping):
                raise ConfigError(f"train.tasks must be a task graph mapping, got {d['tasks']!r}")
            d["tasks"] = json.loads(json.dumps(d["tasks"]))  # a plain, JSON-able copy
        try:
            cfg = cls(**d)
        except TypeError as e:  # pragma: no cover - from_dict filters names
            raise ConfigError(f"bad train config: {e}") from e
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Cross-field checks; raises :class:`ConfigError` with the fix."""
        if not self.table:
            raise ConfigError("train.table is empty: set it to the Delta training table's path")
        if self.model not in MODEL_KINDS:
            raise ConfigError(f"train.model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.model in ("text", "text_numeric") and not self.text_col:
            raise ConfigError(f"train.model={self.model} needs train.text_col")
        if self.model == "embedding" and not self.embedding_col:
            raise ConfigError("train.model=embedding needs train.embedding_col")
        if self.model in ("numeric", "text_numeric") and not self.numeric_cols:
            raise ConfigError(f"train.model={self.model} needs train.numeric_cols")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"train.fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.fusion == "late" and (
            self.model not in ("text_numeric", "embedding") or not self.numeric_cols
        ):
            raise ConfigError(
                f"train.fusion=late needs two views: train.model text_numeric, or embedding with "
                f"train.numeric_cols; got model={self.model} with numeric_cols="
                f"{list(self.numeric_cols)} (or set fusion early)"
            )
        if self.fusion == "late" and self.tasks is not None:
            raise ConfigError("train.fusion=late is not supported for multi-task training "
                              "(tasks); set fusion early")  # fmt: skip
        for key in ("epochs", "batch_size", "buckets", "dim", "word_ngrams", "log_every",
                    "shuffle_buffer"):  # fmt: skip
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"train.{key} must be a positive integer, got {v!r}")
        for key in ("num_workers", "holdout_mod", "seed", "dev_mod"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"train.{key} must be an integer >= 0, got {v!r}")
        p = self.patience
        if p is not None and (not isinstance(p, int) or isinstance(p, bool) or p < 0):
            raise ConfigError(f"train.patience must be null or an integer >= 0, got {p!r}")
        if self.dev_metric not in DEV_METRICS:
            raise ConfigError(f"train.dev_metric must be one of {DEV_METRICS}, got "
                              f"{self.dev_metric!r}")  # fmt: skip
        if self.dev_mod and not self.holdout_mod:
            raise ConfigError(f"train.dev_mod={self.dev_mod} needs train.holdout_mod > 0 (with "
                              "holdout_mod 0 every gold row is an evaluation row, so no gold "
                              "row is left for a dev split); set holdout_mod (e.g. 5) or "
                              "dev_mod 0")  # fmt: skip
        if p and not self.dev_mod:
            raise ConfigError(f"train.patience={p} needs a dev split to watch: set train.dev_mod "
                              "(e.g. 10) or patience null")  # fmt: skip
        if self.dev_metric == "f1" and self.tasks is not None:
            raise ConfigError("train.dev_metric=f1 is not supported for multi-task training "
                              "(tasks): it selects on the mean dev accuracy; set dev_metric "
                              "acc")  # fmt: skip
        if self.version is not None and (not isinstance(self.version, int) or self.version < 0):
            raise ConfigError(f"train.version must be null or a version >= 0, got {self.version!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr!r}")
        if not 0 <= self.dropout < 1 or self.weight_decay < 0:
            raise ConfigError("train.dropout must be in [0, 1) and train.weight_decay >= 0")
        if any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ConfigError(f"train.hidden must be a list of positive widths, got {self.hidden}")
        c = self.char_ngrams
        if len(c) != 2 or not (c == (0, 0) or 1 <= c[0] <= c[1] <= 16):
            raise ConfigError(
                f"train.char_ngrams must be [minn, maxn] with 1 <= minn <= maxn <= 16, or [0, 0] "
                f"(off); got {list(c)}"
            )
        t = self.self_training_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1:
            raise ConfigError(f"train.self_training_threshold must be in (0, 1], got {t!r}")
        if self.class_weight not in (None, "balanced"):
            raise ConfigError(f"train.class_weight must be null or balanced, got "
                              f"{self.class_weight!r}")  # fmt: skip
        if self.class_weight is not None and self.tasks is not None:
            raise ConfigError("train.class_weight is not supported for multi-task training "
                              "(tasks) yet; set it to null")  # fmt: skip
        if self.self_training and self.tasks is not None:
            raise ConfigError("train.self_training is not supported for multi-task training "
                              "(tasks); set it to false")  # fmt: skip
        if self.progress not in PROGRESS:
            raise ConfigError(f"train.progress must be one of {PROGRESS}, got {self.progress!r}")
        dev = self.device
        if not (dev in ("auto", "cpu", "cuda") or dev.startswith("cuda:")):
            raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N; got {dev!r}")
        if self.tasks is not None:
            from wsup_spark.tasks import TaskGraph

            try:
                TaskGraph.from_dict(self.tasks)
            except (KeyError, TypeError, ValueError) as e:
                raise ConfigError(f"train.tasks is not a task graph ({type(e).__name__}: {e})"
                                  ) from e  # fmt: skip
            if self.model == "embedding":
                raise ConfigError("train.model=embedding is not supported for multi-task training "
                                  "(tasks) yet; use text, numeric or text_numeric")  # fmt: skip
            if self.confidence_weighting:
                raise ConfigError("train.confidence_weighting is not supported for multi-task "
                                  "training (tasks); set it to false")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-able mapping that :meth:`from_dict` reads back to an equal config."""
        d = dataclasses.asdict(self)
        for key in ("numeric_cols", "hidden", "char_ngrams"):
            d[key] = list(d[key])
        d["storage_options"] = dict(self.storage_options)
        d["tasks"] = None if self.tasks is None else json.loads(json.dumps(self.tasks))
        return d
