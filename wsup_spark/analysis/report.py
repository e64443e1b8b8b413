"""The LF analysis report: collect the numbers (distributed), draw the plots, write one HTML file.

Entry points:

* :func:`write_report` — after :func:`~wsup_spark.pipeline.run_pipeline`: ``write_report(result,
  spark)`` writes ``<output>/report.html`` (next to the labels table; a copy goes to the run's
  artifacts folder) and returns its path.
* :func:`analyze` — ``wsup analyze``: the report of the latest run in ``output.path``, rebuilt by
  :func:`~wsup_spark.run.store.load_run` from the tables and artifacts the run left behind.
* :func:`collect_report_data` / :func:`~wsup_spark.analysis.html.render_html` — the two halves.

Every number comes from the LF statistics (d×d), the label model's parameters, and two
distributed reductions (:mod:`wsup_spark.analysis.diagnostics`): nothing n-sized reaches the driver.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from wsup_spark.analysis.diagnostics import DEFAULT_BINS, ConfidenceHistogram, GoldDiagnostics
from wsup_spark.analysis.html import PLOT_STEPS, learned_dependencies, render_html
from wsup_spark.analysis.multitask_report import (
    MultiTaskReportData,
    collect_multitask_report_data,
    format_multitask_report,
    render_multitask_html,
)
from wsup_spark.analysis.progress import Progress
from wsup_spark.analysis.reductions import confidence_histogram, gold_diagnostics
from wsup_spark.analysis.report_data import ReportData
from wsup_spark.analysis.summary import (
    corpus_summary,
    f1_label,
    format_balance_line,
    format_lf_table,
    lf_pair_matrices,
    lf_summary_rows,
)
from wsup_spark.config import PipelineConfig
from wsup_spark.errors import ConfigError, DataError
from wsup_spark.io.delta import read_table
from wsup_spark.io.files import write_bytes
from wsup_spark.json_values import nan_to_none
from wsup_spark.labelmodel.baselines import MajorityVote
from wsup_spark.lf.base import LabelingFunction
from wsup_spark.lf.loading import load_lfs
from wsup_spark.run.layout import REPORT_FILE
from wsup_spark.run.result import PipelineResult
from wsup_spark.run.store import load_run

logger = logging.getLogger(__name__)

REPORT_NAME = REPORT_FILE
COLLECT_STEPS = 3


def _active_spark(spark: Any) -> Any:
    if spark is not None:
        return spark
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - pyspark is a dependency
        return None
    return SparkSession.getActiveSession()


def collect_report_data(
    result: PipelineResult,
    spark: Any = None,
    bins: int = DEFAULT_BINS,
    class_names: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ReportData:
    """Gather the report's numbers for a pipeline run.

    Parameters
    ----------
    result : PipelineResult
        From :func:`~wsup_spark.pipeline.run_pipeline` or :func:`load_run`.
    spark : SparkSession, optional
        Runs the two reductions (confidence histogram over the labels table, gold evaluation over
        the votes table); default: the active session. Without one, those sections are left out.
    bins : int
        Confidence bins over ``[1/k, 1]``.
    class_names : sequence of str, optional
        Display names of the k classes (default ``"0" .. "k-1"``).
    progress : Progress, optional
        Receives one step per stage (:data:`COLLECT_STEPS`).
    """
    stats, model, k = result.single_stats, result.single_model, int(result.cardinality)
    names = list(result.lf_names)
    cls = [str(c) for c in class_names] if class_names is not None else [str(a) for a in range(k)]
    if len(cls) != k:
        raise DataError(f"class_names has {len(cls)} names for cardinality {k}")
    prog = progress or Progress(COLLECT_STEPS, "report data", interactive=False)
    notes: list[str] = []

    prog.step("LF statistics")
    overlap, conflict = lf_pair_matrices(stats)
    spark = _active_spark(spark)
    histogram: ConfidenceHistogram | None = None
    gold: GoldDiagnostics | None = None
    if spark is None:
        notes.append("No Spark session: the confidence histogram and gold evaluation are omitted.")
        prog.step("confidence histogram (skipped)")
        prog.step("gold evaluation (skipped)")
    else:
        prog.step("confidence histogram (Spark)")
        labels = read_table(spark, result.labels_path, version=result.labels_version)
        histogram = confidence_histogram(labels, k, bins, run_id=result.run_id)
        prog.step("gold evaluation (Spark)")
        votes = read_table(spark, result.votes_path, version=result.votes_version)
        if "gold" in votes.columns:
            mv = MajorityVote(k).fit(stats)
            models = {"label_model": model, "majority_vote": mv}
            gold = gold_diagnostics(votes, models, stats.m, k, bins, run_id=result.run_id)
            if gold.n_gold == 0:
                notes.append("The gold column has no labels for this run's rows.")
                gold = None
        else:
            notes.append("The corpus has no gold column (source.gold_col): no empirical accuracy.")
    lf_conf = gold.lfs if gold is not None else None
    if lf_conf is None and result.metrics.get("lf_confusion") is not None:
        lf_conf = np.asarray(result.metrics["lf_confusion"], np.int64)
    rows = lf_summary_rows(stats, nan_to_none(model.accuracies), lf_conf,
                           include_confusion=True)  # fmt: skip
    versions = {v["lf"]: v for v in result.lf_versions}
    for row in rows:
        if result.lf_errors:
            row["errors"] = int(result.lf_errors.get(row["lf"], 0))
        if row["lf"] in versions:  # which code computed the column, and in which run
            row["version"] = versions[row["lf"]]["fingerprint"][:8]
            row["computed_by"] = versions[row["lf"]]["computed_by"]
    return ReportData(
        run_id=result.run_id,
        lf_names=names,
        k=k,
        class_names=cls,
        stats=stats,
        corpus=corpus_summary(stats),
        lf_rows=rows,
        overlap=overlap,
        conflict=conflict,
        label_model=model.kind or type(model).__name__,
        class_balance=model.class_balance,
        histogram=histogram,
        gold=gold,
        fit_info=dict(model.fit_info),
        notes=notes,
        tables={
            "votes": {"path": result.votes_path, "version": result.votes_version},
            "labels": {"path": result.labels_path, "version": result.labels_version},
            "artifacts": {"path": result.artifacts_path, "version": None},
        },
    )


def default_report_path(result: PipelineResult) -> str:
    """``<output>/report.html``: next to the labels table."""
    return result.layout.report


def write_report(
    result: PipelineResult,
    spark: Any = None,
    path: str | None = None,
    bins: int = DEFAULT_BINS,
    class_names: Sequence[str] | None = None,
) -> str:
    """Write the self-contained HTML report of a run and return its path.

    Parameters
    ----------
    result : PipelineResult
        The run (from ``run_pipeline`` or :func:`load_run`).
    spark : SparkSession, optional
        Default: the active session.
    path : str, optional
        Where to write (local path or any pyarrow filesystem URI); default
        :func:`default_report_path`. A copy always goes to ``<artifacts>/report.html``.
    bins : int
        Confidence bins.
    class_names : sequence of str, optional
        Display names of the classes.
    """
    return write_report_data(result, spark, path, bins, class_names)[1]


def write_report_data(
    result: PipelineResult,
    spark: Any = None,
    path: str | None = None,
    bins: int = DEFAULT_BINS,
    class_names: Sequence[str] | None = None,
    notes: Sequence[str] = (),
) -> tuple[ReportData | MultiTaskReportData, str]:
    """:func:`write_report`, also returning the :class:`ReportData` it rendered; ``notes`` are
    shown at the top of the report. A multi-task run gets the multi-task report
    (:mod:`~wsup_spark.analysis.multitask_report`: an LF table per task, per-task gold accuracy,
    cross-task conflicts; ``class_names`` come from each task, ``bins`` is not used) and its
    :class:`MultiTaskReportData`."""
    path = path or default_report_path(result)
    targets = [path, result.layout.artifact(result.run_id, REPORT_FILE)]
    if result.is_multitask:
        mdata = collect_multitask_report_data(result, spark)
        mdata.notes.extend(notes)
        page = render_multitask_html(mdata)
        for target in targets:
            write_bytes(target, page.encode("utf-8"))
        logger.info("report written to %s", path)
        return mdata, path
    with Progress(COLLECT_STEPS + PLOT_STEPS + 1, "report") as progress:
        data = collect_report_data(result, spark, bins, class_names, progress)
        data.notes.extend(notes)
        page = render_html(data, progress)
        progress.step("write")
        for target in targets:
            write_bytes(target, page.encode("utf-8"))
    logger.info("report written to %s", path)
    return data, path


def analyze(
    cfg: PipelineConfig,
    spark: Any = None,
    run_id: str | None = None,
    path: str | None = None,
    bins: int = DEFAULT_BINS,
) -> tuple[ReportData | MultiTaskReportData, str]:
    """``wsup analyze``: report on the latest run written to ``cfg.output.path``.

    Warns (and notes in the report) when the configured LFs differ from the run's.
    """
    result = load_run(cfg.output.path, run_id)
    note = None
    try:
        lfs = configured_lfs(cfg)
        if [lf.name for lf in lfs] != list(result.lf_names):
            note = (
                f"The configured LFs {[lf.name for lf in lfs]} differ from run "
                f"{result.run_id}'s LFs; rerun `wsup run` to analyze the current LFs."
            )
    except Exception as e:  # analysis of stored tables works without the LF code
        logger.warning("could not load the configured LFs (%s); reporting on stored tables", e)
    if note:
        logger.warning(note)
    return write_report_data(result, spark, path, bins, cfg.lfs.class_names,
                             notes=[note] if note else [])  # fmt: skip


def configured_lfs(cfg: PipelineConfig) -> list[LabelingFunction]:
    """The config's LFs in vote order: ``lfs.modules``, or with a ``tasks`` section every task's
    LFs in task order (``lfs.exclude`` applies to all)."""
    if not cfg.tasks.tasks:
        return load_lfs(cfg.lfs.modules, cfg.lfs.exclude)
    out: list[LabelingFunction] = []
    for spec in cfg.tasks.tasks:
        mods = spec.get("lfs") or []
        out += load_lfs([mods] if isinstance(mods, str) else list(mods)) if mods else []
    exclude = set(cfg.lfs.exclude)
    missing = sorted(exclude - {lf.name for lf in out})
    if missing:
        raise ConfigError(f"lfs.exclude names LF(s) {missing} that no task has")
    return [lf for lf in out if lf.name not in exclude]


def format_report_summary(data: ReportData | MultiTaskReportData, path: str | None = None) -> str:
    """Plain-text summary for the terminal: LF table, corpus line, label model vs majority vote
    (a multi-task run: :func:`format_multitask_report`)."""
    if isinstance(data, MultiTaskReportData):
        return format_multitask_report(data, path)
    c = data.corpus
    lines = [
        f"run {data.run_id}: {c.n:,} rows, {len(data.lf_names)} LFs, k={data.k}, "
        f"label model: {data.label_model}"
    ]
    lines += ["  " + line for line in format_lf_table(data.lf_rows, data.class_names).splitlines()]
    lines.append(
        f"  coverage {c.coverage:.3f}  overlap {c.overlap:.3f}  conflict {c.conflict:.3f}"
        f"  no votes {c.no_votes:.3f}"
    )
    if data.class_balance is not None:
        lines.append(format_balance_line(data.class_names, data.class_balance, data.fit_info))
    if data.histogram is not None:
        lines.append(f"  mean confidence {data.histogram.mean_confidence:.3f}")
    g = data.gold
    if g is not None:
        acc = {m: g.accuracy(m) for m in g.models}
        lines.append(
            f"  gold rows {g.n_gold:,}: accuracy label model {acc['label_model']:.4f} vs "
            f"majority vote {acc['majority_vote']:.4f}; ECE {g.ece('label_model'):.3f}"
        )
        f1 = g.f1 if data.k == 2 else g.macro_f1
        lines.append(
            f"  {f1_label(data.class_names) if data.k == 2 else 'macro F1'}: label model "
            f"{f1('label_model'):.4f} vs majority vote {f1('majority_vote'):.4f}"
        )
    if isinstance(data.fit_info.get("learned_dependencies"), dict):
        pairs = learned_dependencies(data)
        lines.append("  learned LF dependencies: " + (", ".join(
            f"{p['a']} ~ {p['b']} (z {p['score']:.1f})" for p in pairs) or "none"))  # fmt: skip
    lines += [f"  note: {n}" for n in data.notes]
    if path:
        lines.append(f"  report: {path}")
    return "\n".join(lines)
