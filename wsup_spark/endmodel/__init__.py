"""End model: train on the probabilistic labels with a noise-aware loss (torch; extra ``train``).

Importing this package does not import torch; the names below are loaded on first use::

    from wsup_spark.endmodel import (TrainConfig, train, train_from_config, DeltaIterableDataset,
                                     FeatureSpec, soft_cross_entropy, build_model, load_checkpoint)

Modules: ``config`` (TrainConfig, no torch), ``table`` (Delta version → files, exact sharding),
``hashing`` (vectorised fastText-style n-gram hashing, no torch), ``dataset`` (the
IterableDataset), ``loss``, ``models``, ``trainer``, ``evaluate``, ``checkpoint``.
"""

from __future__ import annotations

from wsup_spark._lazy import lazy_getattr

_LAZY = {
    "TrainConfig": "wsup_spark.endmodel.config",
    "resolve_table": "wsup_spark.endmodel.table",
    "TableFiles": "wsup_spark.endmodel.table",
    "hash_ngrams": "wsup_spark.endmodel.hashing",
    "DeltaIterableDataset": "wsup_spark.endmodel.dataset",
    "FeatureSpec": "wsup_spark.endmodel.dataset",
    "soft_cross_entropy": "wsup_spark.endmodel.loss",
    "SoftCrossEntropyLoss": "wsup_spark.endmodel.loss",
    "HashedTextEncoder": "wsup_spark.endmodel.models",
    "FastTextClassifier": "wsup_spark.endmodel.models",
    "NumericMLP": "wsup_spark.endmodel.models",
    "TextNumericModel": "wsup_spark.endmodel.models",
    "EmbeddingClassifier": "wsup_spark.endmodel.models",
    "LateFusionModel": "wsup_spark.endmodel.models",
    "late_fusion_loss": "wsup_spark.endmodel.loss",
    "build_model": "wsup_spark.endmodel.models",
    "train": "wsup_spark.endmodel.trainer",
    "train_from_config": "wsup_spark.endmodel.trainer",
    "TrainResult": "wsup_spark.endmodel.trainer",
    "pick_device": "wsup_spark.endmodel.trainer",
    "evaluate": "wsup_spark.endmodel.evaluate",
    "predict": "wsup_spark.endmodel.evaluate",
    "save_checkpoint": "wsup_spark.endmodel.checkpoint",
    "load_checkpoint": "wsup_spark.endmodel.checkpoint",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr("wsup_spark.endmodel", _LAZY)
