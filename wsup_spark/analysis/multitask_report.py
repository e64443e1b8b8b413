"""The LF analysis report of a multi-task run: one LF table per task, per-task gold accuracy, and
the conflicts between tasks' LFs.

A multi-task run (a config with ``tasks:``) holds
:class:`~wsup_spark.labelmodel.multitask.MultiTaskStats` and a
:class:`~wsup_spark.labelmodel.multitask.MultiTaskLabelModel`. Every number here comes from those
(d×d) and the run's metrics (per-task gold confusion counts, computed by the run's distributed
reduction over the votes): building the report reads no table and needs no Spark session.

* :func:`collect_multitask_report_data` → :class:`MultiTaskReportData` (one :class:`TaskReport`
  per task);
* :func:`render_multitask_html` — the self-contained HTML page;
* :func:`format_multitask_report` / :func:`format_multitask_summary` — the terminal text of
  ``wsup analyze`` and ``wsup run``.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from wsup_spark.analysis import plots
from wsup_spark.analysis.html import _CSS, _SORT_JS, lf_table_html
from wsup_spark.analysis.summary import format_lf_table, format_run_footer, lf_summary_rows
from wsup_spark.json_values import jsonable, nan_to_none
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats
from wsup_spark.run.result import PipelineResult

__all__ = [
    "MultiTaskReportData",
    "TaskReport",
    "collect_multitask_report_data",
    "format_multitask_report",
    "format_multitask_summary",
    "render_multitask_html",
]


@dataclass
class TaskReport:
    """One task's part of the report.

    Attributes
    ----------
    name, k, class_names, parent, active_when
        The task (``active_when``: the parent's class names under which it applies).
    lf_rows : list of dict
        One row per LF of this task (:func:`~wsup_spark.analysis.summary.lf_summary_rows` of the
        task's own statistics: coverage, overlaps and conflicts with the task's other LFs,
        learned accuracy) plus ``conflicts_<task>``: the fraction of rows where an LF of that
        other task votes a value inconsistent with this LF's vote.
    coverage, overlap, conflict : float
        Fractions of all rows with ≥ 1 vote of this task, ≥ 2 votes, ≥ 2 different values.
    class_balance : (k,) float
        The model's P(Y_t = a | the task applies).
    cross_task_conflicts : dict other task -> int
        Σ over this task's LFs of the rows where an LF of the other task contradicts it.
    gold : dict or None
        ``{"n_gold", "accuracy", "predicted_na", "confusion"}`` (confusion: (k, k + 1), gold
        rows × predicted value, the last column "predicted N/A") when the task has a gold column.
    """

    name: str
    k: int
    class_names: list[str]
    parent: str | None
    active_when: list[str] | None
    lf_rows: list[dict[str, Any]]
    coverage: float
    overlap: float
    conflict: float
    class_balance: np.ndarray
    cross_task_conflicts: dict[str, int]
    gold: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able numbers of this task."""
        return {
            "name": self.name, "cardinality": self.k, "class_names": self.class_names,
            "parent": self.parent, "active_when": self.active_when, "lfs": self.lf_rows,
            "coverage": self.coverage, "overlap": self.overlap, "conflict": self.conflict,
            "class_balance": self.class_balance.tolist(),
            "cross_task_conflicts": self.cross_task_conflicts, "gold": self.gold,
        }  # fmt: skip


@dataclass
class MultiTaskReportData:
    """Everything the multi-task report shows (driver-side, small)."""

    run_id: str
    n: int
    lf_names: list[str]
    tasks: list[TaskReport]
    cross_conflicts: np.ndarray  # (T, T): rows-with-conflict counts, task row's LFs vs column's
    label_model: str
    tables: dict[str, dict[str, Any]]
    fit_info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    )

    def task(self, name: str) -> TaskReport:
        """The part of task ``name``."""
        return next(t for t in self.tasks if t.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able numbers of the report (NaN → None); ``"multitask": true`` marks the form."""
        out = {
            "multitask": True, "run_id": self.run_id, "created": self.created, "n_rows": self.n,
            "lf_names": self.lf_names, "tasks": [t.to_dict() for t in self.tasks],
            "cross_task_conflicts": {
                a.name: {b.name: int(self.cross_conflicts[i, j])
                         for j, b in enumerate(self.tasks) if j != i}
                for i, a in enumerate(self.tasks)},
            "label_model": self.label_model, "tables": self.tables, "fit_info": self.fit_info,
            "notes": self.notes,
        }  # fmt: skip
        return jsonable(out, "report data")  # type: ignore[no-any-return]


def collect_multitask_report_data(result: PipelineResult, spark: Any = None) -> MultiTaskReportData:
    """The report's numbers of a multi-task run, from its statistics, model and metrics.

    Parameters
    ----------
    result : PipelineResult
        A multi-task run (``result.is_multitask``), from ``run_pipeline`` or ``load_run``.
    spark : SparkSession, optional
        Default: the active session. With one, the per-LF gold columns (``gold_votes``,
        ``gold_acc``, the confusion, ``gold_na_votes``) come from one distributed reduction over
        the votes table, for tasks whose gold the run evaluated; without one they are left out.
    """
    stats: MultiTaskStats = result.task_stats
    model: MultiTaskLabelModel = result.task_model
    graph = stats.graph
    n = max(stats.n, 1)
    names = list(stats.lf_names or [f"lf_{i}" for i in range(stats.m)])
    acc = model.accuracies
    per_task = dict(result.metrics.get("tasks") or {})
    prior = graph.marginals(np.asarray(model.class_balance, float)[None, :])
    versions = {v["lf"]: v for v in result.lf_versions}
    T = len(graph.tasks)
    cross = np.zeros((T, T), np.int64)
    notes: list[str] = []
    lf_gold = _lf_gold_counts(result, per_task, spark, notes)
    tasks: list[TaskReport] = []
    for j, t in enumerate(graph.tasks):
        lfs = stats.task_lfs(j)
        g = lf_gold.get(t.name)
        rows = lf_summary_rows(stats.task_stats(j), nan_to_none(acc[lfs]),
                               None if g is None else g["confusion"],
                               include_confusion=True)  # fmt: skip
        for pos, (row, i) in enumerate(zip(rows, lfs, strict=True)):
            if g is not None:
                row["gold_na_votes"] = int(g["na"][pos])
            for u, other in enumerate(graph.tasks):
                if u != j:
                    row[f"conflicts_{other.name}"] = float(stats.conflicts[i, u]) / n
            if result.lf_errors:
                row["errors"] = int(result.lf_errors.get(row["lf"], 0))
            if row["lf"] in versions:
                row["version"] = versions[row["lf"]]["fingerprint"][:8]
        for u in range(T):
            cross[j, u] = int(stats.conflicts[lfs, u].sum()) if u != j else 0
        cls = list(t.class_names) if t.class_names else [str(a) for a in range(t.cardinality)]
        parent = graph.task(t.parent) if t.parent else None
        active = None
        if parent is not None and t.active_when is not None:
            pnames = parent.class_names or tuple(str(a) for a in range(parent.cardinality))
            active = [pnames[v] for v in t.active_when]
        p = prior[t.name][0]
        gold = (per_task.get(t.name) or {}).get("gold")
        tasks.append(TaskReport(
            name=t.name, k=t.cardinality, class_names=cls, parent=t.parent, active_when=active,
            lf_rows=rows, coverage=float(stats.n_covered[j]) / n,
            overlap=float(stats.n_overlap[j]) / n, conflict=float(stats.n_conflict[j]) / n,
            class_balance=p / max(float(p.sum()), 1e-12),
            cross_task_conflicts={o.name: int(cross[j, u]) for u, o in enumerate(graph.tasks)
                                  if u != j},
            gold=dict(gold) if gold else None,
        ))  # fmt: skip
    return MultiTaskReportData(
        run_id=result.run_id, n=stats.n, lf_names=names, tasks=tasks, cross_conflicts=cross,
        label_model="multitask_label_model", fit_info=dict(model.fit_info), notes=notes,
        tables={
            "votes": {"path": result.votes_path, "version": result.votes_version},
            "labels": {"path": result.labels_path, "version": result.labels_version},
            "artifacts": {"path": result.artifacts_path, "version": None},
        },
    )  # fmt: skip


def _lf_gold_counts(
    result: PipelineResult, per_task: dict[str, Any], spark: Any, notes: list[str]
) -> dict[str, dict[str, np.ndarray]]:
    """Per task with gold: its LFs' gold confusion counts (Spark), or {} (with a note)."""
    gold_cols = {
        name: str(m["gold"]["gold_col"])
        for name, m in per_task.items()
        if isinstance(m, dict) and m.get("gold") and m["gold"].get("gold_col")
    }
    if not gold_cols:
        return {}
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
    if spark is None:
        notes.append("No Spark session: the LFs' gold accuracies are omitted.")
        return {}
    from pyspark.sql import functions as F

    from wsup_spark.io.delta import read_table
    from wsup_spark.spark.multitask import multitask_lf_gold_counts

    votes = read_table(spark, result.votes_path, version=result.votes_version)
    missing = sorted(c for c in gold_cols.values() if c not in votes.columns)
    if missing:
        notes.append(f"The votes table lacks the gold column(s) {missing}: no LF gold accuracy.")
        return {}
    if "run_id" in votes.columns:
        votes = votes.where(F.col("run_id") == result.run_id)
    st = result.task_stats
    return multitask_lf_gold_counts(votes, st.graph, st.lf_tasks, gold_cols)


# --------------------------------------------------------------------------- HTML


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(v: float | None) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%"


def _gold_table(t: TaskReport) -> str:
    g = t.gold
    if not g:
        return '<p class="help">No gold column for this task (tasks[].gold_col).</p>'
    C = np.asarray(g["confusion"], np.int64)
    head = "".join(f"<th>{_esc(c)}</th>" for c in [*t.class_names, "N/A"])
    body = "".join(
        f"<tr><th>{_esc(t.class_names[a])}</th>" + "".join(f"<td>{int(x):,}</td>" for x in row)
        + "</tr>" for a, row in enumerate(C)
    )  # fmt: skip
    acc = g.get("accuracy")
    return (
        f'<p class="help">Label model accuracy <b>{"–" if acc is None else f"{acc:.4f}"}</b> on '
        f"{int(g['n_gold']):,} gold rows of this task (a predicted N/A counts as wrong: "
        f"{int(g.get('predicted_na', 0)):,} rows).</p>"
        f'<table class="cm" id="gold-{_esc(t.name)}"><thead><tr><th>gold \\ pred</th>{head}'
        f"</tr></thead><tbody>{body}</tbody></table>"
    )


def _task_section(t: TaskReport, others: list[str]) -> str:
    names = [r["lf"] for r in t.lf_rows]
    scope = "" if t.parent is None else (
        f" · child of <b>{_esc(t.parent)}</b>"
        + (f", applies when it is {_esc(', '.join(t.active_when))}" if t.active_when else "")
    )  # fmt: skip
    figs = ""
    if t.lf_rows:
        cov = np.array([r["coverage"] for r in t.lf_rows])
        bars = plots.to_data_uri(plots.lf_bars(
            names, cov, np.array([r["overlaps"] for r in t.lf_rows]),
            np.array([r["conflicts"] for r in t.lf_rows])))  # fmt: skip
        learned = [r.get("learned_acc") for r in t.lf_rows]
        gold = [r.get("gold_acc") for r in t.lf_rows]
        if any(g is not None for g in gold) and any(v is not None for v in learned):
            fig = plots.accuracy_scatter(names, learned, gold, cov)  # learned vs gold
        else:
            fig = plots.learned_accuracy_bars(names, learned)
        accs = plots.to_data_uri(fig)
        figs = (
            f'<div class="grid2 row"><figure><img src="{bars}" alt="coverage, overlaps and '
            f'conflicts of {_esc(t.name)} LFs"></figure><figure><img src="{accs}" alt="learned '
            f'accuracy of {_esc(t.name)} LFs"></figure></div>'
        )
    balance = ", ".join(f"{_esc(c)} {v:.3f}"
                        for c, v in zip(t.class_names, t.class_balance, strict=True))  # fmt: skip
    extra = [(f"conflicts_{o}", f"conflicts with {o}",
              f"fraction of rows where an LF of task {o} votes a value inconsistent with this "
              "LF's vote") for o in others]  # fmt: skip
    return (
        f'<section id="task-{_esc(t.name)}"><h2>Task {_esc(t.name)} (k = {t.k})</h2>'
        f'<p class="help">{len(t.lf_rows)} LFs{scope} · coverage {_pct(t.coverage)} · overlap '
        f"{_pct(t.overlap)} · conflict {_pct(t.conflict)} · estimated P(class | task applies): "
        f"{balance}. Overlaps and conflicts in the table are with this task's other LFs; the "
        "last columns count contradictions by other tasks' LFs.</p>"
        + lf_table_html(t.lf_rows, t.class_names, f"lf-table-{t.name}", extra)
        + figs
        + "<h3>Gold</h3>"
        + _gold_table(t)
        + "</section>"
    )


def _cross_table(data: MultiTaskReportData) -> str:
    names = [t.name for t in data.tasks]
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    body = "".join(
        f"<tr><th>{_esc(a)}</th>"
        + "".join("<td>–</td>" if i == j else f"<td>{int(data.cross_conflicts[i, j]):,}</td>"
                  for j in range(len(names))) + "</tr>"
        for i, a in enumerate(names)
    )  # fmt: skip
    return (
        '<table class="cm" id="cross-task-conflicts"><thead><tr><th>LFs of \\ against LFs of'
        f"</th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def render_multitask_html(data: MultiTaskReportData) -> str:
    """The multi-task report page (a complete HTML document)."""
    payload = json.dumps(data.to_dict(), separators=(",", ":")).replace("</", "<\\/")
    t = data.tables
    notes = "".join(f'<div class="note">{_esc(n)}</div>' for n in data.notes)
    cards = [(f"{data.n:,}", "rows"), (str(len(data.lf_names)), "labeling functions"),
             (str(len(data.tasks)), "tasks")]  # fmt: skip
    for task in data.tasks:
        cards.append((_pct(task.coverage), f"{task.name}: coverage"))
        if task.gold and task.gold.get("accuracy") is not None:
            cards.append((f"{task.gold['accuracy']:.3f}", f"{task.name}: gold accuracy"))
    card_html = '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{_esc(v)}</div><div class="l">{_esc(lab)}</div></div>'
        for v, lab in cards) + "</div>"  # fmt: skip
    names = [x.name for x in data.tasks]
    sections = "".join(_task_section(x, [o for o in names if o != x.name]) for x in data.tasks)
    fit = ", ".join(f"{_esc(k)}: {_esc(v)}" for k, v in data.fit_info.items()
                    if isinstance(v, int | float | str | bool))  # fmt: skip
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>LF analysis · run {_esc(data.run_id)} (multi-task)</title>"
        f"<style>{_CSS}</style></head><body>",
        f'<header><h1>LF analysis report · multi-task</h1><div class="meta">run '
        f"<b>{_esc(data.run_id)}</b> · {data.n:,} rows · {len(data.lf_names)} LFs · tasks "
        f"{_esc(', '.join(names))} · label model: {_esc(data.label_model)} · generated "
        f"{_esc(data.created)}</div></header><main>",
        notes,
        card_html,
        '<section><h2>Cross-task conflicts</h2><p class="help">Row i, column j: Σ over task '
        "i's LFs of the rows where that LF votes and an LF of task j votes a value inconsistent "
        "with it (e.g. a finding vote, which implies ABNORMAL, against a NORMAL vote).</p>",
        _cross_table(data),
        "</section>",
        sections,
        "<footer><p>Votes table <code>" + _esc(t["votes"]["path"]) + "</code> version "
        + _esc(t["votes"]["version"]) + " · labels table <code>" + _esc(t["labels"]["path"])
        + "</code> version " + _esc(t["labels"]["version"]) + " · artifacts <code>"
        + _esc(t["artifacts"]["path"]) + "</code>"
        + (f"<br>label model fit: {fit}" if fit else "")
        + "<br>Generated by wsup_spark.analysis.multitask_report.</p></footer></main>",
        f'<script type="application/json" id="wsup-report-data">{payload}</script>',
        f"<script>{_SORT_JS}</script>",
        "</body></html>",
    ]  # fmt: skip
    return "\n".join(parts)


