"""LF summary from statistics: per-LF polarity, coverage, overlaps, conflicts, accuracies.

Everything is derived from :class:`~wsup_spark.stats.lfstats.LFStats` (and, when a gold dev set
exists, from the per-LF confusion counts of the distributed gold evaluation), so no n-sized data
is needed on the driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.run.result import PipelineResult
from wsup_spark.stats.lfstats import LFStats


@dataclass(frozen=True)
class CorpusSummary:
    """Corpus-level fractions of rows."""

    n: int
    coverage: float
    overlap: float
    conflict: float
    no_votes: float


def corpus_summary(stats: LFStats) -> CorpusSummary:
    """Fractions of rows with ≥1 vote, ≥2 votes, ≥2 distinct classes, and no vote."""
    n = max(stats.n, 1)
    return CorpusSummary(
        n=stats.n,
        coverage=stats.n_covered / n,
        overlap=stats.n_overlap / n,
        conflict=stats.n_conflict / n,
        no_votes=1.0 - stats.n_covered / n,
    )


def lf_summary_rows(
    stats: LFStats,
    learned_accuracy: Sequence[float | None] | None = None,
    lf_confusion: np.ndarray | None = None,
    include_confusion: bool = False,
) -> list[dict[str, Any]]:
    """One dict per LF (the rows of :func:`lf_summary`).

    Keys: ``lf``, ``polarity`` (classes voted), ``coverage``, ``overlaps``, ``conflicts`` (fractions
    of all n rows); with ``learned_accuracy``: ``learned_acc``; with ``lf_confusion``:
    ``gold_votes`` (non-abstain votes on gold rows), ``gold_acc`` (their accuracy) and, when
    ``include_confusion``, ``gold_correct``, ``gold_incorrect`` and ``confusion`` (k×k nested list,
    rows = gold class, columns = vote).

    Parameters
    ----------
    stats : LFStats
        m LFs, k classes.
    learned_accuracy : (m,) optional
        The label model's estimate of each LF's accuracy.
    lf_confusion : (m, k, k) int, optional
        Per-LF confusion of non-abstain votes on gold rows (rows = gold, columns = vote).
    include_confusion : bool
        Add the correct/incorrect counts and the confusion matrix (needs ``lf_confusion``).

    Examples
    --------
    >>> s = LFStats.from_matrix(np.array([[0, 0], [1, -1], [-1, 1]]), 2, ["a", "b"])
    >>> conf = np.array([[[1, 0], [0, 1]], [[1, 0], [1, 0]]])
    >>> r = lf_summary_rows(s, [0.9, None], conf, include_confusion=True)[1]
    >>> r["lf"], r["polarity"], r["gold_acc"], r["gold_incorrect"], r["confusion"]
    ('b', [0, 1], 0.5, 1, [[1, 0], [1, 0]])
    """
    n = max(stats.n, 1)
    names = list(stats.lf_names or [f"lf_{i}" for i in range(stats.m)])
    votes = stats.vote_counts
    rows = []
    for i, name in enumerate(names):
        row: dict[str, Any] = {
            "lf": name,
            "polarity": stats.polarity[i],
            "coverage": float(votes[i].sum() / n),
            "overlaps": float(stats.overlaps[i] / n),
            "conflicts": float(stats.conflicts[i] / n),
        }
        if learned_accuracy is not None:
            v = learned_accuracy[i]
            row["learned_acc"] = None if v is None or not np.isfinite(v) else float(v)
        if lf_confusion is not None:
            c = np.asarray(lf_confusion[i])
            tot = int(c.sum())
            row["gold_votes"] = tot
            row["gold_acc"] = float(np.trace(c) / tot) if tot else None
            if include_confusion:
                row["gold_correct"] = int(np.trace(c))
                row["gold_incorrect"] = tot - int(np.trace(c))
                row["confusion"] = c.astype(np.int64).tolist()
        rows.append(row)
    return rows


def lf_summary(
    stats: LFStats,
    learned_accuracy: Sequence[float | None] | None = None,
    lf_confusion: np.ndarray | None = None,
) -> Any:
    """The LF summary as a pandas DataFrame indexed by LF name (for notebooks).

    Columns are the keys of :func:`lf_summary_rows` (with the confusion matrix when
    ``lf_confusion`` is given).
    """
    import pandas as pd

    rows = lf_summary_rows(stats, learned_accuracy, lf_confusion, include_confusion=True)
    return pd.DataFrame(rows).set_index("lf")


def lf_pair_matrices(stats: LFStats) -> tuple[np.ndarray, np.ndarray]:
    """LF×LF overlap and conflict fractions from the co-occurrence counts.

    ``overlap[i, j]``: fraction of rows on which LFs i and j both vote (the diagonal is LF i's
    coverage); ``conflict[i, j]``: fraction of rows on which both vote and disagree (diagonal 0).
    Both come from the (k, k) blocks of ``stats.counts``, so no row data is needed.

    Returns
    -------
    overlap, conflict : (m, m) float64

    Examples
    --------
    >>> s = LFStats.from_matrix(np.array([[0, 0, 1], [1, 0, -1], [-1, 1, 1], [0, -1, -1]]), 2)
    >>> ov, cf = lf_pair_matrices(s)
    >>> ov.tolist()[0], cf.tolist()[0]
    ([0.75, 0.5, 0.25], [0.0, 0.25, 0.25])
    """
    m, k = stats.m, stats.k
    C = stats.counts.reshape(m, k, m, k)
    both = C.sum(axis=(1, 3))
    agree = np.einsum("iaja->ij", C)
    n = max(stats.n, 1)
    return both / n, (both - agree) / n


def format_lf_table(
    rows: Sequence[dict[str, Any]], class_names: Sequence[str] | None = None
) -> str:
    """Plain-text table of :func:`lf_summary_rows` (CLI output); ``class_names`` spell the
    polarity column.

    >>> print(format_lf_table([{"lf": "lf_a", "polarity": [1], "coverage": 0.5}], ["HAM", "SPAM"]))
    lf    polarity  coverage
    lf_a      SPAM     0.500
    """
    if not rows:
        return "(no LFs)"
    cols = list(rows[0])

    def value(r: dict[str, Any], c: str) -> Any:
        v = r.get(c)
        if c == "polarity" and class_names is not None and v is not None:
            return [class_names[int(a)] for a in v]
        return v

    cells = [cols] + [[_cell(value(r, c)) for c in cols] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(cols))]
    return "\n".join(
        "  ".join(
            v.ljust(w) if j == 0 else v.rjust(w)
            for j, (v, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    )


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, list) and v and isinstance(v[0], list):  # a confusion matrix
        return "[" + "; ".join(" ".join(map(str, r)) for r in v) + "]"
    if isinstance(v, list):
        return ",".join(map(str, v)) or "-"
    return str(v)


def f1_label(class_names: Sequence[str] | None) -> str:
    """The F1 line's name for a binary task: ``F1 (ABNORMAL)``, or ``F1 (class 1)`` unnamed."""
    return f"F1 ({class_names[1]})" if class_names else "F1 (class 1)"


