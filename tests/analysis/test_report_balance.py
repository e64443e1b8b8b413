"""The summary's class-balance line says how the balance was chosen and why an estimate lost."""

from __future__ import annotations

import dataclasses
import html

from script_modules import load_script

from wsup_spark import LabelModel, LFStats
from wsup_spark.analysis.report import format_balance_line


def _context_problem(t: int):
    return load_script("scripts/bench_structure.py").context_problem(t)


def test_a_rejected_estimate_is_named_with_its_reason():
    L = _context_problem(5)[0]  # spouse-like: the vote-share estimate says 93% positives
    # (statistics without third-order counts: with them the balance comes from LF triplets)
    model = LabelModel(2).fit(dataclasses.replace(LFStats.from_matrix(L, 2), triples=None))
    line = format_balance_line(["NEG", "POS"], model.class_balance, model.fit_info)
    assert line.startswith("  class balance (uniform): NEG: 0.500, POS: 0.500; estimate NEG: 0.0")
    assert "rejected: two estimates with different majority classes" in line
    assert "label_model.class_balance" in line


def test_given_and_estimated_balances_print_without_a_rejection():
    info = {"balance": "estimated", "balance_estimate": [0.8, 0.2]}
    assert format_balance_line(["a", "b"], [0.8, 0.2], info) == (
        "  class balance (estimated): a: 0.800, b: 0.200"
    )
    info = {"balance": "given", "balance_rejected": "ignored when the balance is given"}
    assert format_balance_line(["a", "b"], [0.3, 0.7], info) == (
        "  class balance (given): a: 0.300, b: 0.700"
    )
    # models that do not say how they chose it (majority vote)
    assert format_balance_line(["a", "b"], [0.5, 0.5], {}) == "  class balance: a: 0.500, b: 0.500"


def test_a_triplet_balance_names_its_estimate():
    L = _context_problem(5)[0]  # 6.4% positives
    model = LabelModel(2).fit(LFStats.from_matrix(L, 2))
    line = format_balance_line(["NEG", "POS"], model.class_balance, model.fit_info)
    assert line.startswith("  class balance (from LF triplets): NEG: 0.")
    assert "third-order estimate NEG: 0.8" in line and "triplets; the least skewed" in line
    info = {"balance": "uniform", "balance_triplets": {"estimate": [0.55, 0.45], "used": None,
                                                        "triplets": 12}}  # fmt: skip
    assert format_balance_line(["a", "b"], [0.5, 0.5], info) == (
        "  class balance (uniform): a: 0.500, b: 0.500; LF triplets estimate a: 0.550, b: 0.450 "
        "but cannot tell it from uniform (12 triplets)"
    )


def test_html_report_says_how_the_balance_was_chosen(demo_report):
    data = demo_report.data
    line = format_balance_line(data.class_names, data.class_balance, data.fit_info).strip()
    assert line.startswith("class balance (")
    assert f'<p class="help balance">{html.escape(line)}</p>' in demo_report.html


def test_an_unidentifiable_balance_names_the_classes_with_too_few_lfs():
    # scripts/bench_structure.py --multiclass: 26 LFs for 10 classes, most classes with 1-3
    L = load_script("scripts/bench_structure.py").multiclass_problem(0)[0]
    model = LabelModel(10).fit(LFStats.from_matrix(L, 10))
    per = model.fit_info["independent_lfs_per_class"]
    assert len(per) == 10 and min(per) == model.fit_info["min_independent_lfs_per_class"] < 3
    names = [f"c{i}" for i in range(10)]
    line = format_balance_line(names, model.class_balance, model.fit_info)
    few = [f"c{i} ({c})" for i, c in enumerate(per) if c < 3]
    assert "; not identifiable from the LFs' agreements: " + ", ".join(few[:6]) in line
    assert line.endswith("settle it)") and ("more voted by" in line) == (len(few) > 6)
    # a balance that was estimated, or judged and rejected, says that instead
    info = {**model.fit_info, "balance": "estimated"}
    assert "not identifiable" not in format_balance_line(names, model.class_balance, info)
    info = {**model.fit_info, "balance_estimate": [0.1] * 10, "balance_rejected": "r"}
    assert "not identifiable" not in format_balance_line(names, model.class_balance, info)
