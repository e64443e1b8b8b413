"""Runs: where a run's tables and files live, what a run produced, and loading a past run.

* :mod:`~wsup_spark.run.layout` — :class:`RunLayout`, the one owner of the output layout
  (``<output.path>/votes``, ``/labels``, ``/train``, ``/report.html``, ``/_runs/<run id>/``).
* :mod:`~wsup_spark.run.result` — :class:`PipelineResult` and its JSON summary.
* :mod:`~wsup_spark.run.store` — run artifacts (fitted model, LF statistics, summary) written
  and read back; :func:`load_run` rebuilds a finished run's result from what it left on disk.
"""

from __future__ import annotations

from wsup_spark._lazy import lazy_getattr

_LAZY = {
    "RunLayout": "wsup_spark.run.layout",
    "PipelineResult": "wsup_spark.run.result",
    "default_run_id": "wsup_spark.run.layout",
    "load_run": "wsup_spark.run.store",
    "save_artifacts": "wsup_spark.run.store",
    "save_summary": "wsup_spark.run.store",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_getattr("wsup_spark.run", _LAZY)
