"""The labeling pipeline: corpus → LF votes → LF statistics → label model → labels in Delta.

This module is the only place that crosses layers. Stages:

1. **apply LFs** on Spark and **write the votes table** (Delta). With the delta-rs writer the LFs
   run inside the write tasks (one Python stage) and a tap on the write returns, per committed
   task, the LF statistics partial (when the partials are small; otherwise a tree reduction over
   the votes table computes them) and the task's exact LF failure counts and timings. With
   Spark's Delta writer: ``mapInArrow``, accumulators and a second pass for the statistics.
2. **fit** the label model on the driver from the statistics alone (cost independent of n).
3. **predict** on Spark from the committed votes table (broadcast model; fused into the write
   tasks like step 1) and **write the labels table** (Delta) with the model parameters, LF names
   and metrics in the commit metadata.
4. **evaluate** against gold labels when the corpus has a gold column (distributed reduction).
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from wsup_spark.core.config import PipelineConfig
from wsup_spark.core.errors import DataError
from wsup_spark.core.lf import LabelingFunction, lf_set_hash
from wsup_spark.core.loading import load_lfs
from wsup_spark.labelmodel.stats import LFStats

logger = logging.getLogger(__name__)

MAX_PARAMS_IN_COMMIT = 512 * 1024  # bytes of JSON; larger params are referenced by path only


@dataclass
class PipelineResult:
    """What a run produced (driver-side, small)."""

    run_id: str
    lf_names: list[str]
    cardinality: int
    stats: LFStats
    model: Any
    votes_path: str
    labels_path: str
    votes_version: int
    labels_version: int
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    lf_errors: dict[str, int] = field(default_factory=dict)
    artifacts_path: str | None = None
    train_path: str | None = None
    train_version: int | None = None

    @property
    def n_rows(self) -> int:
        """Rows labeled."""
        return self.stats.n


@contextmanager
def _stage(spark: Any, name: str, timings: dict[str, float]) -> Iterator[None]:
    sc = spark.sparkContext
    sc.setJobGroup(name, name)
    logger.info("stage %s: start", name)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - t0
        sc.setJobDescription(None)
        logger.info("stage %s: %.2f s", name, timings[name])


def default_run_id() -> str:
    """``YYYYmmddTHHMMSSZ-xxxxxx``: sortable and unique."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


def build_label_model(cfg: PipelineConfig) -> Any:
    """The configured label model (unfitted)."""
    from wsup_spark.labelmodel import LabelModel, MajorityVote

    k = int(cfg.lfs.cardinality)
    if cfg.label_model.kind == "majority_vote":
        return MajorityVote(k)
    if cfg.label_model.kind == "dawid_skene":
        from wsup_spark.labelmodel import DawidSkene

        return DawidSkene(k, **dict(cfg.label_model.params))
    return LabelModel(k, **dict(cfg.label_model.params))


def fit_label_model(model: Any, stats: LFStats, cfg: PipelineConfig) -> Any:
    """Fit on the driver from statistics only."""
    cb = cfg.label_model.class_balance
    return model.fit(
        stats,
        class_balance=None if cb is None else np.asarray(cb, dtype=float),
        seed=int(cfg.label_model.seed),
    )


def _stats_via_tap(m: int, k: int, partitions: int) -> bool:
    from wsup_spark.spark.stats import DRIVER_MERGE_MAX_BYTES

    return partitions * (m * k) ** 2 * 8 <= DRIVER_MERGE_MAX_BYTES


