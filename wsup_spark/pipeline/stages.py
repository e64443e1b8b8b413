"""The stages of a labeling run (see :mod:`wsup_spark.pipeline`): the run's context, the votes
writers, and one short function per stage; :func:`run_stages` runs them for a full run.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from pyspark.sql import functions as F

from wsup_spark.analysis.reductions import gold_diagnostics
from wsup_spark.config import PipelineConfig, embedding_settings
from wsup_spark.errors import DataError
from wsup_spark.io.base import job_description
from wsup_spark.io.delta import read_table, resolve_writer, write_table
from wsup_spark.io.sources import GOLD_COL, load_source
from wsup_spark.json_values import nan_to_none
from wsup_spark.labelmodel.base import BaseLabelModel, build_label_model
from wsup_spark.labelmodel.baselines import MajorityVote
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats
from wsup_spark.lf.base import LabelingFunction, LFSet
from wsup_spark.lf.loading import load_lfs
from wsup_spark.run.incremental import full_run_state, save_state
from wsup_spark.run.layout import RunLayout
from wsup_spark.run.result import PipelineResult
from wsup_spark.run.store import save_artifacts, save_summary
from wsup_spark.spark.apply import VOTES_COL, LFErrorCounter, apply_transform
from wsup_spark.spark.multitask import (
    gold_index_column,
    multitask_gold_counts,
    multitask_predict_transform,
    reduce_multitask_stats,
)
from wsup_spark.spark.predict import predict_transform
from wsup_spark.spark.session import is_connect, num_partitions
from wsup_spark.spark.stats import VotesTap, merge_partials, reduce_stats, stats_via_tap
from wsup_spark.stats.lfstats import LFStats
from wsup_spark.tasks import TaskGraph

__all__ = ["RunContext", "run_stages"]

logger = logging.getLogger(__name__)

MAX_PARAMS_IN_COMMIT = 512 * 1024  # bytes of JSON; larger params are referenced by path only


@dataclass
class RunContext:
    """What every stage of one run needs (driver-side)."""

    cfg: PipelineConfig
    spark: Any
    run_id: str
    lfset: LFSet
    layout: RunLayout
    template: LFStats  # the empty statistics of the LF set (m, k, names, vote patterns?)
    has_gold: bool
    timings: dict[str, float] = field(default_factory=dict)
    graph: TaskGraph | None = None  # multi-task runs: the tasks; lf_tasks = each LF's task
    lf_tasks: tuple[int, ...] = ()
    task_gold: dict[str, str] = field(default_factory=dict)  # task name -> gold column
    computed_by: tuple[str, ...] = ()  # incremental runs: the run that computed each LF column

    @property
    def commit_meta(self) -> dict[str, Any]:
        """Metadata every table's commit of this run records."""
        return {
            "run_id": self.run_id,
            "lf_names": list(self.lfset.names),
            "lf_fingerprints": self.lfset.fingerprints,
            "lf_set_hash": self.lfset.hash,
            "lf_computed_by": list(self.computed_by or [self.run_id] * self.lfset.m),
            "cardinality": self.lfset.k,
            "class_names": list(self.cfg.lfs.class_names) if self.cfg.lfs.class_names else None,
            **self.task_meta,
        }

    @property
    def lf_versions(self) -> list[dict[str, str]]:
        """Per LF column: name, fingerprint and the run that computed it."""
        by = self.computed_by or (self.run_id,) * self.lfset.m
        cols = zip(self.lfset.names, self.lfset.fingerprints, by, strict=True)
        return [{"lf": n, "fingerprint": f, "computed_by": b} for n, f, b in cols]

    @property
    def task_meta(self) -> dict[str, Any]:
        """Multi-task runs: the task graph and each LF's task (empty for single-task runs)."""
        if self.graph is None:
            return {}
        return {"tasks": self.graph.to_dict(),
                "lf_tasks": [self.graph.tasks[t].name for t in self.lf_tasks]}  # fmt: skip

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` (and describe its Spark jobs in the UI)."""
        logger.info("stage %s: start", name)
        t0 = time.perf_counter()
        try:
            with job_description(self.spark, name):
                yield
        finally:
            self.timings[name] = time.perf_counter() - t0
            logger.info("stage %s: %.2f s", name, self.timings[name])


@dataclass
class VotesOutcome:
    """What writing the votes produced: the committed version, the LF reports, and the LF
    statistics when the write computed them (else None: a second pass computes them)."""

    version: int
    stats: LFStats | None
    lf_errors: dict[str, int]
    lf_seconds: Mapping[str, float]


class VotesWriter(Protocol):
    """Applies the LFs and writes the votes table: one strategy per writer."""

    def write(self, ctx: RunContext, corpus: Any) -> VotesOutcome:
        """Apply the LFs and write the votes table."""


class FusedVotesWriter:
    """delta-rs: the LFs run inside the votes write tasks; taps carry per committed task the
    statistics partial (while the partials are small, else a second pass computes them) and the
    exact LF failure counts and seconds."""

    def write(self, ctx: RunContext, corpus: Any) -> VotesOutcome:
        n_parts = num_partitions(corpus) or UNKNOWN_PARTITIONS
        with_tap = ctx.graph is None and stats_via_tap(ctx.template, n_parts)
        src, t = apply_step(ctx, corpus, report=True)
        res = write_table(
            src, ctx.layout.votes, run_id=ctx.run_id, mode=ctx.cfg.output.mode,
            metadata={**ctx.commit_meta, "stage": "votes"}, writer="delta-rs",
            description="apply LFs + write votes", transform=t,
            tap_factory=functools.partial(VotesTap, ctx.template, stats=with_tap),
        )  # fmt: skip
        errors, seconds, parts = VotesTap.combine(res.taps or [])
        stats = merge_partials(parts, ctx.template) if with_tap else None
        return VotesOutcome(res.version, stats, errors, seconds)


class SparkVotesWriter:
    """Spark's Delta writer (Databricks, clusters with the Delta jars) takes no taps: a plain
    ``mapInArrow`` with accumulators, and the statistics by a second pass over the votes."""

    def write(self, ctx: RunContext, corpus: Any) -> VotesOutcome:
        if is_connect(ctx.spark):  # no accumulators on Spark Connect
            logger.warning(
                "Spark Connect with Spark's Delta writer: per-LF failure counts and timings are "
                "not collected (use output.writer=delta-rs for exact counts)"
            )
            src, t = apply_step(ctx, corpus, report=False)
            res = self._write(ctx, src, t)
            return VotesOutcome(res.version, None, {}, {})
        errors, seconds = LFErrorCounter(ctx.spark), LFErrorCounter(ctx.spark)
        src, t = apply_step(ctx, corpus, report=False, counters=(errors, seconds))
        res = self._write(ctx, src, t)
        return VotesOutcome(res.version, None, errors.value, seconds.value)

    @staticmethod
    def _write(ctx: RunContext, src: Any, t: Any) -> Any:
        return write_table(
            src.mapInArrow(t.fn, t.schema), ctx.layout.votes, run_id=ctx.run_id,
            mode=ctx.cfg.output.mode, metadata={**ctx.commit_meta, "stage": "votes"},
            writer="spark", description="apply LFs + write votes",
        )  # fmt: skip


#: Partition count assumed where Spark does not tell (Spark Connect) when sizing the taps.
UNKNOWN_PARTITIONS = 1024


def votes_writer(spark: Any, writer: str) -> VotesWriter:
    """The votes strategy for ``output.writer`` on this session (``auto`` resolved once)."""
    if resolve_writer(spark, writer) == "delta-rs":
        return FusedVotesWriter()
    return SparkVotesWriter()


def apply_step(
    ctx: RunContext,
    corpus: Any,
    report: bool,
    counters: tuple[LFErrorCounter, LFErrorCounter] | None = None,
    lfset: LFSet | None = None,
    rows: bool = True,
) -> tuple[Any, Any]:
    """The LF application of this run (``lfset``, default the run's LFs) as ``(src, transform)``;
    ``rows``: whole votes-table rows (gold carried, constant columns), else ``(id, votes)``."""
    cfg = ctx.cfg
    return apply_transform(
        corpus, lfset or ctx.lfset, cfg.source.id_col,
        on_error=cfg.lfs.on_error,  # type: ignore[arg-type]
        carry=([GOLD_COL] if ctx.has_gold else []) + sorted(set(ctx.task_gold.values()))
        if rows else [],
        max_ms_per_row=cfg.lfs.max_ms_per_row,
        constants={"lf_set_hash": ctx.lfset.hash, "run_id": ctx.run_id} if rows else None,
        report=report,
        error_counter=counters[0] if counters else None,
        time_counter=counters[1] if counters else None,
    )  # fmt: skip


def stats_pass(ctx: RunContext, votes_version: int, this_run_only: bool = True) -> LFStats:
    """LF statistics by a pass over the votes table at ``votes_version`` (this run's rows only,
    or every row)."""
    votes = read_table(ctx.spark, ctx.layout.votes, version=votes_version)
    if this_run_only:
        votes = votes.where(F.col("run_id") == ctx.run_id)
    return reduce_stats(votes, ctx.template)


def labels_meta(
    ctx: RunContext,
    votes_version: int,
    kind: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    lf_errors: Mapping[str, int],
) -> dict[str, Any]:
    """The labels commit's metadata: the run's, the votes version, the model (its parameters
    when they fit :data:`MAX_PARAMS_IN_COMMIT`), the artifacts folder, metrics, LF failures."""
    fits = len(json.dumps(params)) <= MAX_PARAMS_IN_COMMIT
    return {
        **ctx.commit_meta, "stage": "labels", "votes_version": votes_version,
        "label_model": kind, "label_model_params": params if fits else None,
        "artifacts": ctx.layout.artifacts(ctx.run_id),
        "metrics": {k: v for k, v in metrics.items() if k != "lf_confusion"},
        "lf_errors": dict(lf_errors),
    }  # fmt: skip


# --------------------------------------------------------------------------- stages


def load_corpus(ctx: RunContext) -> Any:
    """The corpus DataFrame; :class:`DataError` before anything is written when it is empty."""
    src = ctx.cfg.source
    corpus = load_source(ctx.spark, src)
    if src.format != "demo":  # the demo's size is its config (validated >= 1)
        with ctx.stage("check corpus"):
            if corpus.isEmpty():
                raise DataError(
                    f"the corpus ({src.format} {src.path or ''}) has no rows; nothing was "
                    "written. Check source.path / filters"
                )
    return corpus


def write_votes(ctx: RunContext, corpus: Any) -> tuple[VotesOutcome, LFStats]:
    """Apply the LFs, write the votes table and compute the LF statistics."""
    with ctx.stage("apply LFs + write votes"):
        out = votes_writer(ctx.spark, ctx.cfg.output.writer).write(ctx, corpus)
    if out.lf_errors:
        logger.warning("LF failures counted as abstains: %s", out.lf_errors)
    with ctx.stage("LF statistics"):
        stats = out.stats if out.stats is not None else stats_pass(ctx, out.version)
    if stats.n == 0:
        raise DataError("the LFs produced no votes rows: the corpus is empty")
    return out, stats


def fit_model(ctx: RunContext, stats: LFStats) -> BaseLabelModel:
    """Fit the configured label model on the driver from the statistics only."""
    lm = ctx.cfg.label_model
    cb = lm.class_balance
    with ctx.stage("fit label model"):
        model = build_label_model(lm.kind, ctx.lfset.k, lm.params)
        return model.fit(stats, class_balance=None if cb is None else np.asarray(cb, float))


def evaluate(
    ctx: RunContext, votes: Any, model: BaseLabelModel, stats: LFStats
) -> dict[str, Any]:
    """Metrics of the run: gold accuracy/F1 of the model vs majority vote (when the corpus has
    gold labels), learned accuracies, coverage, model warnings."""
    k = ctx.lfset.k
    metrics: dict[str, Any] = {}
    if ctx.has_gold:
        with ctx.stage("evaluate against gold"):
            mv = MajorityVote(k).fit(stats)
            ev = gold_diagnostics(votes, {"label_model": model, "majority_vote": mv}, stats.m, k)
        per_lf = ev.lfs.sum((1, 2))
        metrics = {
            "n_gold": ev.n_gold,
            "accuracy": {nm: ev.accuracy(nm) for nm in ev.models},
            "f1": {nm: ev.f1(nm) for nm in ev.models} if k == 2 else {},
            "lf_accuracy_gold": nan_to_none(
                np.trace(ev.lfs, axis1=1, axis2=2) / np.where(per_lf > 0, per_lf, np.nan)
            ),
            "lf_confusion": ev.lfs.tolist(),
        }
    metrics["model_warnings"] = list(model.warnings)
    metrics["lf_accuracy_learned"] = nan_to_none(model.accuracies)
    metrics["coverage"] = stats.coverage.tolist()
    metrics["n_rows"] = stats.n
    metrics["n_covered"] = stats.n_covered
    return metrics


def write_labels(
    ctx: RunContext,
    votes: Any,
    model: BaseLabelModel,
    stats: LFStats,
    meta: dict[str, Any],
    mode: str | None = None,
) -> int:
    """Predict inside the labels write tasks (one Python stage) and commit the labels table
    (``mode`` default ``output.mode``); returns its version."""
    with ctx.stage("predict + write labels"):
        t = predict_transform(votes, model, stats.m, constants={"run_id": ctx.run_id})
        res = write_table(
            votes.select("id", VOTES_COL), ctx.layout.labels, run_id=ctx.run_id,
            mode=mode or ctx.cfg.output.mode, metadata=meta, writer=ctx.cfg.output.writer,
            description="predict + write labels", transform=t,
        )  # fmt: skip
    return res.version


def _features(ctx: RunContext, corpus: Any) -> list[str]:
    """``output.features``, each checked to be a corpus column."""
    feats = list(ctx.cfg.output.features)
    missing = [c for c in feats if c not in corpus.columns]
    if missing:
        raise DataError(
            f"output.features names column(s) {missing} not in the corpus; columns are "
            f"{corpus.columns}"
        )
    return feats


def write_training_table(
    ctx: RunContext, corpus: Any, result: PipelineResult, this_run_only: bool = True
) -> int:
    """``<output>/train``: id, feature columns, (gold), probs, n_votes, run_id — one table to
    stream. It joins the corpus with this run's labels only, so append mode holds each run once
    (a rerun replaces its rows, by file with delta-rs, by ``run_id`` with Spark's writer);
    incremental runs (``this_run_only=False``) join every row of the labels table."""
    id_col = ctx.cfg.source.id_col
    feats = _features(ctx, corpus)
    emb = embedding_settings(ctx.cfg.output)
    extra = [emb["text_col"]] if emb and emb["text_col"] not in feats else []
    if extra and extra[0] not in corpus.columns:
        raise DataError(f"output.embedding.text_col {extra[0]!r} is not a corpus column; columns "
                        f"are {corpus.columns}")  # fmt: skip
    with ctx.stage("write training table"):
        cols = [id_col, *feats, *extra] + ([GOLD_COL] if ctx.has_gold else [])
        left = corpus.select(*cols).withColumnRenamed(id_col, "id")
        labels = read_table(ctx.spark, ctx.layout.labels, version=result.labels_version)
        if this_run_only:  # append mode: this run's rows only
            labels = labels.where(F.col("run_id") == ctx.run_id)
        train = left.join(labels.select("id", "probs", "n_votes", "run_id"), on="id", how="inner")
        if emb:  # frozen sentence embeddings, computed on the executors while the table is written
            from wsup_spark.endmodel.encoders import add_embedding_column  # torch: imported late

            train = add_embedding_column(train, emb["text_col"], emb["column"], emb["model"],
                                         emb["device"], emb["batch_size"], emb["torch_threads"])
            train = train.drop(*extra)
            feats = [*feats, emb["column"]]
        res = write_table(
            train, ctx.layout.train, run_id=ctx.run_id, mode=ctx.cfg.output.mode,
            metadata={"run_id": ctx.run_id, "stage": "train",
                      "labels_version": result.labels_version, "features": feats,
                      "cardinality": ctx.lfset.k},
            writer=ctx.cfg.output.writer, description="write training table",
        )  # fmt: skip
    return res.version


# --------------------------------------------------------------------------- the pipeline


def run_stages(ctx: RunContext) -> PipelineResult:
    """The stages of one claimed run (see :func:`run_pipeline`)."""
    if ctx.graph is not None:
        return _run_multitask_stages(ctx)
    cfg, spark, lfset = ctx.cfg, ctx.spark, ctx.lfset
    corpus = load_corpus(ctx)
    votes_out, stats = write_votes(ctx, corpus)
    model = fit_model(ctx, stats)
    params = save_artifacts(ctx.layout, ctx.run_id, model, stats)
    save_state(ctx.layout, full_run_state(ctx.run_id, lfset.names, lfset.fingerprints, lfset.k,
                                          ctx.has_gold))  # fmt: skip

    votes = read_table(spark, ctx.layout.votes, version=votes_out.version)
    if cfg.output.mode == "append":  # the table also holds earlier runs' rows
        votes = votes.where(F.col("run_id") == ctx.run_id)
    metrics = evaluate(ctx, votes, model, stats)
    metrics["lf_seconds"] = [round(votes_out.lf_seconds.get(nm, 0.0), 3) for nm in lfset.names]
    meta = labels_meta(ctx, votes_out.version, cfg.label_model.kind, params, metrics,
                       votes_out.lf_errors)  # fmt: skip
    labels_version = write_labels(ctx, votes, model, stats, meta)
    result = PipelineResult(
        run_id=ctx.run_id, stats=stats, model=model, layout=ctx.layout,
        votes_version=votes_out.version, labels_version=labels_version, timings=ctx.timings,
        metrics=metrics, lf_errors=votes_out.lf_errors, lf_versions=ctx.lf_versions,
    )  # fmt: skip
    if cfg.output.training_table:
        result.train_version = write_training_table(ctx, corpus, result)
    save_summary(result)
    return result


# --------------------------------------------------------------------------- multi-task


def load_task_lfs(
    cfg: PipelineConfig,
    graph: TaskGraph,
    lfs: list[LabelingFunction] | Mapping[str, Sequence[LabelingFunction]] | None,
) -> tuple[list[LabelingFunction], tuple[int, ...]]:
    """Every task's LFs in task order, and the task each votes (``lfs.exclude`` applies to all
    of them: every excluded name must exist in some task)."""
    if lfs is not None and not isinstance(lfs, Mapping):
        raise DataError(
            "a multi-task run needs its LFs per task: pass lfs={task name: [LFs]} (or omit lfs "
            "and list modules in tasks[i].lfs)"
        )
    out: list[LabelingFunction] = []
    tasks: list[int] = []
    for spec in cfg.tasks.tasks:
        name = str(spec["name"])
        if lfs is not None:
            got = list(lfs.get(name, []))
        else:
            mods = spec.get("lfs") or []
            got = load_lfs([mods] if isinstance(mods, str) else list(mods)) if mods else []
        out += got
        tasks += [graph.index(name)] * len(got)
    if lfs is not None and set(lfs) - set(graph.names):
        raise DataError(f"LFs given for unknown task(s) {sorted(set(lfs) - set(graph.names))}; "
                        f"tasks: {list(graph.names)}")  # fmt: skip
    exclude = set(cfg.lfs.exclude)
    missing = sorted(exclude - {lf.name for lf in out})
    if missing:
        raise DataError(f"lfs.exclude names LF(s) {missing} that no task has")
    keep = [i for i, lf in enumerate(out) if lf.name not in exclude]
    if not keep:
        raise DataError("no LFs left to run (every task's LF list is empty after lfs.exclude)")
    return [out[i] for i in keep], tuple(tasks[i] for i in keep)


def _run_multitask_stages(ctx: RunContext) -> PipelineResult:
    """The stages of a multi-task run: votes, multi-task statistics, the multi-task label model,
    per-task metrics, labels with one probability column per task."""
    cfg, spark, lfset, graph = ctx.cfg, ctx.spark, ctx.lfset, ctx.graph
    assert graph is not None
    corpus = load_corpus(ctx)
    with ctx.stage("apply LFs + write votes"):
        votes_out = votes_writer(spark, cfg.output.writer).write(ctx, corpus)
    if votes_out.lf_errors:
        logger.warning("LF failures counted as abstains: %s", votes_out.lf_errors)
    votes = read_table(spark, ctx.layout.votes, version=votes_out.version)
    votes = votes.where(F.col("run_id") == ctx.run_id)
    with ctx.stage("LF statistics"):
        template = MultiTaskStats.empty(graph, ctx.lf_tasks, lfset.names)
        stats = reduce_multitask_stats(votes, template)
    if stats.n == 0:
        raise DataError("the LFs produced no votes rows: the corpus is empty")
    lm = cfg.label_model
    with ctx.stage("fit label model"):
        model = MultiTaskLabelModel(graph, **dict(lm.params)).fit(
            stats, class_balance=None if lm.class_balance is None else list(lm.class_balance)
        )
    params = save_artifacts(ctx.layout, ctx.run_id, model, stats)
    metrics = multitask_metrics(stats, model)
    if ctx.task_gold:
        with ctx.stage("evaluate against gold"):
            gold = multitask_gold_counts(votes, model, stats.m, ctx.task_gold)
        for name, g in gold.items():
            metrics["tasks"][name]["gold"] = {**g, "gold_col": ctx.task_gold[name]}
    metrics["lf_seconds"] = [round(votes_out.lf_seconds.get(nm, 0.0), 3) for nm in lfset.names]
    meta = labels_meta(ctx, votes_out.version, "multitask_label_model", params, metrics,
                       votes_out.lf_errors)  # fmt: skip
    with ctx.stage("predict + write labels"):
        t = multitask_predict_transform(votes, model, stats.m, constants={"run_id": ctx.run_id})
        res = write_table(
            votes.select("id", VOTES_COL), ctx.layout.labels, run_id=ctx.run_id,
            mode=cfg.output.mode, metadata=meta, writer=cfg.output.writer,
            description="predict + write labels", transform=t,
        )  # fmt: skip
    result = PipelineResult(
        run_id=ctx.run_id, stats=stats, model=model, layout=ctx.layout,
        votes_version=votes_out.version, labels_version=res.version, timings=ctx.timings,
        metrics=metrics, lf_errors=votes_out.lf_errors, lf_versions=ctx.lf_versions,
    )  # fmt: skip
    if cfg.output.training_table:
        result.train_version = write_multitask_training_table(ctx, corpus, result)
    save_summary(result)
    return result


def write_multitask_training_table(ctx: RunContext, corpus: Any, result: PipelineResult) -> int:
    """``<output>/train`` of a multi-task run: id, the ``output.features`` columns, per task
    ``probs_<task>`` (null where the task does not apply) and, for tasks with a ``gold_col``,
    ``gold_<task>`` (the class index, null where unknown), ``n_votes``, ``run_id``; the commit
    records the task graph (``wsup train`` builds one head per task from it)."""
    graph = ctx.graph
    assert graph is not None
    id_col = ctx.cfg.source.id_col
    feats = _features(ctx, corpus)
    leak = [c for c in feats if c in ctx.task_gold.values()]
    if leak:
        raise DataError(f"output.features names task gold column(s) {leak}: the training table "
                        "has them as gold_<task> already; remove them from output.features")
    clash = [c for c in feats if c.startswith(("probs_", "gold_")) or c in ("n_votes", "run_id")]
    if clash:
        raise DataError(f"output.features names column(s) {clash}, which the multi-task "
                        "training table writes itself; rename them in the corpus")  # fmt: skip
    with ctx.stage("write training table"):
        gold = [gold_index_column(corpus, col, graph.task(name)).alias(f"gold_{name}")
                for name, col in ctx.task_gold.items()]  # fmt: skip
        left = corpus.select(F.col(id_col).alias("id"), *feats, *gold)
        labels = read_table(ctx.spark, ctx.layout.labels, version=result.labels_version)
        labels = labels.where(F.col("run_id") == ctx.run_id)
        probs = [f"probs_{t.name}" for t in graph.tasks]
        train = left.join(labels.select("id", *probs, "n_votes", "run_id"), on="id", how="inner")
        res = write_table(
            train, ctx.layout.train, run_id=ctx.run_id, mode=ctx.cfg.output.mode,
            metadata={"run_id": ctx.run_id, "stage": "train",
                      "labels_version": result.labels_version, "features": feats,
                      "tasks": graph.to_dict()},
            writer=ctx.cfg.output.writer, description="write training table",
        )  # fmt: skip
    return res.version


def multitask_metrics(stats: MultiTaskStats, model: MultiTaskLabelModel) -> dict[str, Any]:
    """Per-task metrics of a multi-task run (no gold): the task's LFs, coverage, overlap and
    conflict rates, learned accuracies, and the model's fit report."""
    graph = stats.graph
    n = max(stats.n, 1)
    acc = model.accuracies
    tasks: dict[str, Any] = {}
    for j, t in enumerate(graph.tasks):
        lfs = stats.task_lfs(j)
        names = [stats.lf_names[i] for i in lfs] if stats.lf_names else lfs.tolist()
        tasks[t.name] = {
            "lfs": names, "cardinality": t.cardinality,
            "coverage": float(stats.n_covered[j]) / n, "overlap": float(stats.n_overlap[j]) / n,
            "conflict": float(stats.n_conflict[j]) / n,
            "lf_accuracy_learned": nan_to_none(acc[lfs]),
            "cross_task_conflicts": {graph.tasks[u].name: int(stats.conflicts[lfs, u].sum())
                                     for u in range(len(graph.tasks)) if u != j},
        }  # fmt: skip
    return {"n_rows": stats.n, "tasks": tasks, "fit_info": json.loads(json.dumps(
        model.fit_info, default=str))}  # fmt: skip
