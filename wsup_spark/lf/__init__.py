"""Labeling functions: the LF API, LF templates, loading LFs from a config, and the apply kernel.

* :mod:`~wsup_spark.lf.base` — ``@labeling_function``, ``@vectorized_lf``, :class:`Record`,
  :class:`LFSet` (an ordered LF set with its cardinality, names and hash), vote validation.
* :mod:`~wsup_spark.lf.templates` — ``keyword_lf``, ``regex_lf``, ``lookup_lf``,
  ``threshold_lf``, ``model_lf``.
* :mod:`~wsup_spark.lf.loading` — ``load_lfs``: LFs from the import paths a config names.
* :mod:`~wsup_spark.lf.kernel` — ``apply_lfs_to_batch``: LFs over one Arrow batch → (n, m) votes
  (shared by the Spark applier and the in-memory ``apply_lfs_local``).

Imports the standard library and numpy only; pandas/pyarrow are imported by the kernel when it
runs.
"""