def run_pipeline(
    cfg: PipelineConfig, spark: Any = None, lfs: list[LabelingFunction] | None = None
) -> PipelineResult:
    """Run every stage of the labeling pipeline and return a small result object.

    Parameters
    ----------
    cfg : PipelineConfig
        The configuration (see ``conf/demo.yaml``).
    spark : SparkSession, optional
        Used as is when given; otherwise the active session or a new local one.
    lfs : list of LabelingFunction, optional
        Overrides ``cfg.lfs.modules`` (notebooks pass LF objects directly).
    """
    from wsup_spark.analysis.diagnostics import gold_diagnostics
    from wsup_spark.io.delta import read_table, resolve_writer, write_table
    from wsup_spark.labelmodel import MajorityVote
    from wsup_spark.spark.apply import VOTES_COL, LFErrorCounter, apply_transform
    from wsup_spark.spark.predict import predict_transform
    from wsup_spark.spark.session import get_or_create_session
    from wsup_spark.spark.sources import GOLD_COL, load_source
    from wsup_spark.spark.stats import VotesTap, compute_stats, merge_partials

    if spark is None:
        spark = get_or_create_session(cfg.spark.master, cfg.spark.app_name, cfg.spark.conf)
    run_id = cfg.run_id or default_run_id()
    k = int(cfg.lfs.cardinality)
    lfs = lfs if lfs is not None else load_lfs(cfg.lfs.modules, cfg.lfs.exclude)
    names = [lf.name for lf in lfs]
    m = len(lfs)
    out = cfg.output.path.rstrip("/")
    votes_path, labels_path = f"{out}/votes", f"{out}/labels"
    timings: dict[str, float] = {}
    logger.info("run %s: %d LFs, k=%d, output %s", run_id, m, k, out)

    corpus = load_source(spark, cfg.source)
    has_gold = bool(cfg.source.gold_col)  # load_source exposed it as the int column GOLD_COL
    if cfg.source.format != "demo":  # the demo's size is its config (validated >= 1)
        with _stage(spark, "check corpus", timings):
            if corpus.isEmpty():
                raise DataError(
                    f"the corpus ({cfg.source.format} {cfg.source.path or ''}) has no rows; "
                    "nothing was written. Check source.path / filters"
                )

    set_hash = lf_set_hash(lfs)
    use_tap = _stats_via_tap(m, k, corpus.rdd.getNumPartitions())
    patterns = cfg.label_model.kind == "dawid_skene"  # row-level EM needs the vote patterns
    # delta-rs writer: the LFs run inside the votes write tasks, whose taps carry the LF
    # statistics and each committed task's exact LF failure counts and timings. Spark's Delta
    # writer (Databricks, clusters with the Delta jars) takes no taps: a plain mapInArrow with
    # accumulators, and statistics by a second pass over the votes table.
    fused = resolve_writer(spark, cfg.output.writer) == "delta-rs"
    counters = None if fused else (LFErrorCounter(spark), LFErrorCounter(spark))
    src, apply_t = apply_transform(
        corpus, lfs, cfg.source.id_col, k, on_error=cfg.lfs.on_error,
        carry=[GOLD_COL] if has_gold else [], max_ms_per_row=cfg.lfs.max_ms_per_row,
        constants={"lf_set_hash": set_hash, "run_id": run_id}, report=fused,
        error_counter=counters[0] if counters else None,
        time_counter=counters[1] if counters else None,
    )  # fmt: skip
    from pyspark.sql import functions as F

    common_meta = {
        "run_id": run_id,
        "lf_names": names,
        "lf_fingerprints": [lf.fingerprint for lf in lfs],
        "lf_set_hash": set_hash,
        "cardinality": k,
    }
    with _stage(spark, "apply LFs + write votes", timings):
        votes_res = write_table(
            src if fused else src.mapInArrow(apply_t.fn, apply_t.schema), votes_path,
            run_id=run_id, mode=cfg.output.mode, metadata={**common_meta, "stage": "votes"},
            writer=cfg.output.writer, description="apply LFs + write votes",
            transform=apply_t if fused else None,
            tap_factory=functools.partial(VotesTap, m, k, names, stats=use_tap,
                                          patterns=patterns) if fused else None,
        )  # fmt: skip
    if counters is None:  # fused: exact per committed task
        lf_errors, lf_secs, stats_parts = VotesTap.combine(votes_res.taps or [])
    else:
        lf_errors, lf_secs, stats_parts = counters[0].value, counters[1].value, []
    if lf_errors:
        logger.warning("LF failures counted as abstains: %s", lf_errors)
    with _stage(spark, "LF statistics", timings):
        if fused and use_tap:
            stats = merge_partials(stats_parts, m, k, names, patterns=patterns)
        else:
            votes_tbl = read_table(spark, votes_path, version=votes_res.version)
            stats = compute_stats(votes_tbl.where(F.col("run_id") == run_id), m, k, names,
                                  patterns=patterns)  # fmt: skip
    if stats.n == 0:
        raise DataError("the LFs produced no votes rows: the corpus is empty")

    with _stage(spark, "fit label model", timings):
        model = fit_label_model(build_label_model(cfg), stats, cfg)
        mv = MajorityVote(k).fit(stats)

    artifacts = f"{out}/_runs/{run_id}"
    params = model.to_dict() if hasattr(model, "to_dict") else {}
    params_json = json.dumps(params)
    _write_artifacts(artifacts, {"label_model.json": params_json.encode(),
                                 "lf_stats.npz": stats.to_bytes()})  # fmt: skip

    votes_tbl = read_table(spark, votes_path, version=votes_res.version)
    if cfg.output.mode == "append":  # the table also holds earlier runs' rows
        votes_tbl = votes_tbl.where(F.col("run_id") == run_id)
    metrics: dict[str, Any] = {}
    if has_gold:
        with _stage(spark, "evaluate against gold", timings):
            ev = gold_diagnostics(votes_tbl, {"label_model": model, "majority_vote": mv}, m, k)
        metrics = {
            "n_gold": ev.n_gold,
            "accuracy": {nm: ev.accuracy(nm) for nm in ev.models},
            "f1": {nm: ev.f1(nm) for nm in ev.models} if k == 2 else {},
            "lf_accuracy_gold": _nan_to_none(
                np.trace(ev.lfs, axis1=1, axis2=2)
                / np.where(ev.lfs.sum((1, 2)) > 0, ev.lfs.sum((1, 2)), np.nan)
            ),
            "lf_confusion": ev.lfs.tolist(),
        }
    metrics["lf_seconds"] = [round(lf_secs.get(nm, 0.0), 3) for nm in names]
    metrics["model_warnings"] = list(getattr(model, "warnings", []))
    metrics["lf_accuracy_learned"] = _nan_to_none(getattr(model, "accuracies", None))
    metrics["coverage"] = stats.coverage.tolist()
    metrics["n_rows"] = stats.n
    metrics["n_covered"] = stats.n_covered

    labels_meta = {
        **common_meta,
        "stage": "labels",
        "votes_version": votes_res.version,
        "label_model": cfg.label_model.kind,
        "label_model_params": params if len(params_json) <= MAX_PARAMS_IN_COMMIT else None,
        "artifacts": artifacts,
        "metrics": {k_: v for k_, v in metrics.items() if k_ != "lf_confusion"},
        "lf_errors": lf_errors,
    }
    with _stage(spark, "predict + write labels", timings):
        # prediction runs inside the write tasks (one Python stage; see io.base.BatchTransform)
        predict_t = predict_transform(votes_tbl, model, m, constants={"run_id": run_id})
        labels_res = write_table(votes_tbl.select("id", VOTES_COL), labels_path, run_id=run_id,
                                 mode=cfg.output.mode, metadata=labels_meta,
                                 writer=cfg.output.writer, description="predict + write labels",
                                 transform=predict_t)  # fmt: skip

    result = PipelineResult(
        run_id=run_id, lf_names=names, cardinality=k, stats=stats, model=model,
        votes_path=votes_path, labels_path=labels_path, votes_version=votes_res.version,
        labels_version=labels_res.version, timings=timings, metrics=metrics, lf_errors=lf_errors,
        artifacts_path=artifacts,
    )  # fmt: skip
    if cfg.output.training_table:
        with _stage(spark, "write training table", timings):
            _write_training_table(spark, cfg, corpus, result, has_gold)
    _write_artifacts(artifacts, {"summary.json": json.dumps(summary_dict(result)).encode()})
    return result


