"""LF analysis: LF summary tables, label-model diagnostics and the HTML report.

Importing this package is cheap (numpy only); matplotlib and pyspark are imported by the functions
that draw plots or run a distributed reduction.

* :mod:`~wsup_spark.analysis.summary` — per-LF and corpus summaries from :class:`LFStats`.
* :mod:`~wsup_spark.analysis.diagnostics` — confidence histogram, gold accuracy/F1, calibration.
* :mod:`~wsup_spark.analysis.report` — ``write_report(result, spark)`` and ``wsup analyze``.
* :mod:`~wsup_spark.analysis.multitask_report` — a multi-task run's report: an LF table per
  task, per-task gold accuracy, cross-task conflicts (``write_report`` picks it for such runs).
* :mod:`~wsup_spark.analysis.html`, :mod:`~wsup_spark.analysis.plots` — rendering.
"""

from __future__ import annotations

from wsup_spark._lazy import lazy_getattr

_LAZY = {
    "lf_summary": "wsup_spark.analysis.summary",
    "lf_summary_rows": "wsup_spark.analysis.summary",
    "lf_pair_matrices": "wsup_spark.analysis.summary",
    "corpus_summary": "wsup_spark.analysis.summary",
    "format_lf_table": "wsup_spark.analysis.summary",
    "write_report": "wsup_spark.analysis.report",
    "collect_report_data": "wsup_spark.analysis.report",
    "analyze": "wsup_spark.analysis.report",
    "MultiTaskReportData": "wsup_spark.analysis.multitask_report",
    "collect_multitask_report_data": "wsup_spark.analysis.multitask_report",
    "format_multitask_summary": "wsup_spark.analysis.multitask_report",
    "load_run": "wsup_spark.run.store",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr("wsup_spark.analysis", _LAZY)