# --------------------------------------------------------------------------- terminal


def _task_lines(t: TaskReport, lf_seconds: dict[str, float] | None = None) -> list[str]:
    head = f"task {t.name} (k={t.k}"
    if t.parent:
        head += f", child of {t.parent}" + (
            f" when {','.join(t.active_when)}" if t.active_when else "")  # fmt: skip
    lines = [f"  {head}): {len(t.lf_rows)} LFs"]
    drop = ("confusion", "gold_correct", "gold_incorrect")
    rows = [{k: v for k, v in r.items() if k not in drop} for r in t.lf_rows]
    if lf_seconds is not None:
        for r in rows:
            r["task_s"] = lf_seconds.get(r["lf"])
    lines += ["    " + s for s in format_lf_table(rows, t.class_names).splitlines()]
    lines.append(f"    coverage {t.coverage:.3f}  overlap {t.overlap:.3f}  conflict "
                 f"{t.conflict:.3f}")  # fmt: skip
    if t.cross_task_conflicts:
        lines.append("    cross-task conflicts (rows, summed over its LFs): " + ", ".join(
            f"with {o} {c:,}" for o, c in t.cross_task_conflicts.items()))  # fmt: skip
    g = t.gold
    if g and g.get("accuracy") is not None:
        lines.append(
            f"    gold rows {int(g['n_gold']):,}: accuracy label model "
            f"{g['accuracy']:.4f} (predicted N/A {int(g.get('predicted_na', 0)):,})"
        )
    return lines


