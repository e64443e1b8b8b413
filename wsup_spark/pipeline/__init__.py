"""The labeling pipeline: corpus → LF votes → LF statistics → label model → labels in Delta.

This package is the only place that crosses layers. :func:`run_pipeline` first refuses an unsafe
output path (:func:`~wsup_spark.run.guard.check_output_path`) and claims the output path in the
run manifest (:class:`~wsup_spark.run.manifest.RunManifest`: one run at a time), then runs the
stages in order, each a short function of :mod:`wsup_spark.pipeline.stages`, and last commits
the manifest entry naming the table versions that form the run (on failure it records an
abort, releasing the claim):

1. :func:`load_corpus` — read the source (and refuse an empty one before anything is written).
2. :func:`write_votes` — apply the LFs on Spark and write the votes table (Delta); returns the
   LF statistics. How depends on the writer, chosen once per run (:func:`votes_writer`):
   with the delta-rs writer the LFs run inside the write tasks (one Python stage) and a tap on the
   write returns, per committed task, the statistics partial and the task's exact LF failure
   counts and timings (:class:`FusedVotesWriter`); with Spark's Delta writer, a ``mapInArrow``
   with accumulators and a second pass for the statistics (:class:`SparkVotesWriter`).
3. :func:`fit_model` — fit the label model on the driver from the statistics alone.
4. :func:`evaluate` — gold accuracy/F1 when the corpus has a gold column (distributed reduction).
5. :func:`write_labels` — predict on Spark from the committed votes (fused into the write tasks)
   and write the labels table with the model parameters, LF names and metrics in the commit.
6. :func:`write_training_table` — ``<output>/train``: features + probabilistic labels.

With a ``tasks`` section (multi-task supervision) the run takes the multi-task stages
instead: the same votes write, then :class:`~wsup_spark.labelmodel.multitask.MultiTaskStats` by
one reduction over the votes, the multi-task label model, per-task gold accuracy (tasks with a
``gold_col``), and a labels table with one probability column per task (null where the task does
not apply), the task structure and per-task metrics in its commit.

With ``incremental.enabled`` (``wsup run --incremental``) the run builds on the last committed
run of the output path instead: :func:`~wsup_spark.pipeline.incremental.run_incremental_stages`
applies only new or changed LFs, and every LF to new rows only.

Paths come from :class:`~wsup_spark.run.layout.RunLayout`; the run's result and artifacts from
:mod:`wsup_spark.run`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from wsup_spark.config import PipelineConfig, embedding_settings, task_graph_of
from wsup_spark.errors import DataError
from wsup_spark.io.delta_rs import sweep_orphans
from wsup_spark.io.sources import check_source_path
from wsup_spark.labelmodel.base import label_model_class
from wsup_spark.lf.base import LabelingFunction, LFSet
from wsup_spark.lf.loading import load_lfs
from wsup_spark.pipeline.incremental import run_incremental_stages
from wsup_spark.pipeline.stages import RunContext, load_task_lfs, run_stages
from wsup_spark.run.guard import check_output_path
from wsup_spark.run.layout import RunLayout, default_run_id
from wsup_spark.run.manifest import RunManifest
from wsup_spark.run.result import PipelineResult
from wsup_spark.spark.session import get_or_create_session
from wsup_spark.stats.lfstats import LFStats
from wsup_spark.tasks import TaskGraph

__all__ = ["PipelineResult", "default_run_id", "run_pipeline"]

logger = logging.getLogger(__name__)


def check_encoder_available(cfg: PipelineConfig) -> None:
    """When the run writes embeddings (``output.embedding`` with a training table): torch,
    sentence-transformers and the model folder (the shipped MiniLM or a local path) are there.
    Raises ImportError naming the ``text`` extra, or ConfigError for a model that is not a local
    folder; imports no model. Nothing to check otherwise."""
    import importlib.util

    emb = embedding_settings(cfg.output)
    if not emb or not cfg.output.training_table:
        return
    hint = 'pip install "wsup-spark[text]"'
    missing = [m for m in ("torch", "sentence_transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"output.embedding needs {missing} (the text extra: {hint}); or set "
                          "output.embedding: null")  # fmt: skip
    from wsup_spark.endmodel.encoders import resolve_model_path

    resolve_model_path(emb["model"])


def run_pipeline(
    cfg: PipelineConfig,
    spark: Any = None,
    lfs: list[LabelingFunction] | Mapping[str, Sequence[LabelingFunction]] | None = None,
) -> PipelineResult:
    """Run every stage of the labeling pipeline and return a small result object.

    Parameters
    ----------
    cfg : PipelineConfig
        The configuration (see ``conf/demo.yaml``).
    spark : SparkSession, optional
        Used as is when given; otherwise the active session or a new local one.
    lfs : list of LabelingFunction, optional
        Overrides ``cfg.lfs.modules`` (notebooks pass LF objects directly); with a ``tasks``
        section, a mapping task name -> that task's LFs overrides the tasks' ``lfs``.
    """
    check_source_path(cfg.source)  # cheap checks first: Spark would print pages of Java
    layout = RunLayout.at(cfg.output.path)
    sources = [cfg.source.path] if cfg.source.path and cfg.source.format != "demo" else []
    check_output_path(layout, sources, cfg.output.allow_non_empty)
    check_encoder_available(cfg)  # before any table is written, not at the last stage
    graph: TaskGraph | None = None
    lf_tasks: tuple[int, ...] = ()
    if cfg.tasks.tasks:
        graph = task_graph_of(cfg.tasks)
        loaded, lf_tasks = load_task_lfs(cfg, graph, lfs)
        lfset = LFSet.of(loaded, max(graph.cardinalities))
    else:
        if isinstance(lfs, Mapping):
            raise DataError("LFs per task (a mapping) need a tasks section in the config")
        lfset = LFSet.of(lfs if lfs is not None else load_lfs(cfg.lfs.modules, cfg.lfs.exclude),
                         cfg.lfs.cardinality)  # fmt: skip
    patterns = graph is None and label_model_class(cfg.label_model.kind).needs_patterns
    if spark is None:
        spark = get_or_create_session(cfg.spark.master, cfg.spark.app_name, cfg.spark.conf,
                                      remote=cfg.spark.remote)
    ctx = RunContext(
        cfg=cfg, spark=spark, run_id=cfg.run_id or default_run_id(), lfset=lfset,
        layout=layout, has_gold=bool(cfg.source.gold_col),
        template=LFStats.empty(lfset.m, lfset.k, lfset.names, patterns=patterns),
        graph=graph, lf_tasks=lf_tasks,
        task_gold={str(t["name"]): str(t["gold_col"]) for t in cfg.tasks.tasks
                   if t.get("gold_col")},
    )  # fmt: skip
    logger.info("run %s: %d LFs, k=%d, output %s", ctx.run_id, lfset.m, lfset.k, ctx.layout.root)
    manifest = RunManifest(ctx.layout)
    manifest.claim(ctx.run_id)  # one run at a time per output path (ConcurrentRunError)
    try:
        for table in (ctx.layout.votes, ctx.layout.labels, ctx.layout.train):
            sweep_orphans(table)  # files of crashed earlier drivers (we hold the claim)
        result = (run_incremental_stages(ctx) if cfg.incremental.enabled else run_stages(ctx))
    except BaseException as e:
        manifest.abort(ctx.run_id, f"{type(e).__name__}: {e}")
        raise
    manifest.commit(
        ctx.run_id, result.votes_version, result.labels_version, result.train_version,
        mode=cfg.output.mode, lf_set_hash=lfset.hash,
    )  # fmt: skip
    return result
