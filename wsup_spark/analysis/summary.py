"""LF summary from statistics: per-LF polarity, coverage, overlaps, conflicts, accuracies.

Everything is derived from :class:`~wsup_spark.labelmodel.stats.LFStats` (and, when a gold dev set
exists, from the per-LF confusion counts of the distributed gold evaluation), so no n-sized data
is needed on the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.labelmodel.stats import LFStats


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
) -> list[dict[str, Any]]:
    """One dict per LF (the rows of :func:`lf_summary`).

    Parameters
    ----------
    stats : LFStats
        m LFs, k classes.
    learned_accuracy : (m,) optional
        The label model's estimate of each LF's accuracy.
    lf_confusion : (m, k, k) int, optional
        Per-LF confusion of non-abstain votes on gold rows (rows = gold, columns = vote).
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
        rows.append(row)
    return rows


def lf_summary(
    stats: LFStats,
    learned_accuracy: Sequence[float | None] | None = None,
    lf_confusion: np.ndarray | None = None,
) -> Any:
    """The LF summary as a pandas DataFrame indexed by LF name (for notebooks)."""
    import pandas as pd

    return pd.DataFrame(lf_summary_rows(stats, learned_accuracy, lf_confusion)).set_index("lf")


def format_lf_table(rows: Sequence[dict[str, Any]]) -> str:
    """Plain-text table of :func:`lf_summary_rows` (CLI output)."""
    if not rows:
        return "(no LFs)"
    cols = list(rows[0])
    cells = [cols] + [[_cell(r.get(c)) for c in cols] for r in rows]
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
    if isinstance(v, list):
        return ",".join(map(str, v)) or "-"
    return str(v)