def _write_training_table(
    spark: Any, cfg: PipelineConfig, corpus: Any, result: PipelineResult, has_gold: bool
) -> None:
    """``<output>/train``: id, feature columns, probs, n_votes, gold — one table to stream."""
    from wsup_spark.io.delta import read_table, write_table
    from wsup_spark.spark.sources import GOLD_COL

    id_col = cfg.source.id_col
    feats = list(cfg.output.features)
    missing = [c for c in feats if c not in corpus.columns]
    if missing:
        raise DataError(
            f"output.features names column(s) {missing} not in the corpus; columns are "
            f"{corpus.columns}"
        )
    cols = [id_col, *feats] + ([GOLD_COL] if has_gold else [])
    left = corpus.select(*cols).withColumnRenamed(id_col, "id")
    labels = read_table(spark, result.labels_path, version=result.labels_version)
    train = left.join(labels.select("id", "probs", "n_votes"), on="id", how="inner")
    path = f"{cfg.output.path.rstrip('/')}/train"
    res = write_table(train, path, run_id=result.run_id, mode=cfg.output.mode,
                      metadata={"run_id": result.run_id, "stage": "train",
                                "labels_version": result.labels_version,
                                "features": feats, "cardinality": result.cardinality},
                      writer=cfg.output.writer, description="write training table")  # fmt: skip
    result.train_path, result.train_version = path, res.version


