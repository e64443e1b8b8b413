"""The report and ``wsup analyze`` show the LF dependencies the label model learned (issue 14)."""

from __future__ import annotations

import numpy as np

from wsup_spark.analysis.html import learned_dependencies, render_html
from wsup_spark.analysis.report import ReportData, format_report_summary
from wsup_spark.analysis.summary import corpus_summary, lf_pair_matrices, lf_summary_rows
from wsup_spark.labelmodel import LabelModel, LFStats


def _data(L: np.ndarray, names: list[str]) -> ReportData:
    stats = LFStats.from_matrix(L, 2, names)
    model = LabelModel(2).fit(stats)
    ov, cf = lf_pair_matrices(stats)
    return ReportData(
        run_id="r", lf_names=names, k=2, class_names=["neg", "pos"], stats=stats,
        corpus=corpus_summary(stats), lf_rows=lf_summary_rows(stats, model.accuracies.tolist()),
        overlap=ov, conflict=cf, label_model="label_model", class_balance=model.class_balance,
        histogram=None, gold=None, fit_info=dict(model.fit_info),
        tables={"votes": {"path": "v", "version": 0}, "labels": {"path": "l", "version": 0}},
    )  # fmt: skip


def _votes(n: int, copy: bool, seed: int = 0) -> np.ndarray:
    """Five LFs of accuracy 0.8 and coverage 0.5 on a latent class; with ``copy`` the fifth
    is a copy of the first."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    L = np.where(rng.random((n, 5)) < 0.8, y[:, None], 1 - y[:, None])
    L = np.where(rng.random((n, 5)) < 0.5, L, -1)
    if copy:
        L[:, 4] = L[:, 0]
    return L


def test_a_copied_lf_is_shown_as_a_learned_dependency():
    names = ["a", "b", "c", "d", "a_copy"]
    data = _data(_votes(20_000, copy=True), names)
    pairs = learned_dependencies(data)
    assert [(p["a"], p["b"]) for p in pairs] == [("a", "a_copy")]
    red = pairs[0]["redundancy"]
    assert red[0] == red[1] > 0.5  # a copy: most of each LF's votes are excess co-votes
    page = render_html(data)
    assert "Learned LF dependencies" in page and 'id="dependency-table"' in page
    assert "<td>a</td><td>a_copy</td>" in page
    assert "learned LF dependencies: a ~ a_copy (z " in format_report_summary(data)


def test_independent_lfs_show_no_dependency():
    data = _data(_votes(20_000, copy=False), ["a", "b", "c", "d", "e"])
    assert learned_dependencies(data) == []
    assert "No pair passed the test" in render_html(data)
    assert "learned LF dependencies: none" in format_report_summary(data)
