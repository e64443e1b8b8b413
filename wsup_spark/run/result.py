"""What one labeling run produced (driver-side, small): :class:`PipelineResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wsup_spark.labelmodel.base import BaseLabelModel
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats
from wsup_spark.run.layout import RunLayout
from wsup_spark.stats.lfstats import LFStats


@dataclass
class PipelineResult:
    """A finished run: its statistics, fitted model, table versions, metrics and timings.

    Built by :func:`~wsup_spark.pipeline.run_pipeline`, or from disk by
    :func:`~wsup_spark.run.store.load_run`. Paths come from :attr:`layout`. A multi-task run
    (a config with ``tasks:``) holds :class:`MultiTaskStats` and a :class:`MultiTaskLabelModel`
    (:attr:`is_multitask`; :attr:`task_stats` / :attr:`task_model` return them typed).
    """

    run_id: str
    stats: LFStats | MultiTaskStats
    model: BaseLabelModel | MultiTaskLabelModel
    layout: RunLayout
    votes_version: int
    labels_version: int
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    lf_errors: dict[str, int] = field(default_factory=dict)
    train_version: int | None = None
    #: per LF column: ``{"lf", "fingerprint", "computed_by"}`` (the run that computed it)
    lf_versions: list[dict[str, str]] = field(default_factory=list)

    @property
    def is_multitask(self) -> bool:
        """Whether this is a multi-task run (one probability column per task)."""
        return isinstance(self.stats, MultiTaskStats)

    @property
    def task_stats(self) -> MultiTaskStats:
        """A multi-task run's statistics (:class:`ValueError` for a single-task run)."""
        if not isinstance(self.stats, MultiTaskStats):
            raise ValueError(f"run {self.run_id} is a single-task run: use .stats")
        return self.stats

    @property
    def task_model(self) -> MultiTaskLabelModel:
        """A multi-task run's label model (:class:`ValueError` for a single-task run)."""
        if not isinstance(self.model, MultiTaskLabelModel):
            raise ValueError(f"run {self.run_id} is a single-task run: use .model")
        return self.model

    @property
    def single_stats(self) -> LFStats:
        """A single-task run's statistics (:class:`ValueError` for a multi-task run)."""
        if not isinstance(self.stats, LFStats):
            raise ValueError(f"run {self.run_id} is a multi-task run: use .task_stats")
        return self.stats

    @property
    def single_model(self) -> BaseLabelModel:
        """A single-task run's label model (:class:`ValueError` for a multi-task run)."""
        if not isinstance(self.model, BaseLabelModel):
            raise ValueError(f"run {self.run_id} is a multi-task run: use .task_model")
        return self.model

    @property
    def n_rows(self) -> int:
        """Rows labeled."""
        return self.stats.n

    @property
    def lf_names(self) -> list[str]:
        """LF names in vote order."""
        return list(self.stats.lf_names or [f"lf_{i}" for i in range(self.stats.m)])

    @property
    def cardinality(self) -> int:
        """Number of classes k (a multi-task run: the largest task cardinality)."""
        if isinstance(self.stats, MultiTaskStats):
            return max(self.stats.graph.cardinalities)
        return self.stats.k

    @property
    def votes_path(self) -> str:
        """The votes table."""
        return self.layout.votes

    @property
    def labels_path(self) -> str:
        """The labels table."""
        return self.layout.labels

    @property
    def train_path(self) -> str | None:
        """The training table, when this run wrote one."""
        return self.layout.train if self.train_version is not None else None

    @property
    def artifacts_path(self) -> str:
        """This run's artifacts folder."""
        return self.layout.artifacts(self.run_id)

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (written to ``_runs/<run_id>/summary.json``)."""
        return {
            "run_id": self.run_id,
            "n_rows": self.n_rows,
            "lf_names": self.lf_names,
            "votes": {"path": self.votes_path, "version": self.votes_version},
            "labels": {"path": self.labels_path, "version": self.labels_version},
            "train": (
                {"path": self.train_path, "version": self.train_version}
                if self.train_path
                else None
            ),
            "timings_s": self.timings,
            "metrics": {k: v for k, v in self.metrics.items() if k != "lf_confusion"},
            "lf_errors": self.lf_errors,
            "lf_versions": self.lf_versions,
            **self._tasks_summary(),
        }

    def _tasks_summary(self) -> dict[str, Any]:
        if not isinstance(self.stats, MultiTaskStats):
            return {}
        return {"tasks": [t.name for t in self.stats.graph.tasks]}
