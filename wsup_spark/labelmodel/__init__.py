"""Label models fit from LF statistics (numpy/scipy only; never pyspark or torch).

* :mod:`~wsup_spark.labelmodel.base` — :class:`BaseLabelModel` (the interface every model
  implements) and the registry of kinds (``label_model.kind`` in the config).
* :mod:`~wsup_spark.labelmodel.model` — :class:`LabelModel`, the moment-fit accuracy model.
* :mod:`~wsup_spark.labelmodel.moments`, :mod:`~wsup_spark.labelmodel.shrinkage` — its fit.
* :mod:`~wsup_spark.labelmodel.checks`, :mod:`~wsup_spark.labelmodel.dependencies` — degenerate
  statistics, identical LFs, dependency components.
* :mod:`~wsup_spark.labelmodel.baselines` — :class:`MajorityVote`, :class:`DawidSkene`.

Names are imported on first use, so ``import wsup_spark.labelmodel`` does not import scipy.
"""

from __future__ import annotations

from wsup_spark._lazy import lazy_getattr

_LAZY = {
    "BaseLabelModel": "wsup_spark.labelmodel.base",
    "build_label_model": "wsup_spark.labelmodel.base",
    "label_model_class": "wsup_spark.labelmodel.base",
    "label_model_from_dict": "wsup_spark.labelmodel.base",
    "label_model_kinds": "wsup_spark.labelmodel.base",
    "register_label_model": "wsup_spark.labelmodel.base",
    "LabelModel": "wsup_spark.labelmodel.model",
    "MajorityVote": "wsup_spark.labelmodel.baselines",
    "DawidSkene": "wsup_spark.labelmodel.baselines",
    "LFStats": "wsup_spark.stats.lfstats",
    "VotePatterns": "wsup_spark.stats.patterns",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_getattr("wsup_spark.labelmodel", _LAZY)
