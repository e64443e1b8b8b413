"""LF summary rows, LF×LF matrices and the plain-text table, against brute force on random L."""

from __future__ import annotations

import numpy as np
import pytest

from wsup_spark.analysis.summary import (
    corpus_summary,
    format_lf_table,
    lf_pair_matrices,
    lf_summary,
    lf_summary_rows,
)
from wsup_spark.stats.lfstats import LFStats


@pytest.mark.parametrize("k", [2, 3])
def test_pair_matrices_match_brute_force(k):
    rng = np.random.default_rng(k)
    L = np.where(rng.random((500, 6)) < 0.5, rng.integers(0, k, (500, 6)), -1)
    overlap, conflict = lf_pair_matrices(LFStats.from_matrix(L, k))
    v = L >= 0
    for i in range(6):
        for j in range(6):
            both = v[:, i] & v[:, j]
            assert overlap[i, j] == both.mean()
            assert conflict[i, j] == (both & (L[:, i] != L[:, j])).mean()
    np.testing.assert_array_equal(overlap, overlap.T)
    np.testing.assert_array_equal(np.diag(conflict), 0)


def test_rows_with_confusion_and_dataframe():
    L = np.array([[0, 1, -1], [1, 1, -1], [0, -1, -1], [-1, 0, -1]])
    gold = np.array([0, 1, 1, -1])
    stats = LFStats.from_matrix(L, 2, ["a", "b", "c"])
    conf = np.zeros((3, 2, 2), np.int64)
    for i in range(3):
        g = (L[:, i] >= 0) & (gold >= 0)
        np.add.at(conf[i], (gold[g], L[g, i]), 1)
    rows = lf_summary_rows(stats, [0.9, float("nan"), None], conf, include_confusion=True)
    assert [r["lf"] for r in rows] == ["a", "b", "c"]
    a, b, c = rows
    assert a["coverage"] == 0.75 and a["overlaps"] == 0.5 and a["conflicts"] == 0.25
    assert a["gold_votes"] == 3 and a["gold_correct"] == 2 and a["confusion"] == [[1, 0], [1, 1]]
    assert b["learned_acc"] is None and b["polarity"] == [0, 1]
    assert c["gold_acc"] is None and c["coverage"] == 0.0 and c["polarity"] == []
    df = lf_summary(stats, [0.9, 0.5, None], conf)
    assert list(df.index) == ["a", "b", "c"] and "confusion" in df.columns
    assert df.loc["a", "gold_incorrect"] == 1
    text = format_lf_table(rows)
    assert "[1 0; 1 1]" in text and text.splitlines()[0].split()[0] == "lf"
    cs = corpus_summary(stats)
    assert (cs.n, cs.coverage, cs.overlap, cs.conflict, cs.no_votes) == (4, 1.0, 0.5, 0.25, 0.0)


def test_importing_analysis_is_light():
    """Layer rule: no torch ever, matplotlib only when a plot is drawn; the numbers (summary,
    diagnostics, report data) need neither pyspark nor matplotlib."""
    import subprocess
    import sys

    def imported(modules: str) -> str:
        code = (
            f"import sys, {modules}\n"
            "print(sorted(m for m in ('pyspark', 'torch', 'matplotlib') if m in sys.modules))"
        )
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)  # fmt: skip
        return run.stdout.strip()

    assert imported("wsup_spark.analysis.report, wsup_spark.analysis.html") == "['pyspark']"
    numbers = "wsup_spark.analysis.summary, wsup_spark.analysis.diagnostics, wsup_spark.run.result"
    assert imported(numbers + ", wsup_spark.analysis.report_data") == "[]"