def format_multitask_report(data: MultiTaskReportData, path: str | None = None) -> str:
    """Terminal text of ``wsup analyze`` for a multi-task run: per task its LF table, rates,
    cross-task conflicts and gold accuracy."""
    lines = [f"run {data.run_id}: {data.n:,} rows, {len(data.lf_names)} LFs, "
             f"{len(data.tasks)} tasks, label model: {data.label_model}"]  # fmt: skip
    for t in data.tasks:
        lines += _task_lines(t)
    lines += [f"  note: {n}" for n in data.notes]
    if path:
        lines.append(f"  report: {path}")
    return "\n".join(lines)


def format_multitask_summary(r: PipelineResult, data: MultiTaskReportData | None = None) -> str:
    """End-of-run summary of ``wsup run`` for a multi-task run (``data``: the report's numbers
    when already collected, else collected here)."""
    data = data or collect_multitask_report_data(r)
    secs = dict(zip(r.lf_names, r.metrics.get("lf_seconds") or [], strict=False))
    lines = [f"run {r.run_id}: {r.n_rows:,} rows, {len(r.lf_names)} LFs, {len(data.tasks)} "
             f"tasks ({', '.join(t.name for t in data.tasks)})"]  # fmt: skip
    for t in data.tasks:
        lines += _task_lines(t, secs)
    if r.lf_errors:
        lines.append(f"  LF failures counted as abstains: {r.lf_errors}")
    return "\n".join(lines + format_run_footer(r))
