"""wsup_spark: weak supervision at cluster scale.

Importing this package is cheap: it pulls in numpy only. Spark, Delta and torch are imported by
the layers that need them.

Public API::

    from wsup_spark import (ABSTAIN, LabelingFunction, labeling_function, vectorized_lf,
                            LFStats, LabelModel, MajorityVote, load_config, WsupError)
"""

from __future__ import annotations

from wsup_spark.core.config import PipelineConfig, load_config
from wsup_spark.core.errors import (
    ConfigError,
    DataError,
    LFError,
    ModelError,
    StatsError,
    WriteError,
    WsupError,
)
from wsup_spark.core.lazy import lazy_getattr
from wsup_spark.core.lf import (
    ABSTAIN,
    LabelingFunction,
    Record,
    labeling_function,
    vectorized_lf,
)
from wsup_spark.labelmodel.stats import LFStats

__version__ = "0.1.0"

_LAZY = {
    "LabelModel": "wsup_spark.labelmodel",
    "MajorityVote": "wsup_spark.labelmodel",
    "run_pipeline": "wsup_spark.pipeline",
}


__getattr__ = lazy_getattr("wsup_spark", _LAZY)


__all__ = [
    "ABSTAIN",
    "ConfigError",
    "DataError",
    "LFError",
    "LFStats",
    "LabelModel",
    "LabelingFunction",
    "MajorityVote",
    "ModelError",
    "PipelineConfig",
    "Record",
    "StatsError",
    "WriteError",
    "WsupError",
    "__version__",
    "labeling_function",
    "load_config",
    "run_pipeline",
    "vectorized_lf",
]
