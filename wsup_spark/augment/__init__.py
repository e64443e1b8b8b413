"""Data augmentation: transformation functions, policies (fixed and learned), appliers.

Importing this package imports neither numpy-heavy libraries nor torch, pyspark or scipy; the names
below are loaded on first use::

    from wsup_spark.augment import (transformation_function, vectorized_tf, TransformationFunction,
                                    TFError, Policy, augment_arrays, augment_rows, IMAGE_TFS,
                                    TEXT_TFS, learn_policy, LearnConfig, augment_dataframe,
                                    write_augmented, AugmentedImageDataset, AugmentJobConfig,
                                    run_augment)

Modules: ``randomness`` (per-row counter-based draws), ``base`` (the TF API), ``images`` and
``text`` (the TF library), ``policy`` (policies as JSON data), ``apply`` (the in-memory kernel),
``learn`` (TANDA's learned policies, torch), ``spark`` (``mapInArrow`` application and the Delta
write), ``loader`` (on-the-fly augmentation in torch DataLoader workers), ``job`` (``wsup
augment`` / ``jobs/augment.py``: config, policy by name or JSON file, Delta in, Delta out).
"""

from __future__ import annotations

from wsup_spark._lazy import lazy_getattr

_LAZY = {
    "BatchRandom": "wsup_spark.augment.randomness",
    "row_keys": "wsup_spark.augment.randomness",
    "TFError": "wsup_spark.augment.base",
    "TransformationFunction": "wsup_spark.augment.base",
    "transformation_function": "wsup_spark.augment.base",
    "vectorized_tf": "wsup_spark.augment.base",
    "IMAGE_TFS": "wsup_spark.augment.images",
    "BAD_IMAGE_TFS": "wsup_spark.augment.images",
    "TEXT_TFS": "wsup_spark.augment.text",
    "wordnet_available": "wsup_spark.augment.text",
    "text_change": "wsup_spark.augment.text",
    "Policy": "wsup_spark.augment.policy",
    "POLICY_KINDS": "wsup_spark.augment.policy",
    "AugmentedBatch": "wsup_spark.augment.apply",
    "apply_policy": "wsup_spark.augment.apply",
    "augment_arrays": "wsup_spark.augment.apply",
    "augment_batch": "wsup_spark.augment.apply",
    "augment_rows": "wsup_spark.augment.apply",
    "LearnConfig": "wsup_spark.augment.learn",
    "LearnResult": "wsup_spark.augment.learn",
    "FeatureDiscriminator": "wsup_spark.augment.learn",
    "learn_policy": "wsup_spark.augment.learn",
    "fit_image_classifier": "wsup_spark.augment.learn",
    "ImageClassifier": "wsup_spark.augment.learn",
    "augment_dataframe": "wsup_spark.augment.spark",
    "augment_table": "wsup_spark.augment.spark",
    "write_augmented": "wsup_spark.augment.spark",
    "augment_transform": "wsup_spark.augment.spark",
    "AugmentedImageDataset": "wsup_spark.augment.loader",
    "AugmentJobConfig": "wsup_spark.augment.job",
    "load_augment_config": "wsup_spark.augment.job",
    "run_augment": "wsup_spark.augment.job",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr("wsup_spark.augment", _LAZY)