def format_incremental(info: dict[str, Any] | None) -> list[str]:
    """The lines of ``wsup run``'s summary that say what an incremental run recomputed and why.

    >>> print("\\n".join(format_incremental({"base_run": "r1", "lfs": {"kept": ["a"],
    ...     "added": [], "changed": ["b"], "removed": []}, "new_rows": 0, "upserted_rows": 0,
    ...     "votes": "rewritten", "stats": "recomputed", "labels": "all rows",
    ...     "why_labels": "the model changed"})))
      incremental run on r1: LFs recomputed ['b'] (changed ['b']), 1 kept, removed []
      new rows: 0 (0 replace stored rows); votes: rewritten; statistics: recomputed
      labels: all rows (the model changed)
    """
    if not info:
        return []
    if info.get("base_run") is None:
        return [f"  incremental run: {info.get('why', 'a full run')}"]
    lfs = info.get("lfs") or {}
    computed = list(lfs.get("added", [])) + list(lfs.get("changed", []))
    return [
        f"  incremental run on {info['base_run']}: LFs recomputed {computed} (changed "
        f"{lfs.get('changed', [])}), {len(lfs.get('kept', []))} kept, removed "
        f"{lfs.get('removed', [])}",
        f"  new rows: {info.get('new_rows') or 0:,} ({info.get('upserted_rows') or 0:,} replace "
        f"stored rows); votes: {info.get('votes')}; statistics: {info.get('stats')}",
        f"  labels: {info.get('labels')} ({info.get('why_labels', '')})",
    ]