def _nan_to_none(a: Any) -> list[float | None] | None:
    if a is None:
        return None
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, dtype=float)]


def _write_artifacts(base: str, files: dict[str, bytes]) -> None:
    """Write small run artifacts (JSON/npz) next to the tables; any pyarrow filesystem URI."""
    from pyarrow import fs as pafs

    filesystem, root = pafs.FileSystem.from_uri(_as_uri(base))
    filesystem.create_dir(root, recursive=True)
    for name, data in files.items():
        with filesystem.open_output_stream(f"{root}/{name}") as f:
            f.write(data)


def _as_uri(path: str) -> str:
    import os

    return path if "://" in path else "file://" + os.path.abspath(path)


def summary_dict(r: PipelineResult) -> dict[str, Any]:
    """JSON-able summary of a run (written to ``_runs/<run_id>/summary.json``)."""
    return {
        "run_id": r.run_id,
        "n_rows": r.n_rows,
        "lf_names": r.lf_names,
        "votes": {"path": r.votes_path, "version": r.votes_version},
        "labels": {"path": r.labels_path, "version": r.labels_version},
        "train": {"path": r.train_path, "version": r.train_version} if r.train_path else None,
        "timings_s": r.timings,
        "metrics": {k: v for k, v in r.metrics.items() if k != "lf_confusion"},
        "lf_errors": r.lf_errors,
    }


def format_summary(r: PipelineResult) -> str:
    """Human-readable end-of-run summary."""
    lines = [f"run {r.run_id}: {r.n_rows:,} rows, {len(r.lf_names)} LFs, k={r.cardinality}"]
    from wsup_spark.analysis.summary import format_lf_table, lf_summary_rows

    conf = r.metrics.get("lf_confusion")
    rows = lf_summary_rows(r.stats, r.metrics.get("lf_accuracy_learned"),
                           np.asarray(conf) if conf is not None else None)  # fmt: skip
    secs = r.metrics.get("lf_seconds") or [None] * len(rows)
    for row, sec in zip(rows, secs, strict=True):
        row["errors"] = r.lf_errors.get(row["lf"], 0)
        row["task_s"] = sec
    lines += ["  " + line for line in format_lf_table(rows).splitlines()]
    lines.append(f"  rows with >=1 vote: {r.stats.n_covered / max(r.n_rows, 1):.3f}")
    acc = r.metrics.get("accuracy")
    if acc:
        lines.append(
            f"  accuracy on {r.metrics['n_gold']:,} gold rows: label model "
            f"{acc['label_model']:.4f} vs majority vote {acc['majority_vote']:.4f}"
        )
        f1 = r.metrics.get("f1") or {}
        if f1:
            lines.append(
                f"  F1 (class 1): label model {f1['label_model']:.4f} vs majority vote "
                f"{f1['majority_vote']:.4f}"
            )
    for w in r.metrics.get("model_warnings") or []:
        lines.append(f"  warning: {w}")
    lines.append(f"  votes table : {r.votes_path} (version {r.votes_version})")
    lines.append(f"  labels table: {r.labels_path} (version {r.labels_version})")
    if r.train_path:
        lines.append(f"  train table : {r.train_path} (version {r.train_version})")
    lines.append("  wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()))
    return "\n".join(lines)