def format_run_footer(r: PipelineResult) -> list[str]:
    """The last lines of a run's summary: what an incremental run recomputed, the tables and
    their versions, the stages' wall time."""
    lines = format_incremental(r.metrics.get("incremental"))
    lines.append(f"  votes table : {r.votes_path} (version {r.votes_version})")
    lines.append(f"  labels table: {r.labels_path} (version {r.labels_version})")
    if r.train_path:
        lines.append(f"  train table : {r.train_path} (version {r.train_version})")
    lines.append("  wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()))
    return lines


def format_summary(r: PipelineResult, class_names: Sequence[str] | None = None) -> str:
    """Human-readable end-of-run summary (``wsup run``); ``class_names`` (``lfs.class_names``)
    name the classes. A multi-task run's summary (per task its LF table, rates, cross-task
    conflicts and gold accuracy) is
    :func:`~wsup_spark.analysis.multitask_report.format_multitask_summary`."""
    if r.is_multitask:
        raise ValueError(
            f"run {r.run_id} is a multi-task run: use "
            "wsup_spark.analysis.multitask_report.format_multitask_summary(result)"
        )
    stats = r.single_stats
    lines = [f"run {r.run_id}: {r.n_rows:,} rows, {len(r.lf_names)} LFs, k={r.cardinality}"]
    conf = r.metrics.get("lf_confusion")
    rows = lf_summary_rows(stats, r.metrics.get("lf_accuracy_learned"),
                           np.asarray(conf) if conf is not None else None)  # fmt: skip
    secs = r.metrics.get("lf_seconds") or [None] * len(rows)
    for row, sec in zip(rows, secs, strict=True):
        row["errors"] = r.lf_errors.get(row["lf"], 0)
        row["task_s"] = sec
    lines += ["  " + line for line in format_lf_table(rows, class_names).splitlines()]
    lines.append(f"  rows with >=1 vote: {stats.n_covered / max(r.n_rows, 1):.3f}")
    acc = r.metrics.get("accuracy")
    if acc:
        lines.append(
            f"  accuracy on {r.metrics['n_gold']:,} gold rows: label model "
            f"{acc['label_model']:.4f} vs majority vote {acc['majority_vote']:.4f}"
        )
        f1 = r.metrics.get("f1") or {}
        if f1:
            lines.append(
                f"  {f1_label(class_names)}: label model {f1['label_model']:.4f} vs majority vote "
                f"{f1['majority_vote']:.4f}"
            )
    for w in r.metrics.get("model_warnings") or []:
        lines.append(f"  warning: {w}")
    return "\n".join(lines + format_run_footer(r))


#: What the balance line advises when the statistics cannot settle the class balance.
_DEV_SET_SETTLES_IT = "a labelled dev set's class shares, label_model.class_balance, settle it"


def format_balance_line(
    class_names: Sequence[str], balance: Sequence[float] | np.ndarray, fit_info: Mapping[str, Any]
) -> str:
    """One summary line: the class balance the label model used, how it was chosen (given,
    uniform, estimated, from LF triplets) and, when an estimate was rejected or could not be told
    from the uniform balance, the estimate and why; when none was tried because some class is
    voted by fewer than 3 independent LFs (``fit_info["independent_lfs_per_class"]``), those
    classes."""

    def shares(p: Sequence[float] | np.ndarray) -> str:
        return ", ".join(f"{n}: {v:.3f}" for n, v in zip(class_names, p, strict=True))

    how = fit_info.get("balance")
    label = {"triplets": "from LF triplets"}.get(how, how) if isinstance(how, str) else None
    line = f"  class balance{f' ({label})' if label else ''}: {shares(balance)}"
    tri = fit_info.get("balance_triplets")
    if isinstance(tri, Mapping) and len(tri.get("estimate") or ()) == len(class_names):
        if how == "triplets":
            line += (
                f" (third-order estimate {shares(tri['estimate'])} from {tri['triplets']} "
                "triplets; the least skewed balance within two standard errors is used)"
            )
        elif how == "uniform" and tri.get("used") is None:
            line += (
                f"; LF triplets estimate {shares(tri['estimate'])} but cannot tell it from "
                f"uniform ({tri['triplets']} triplets)"
            )
    why, est = fit_info.get("balance_rejected"), fit_info.get("balance_estimate")
    if how == "uniform" and why and est is not None and len(est) == len(class_names):
        line += (
            f"; estimate {shares(est)} rejected: {why} ({_DEV_SET_SETTLES_IT})"
        )
    per = fit_info.get("independent_lfs_per_class")
    if (
        how == "uniform" and est is None and not isinstance(tri, Mapping)
        and isinstance(per, Sequence) and len(per) == len(class_names) and min(per) < 3
    ):  # fmt: skip
        few = [f"{n} ({c})" for n, c in zip(class_names, per, strict=True) if c < 3]
        shown = ", ".join(few[:6]) + (f" and {len(few) - 6} more" if len(few) > 6 else "")
        line += (
            f"; not identifiable from the LFs' agreements: {shown} voted by fewer than 3 "
            f"independent LFs ({_DEV_SET_SETTLES_IT})"
        )
    return line
