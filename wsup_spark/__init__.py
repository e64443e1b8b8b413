"""wsup_spark: weak supervision at cluster scale.

Importing this package is cheap: it pulls in numpy only. Spark, Delta and torch are imported by
the layers that need them, when a name that needs them is first used.

Public API (every name README shows; module paths may change, these names do not)::

    from wsup_spark import (ABSTAIN, labeling_function, vectorized_lf, keyword_lf, regex_lf,
                            LFStats, LabelModel, MajorityVote, DawidSkene, load_config,
                            run_pipeline, apply_lfs, compute_stats, predict_labels,
                            write_table, read_table, load_run, write_report, WsupError,
                            transformation_function, vectorized_tf, Policy, augment_arrays,
                            augment_rows, learn_policy, LearnConfig, augment_dataframe,
                            write_augmented, AugmentedImageDataset, IMAGE_TFS, TEXT_TFS)
"""

from __future__ import annotations

from wsup_spark._lazy import lazy_getattr
from wsup_spark.errors import (
    ConfigError,
    DataError,
    LFError,
    ModelError,
    StatsError,
    WriteError,
    WsupError,
)
from wsup_spark.lf.base import (
    ABSTAIN,
    LabelingFunction,
    LFSet,
    Record,
    labeling_function,
    vectorized_lf,
)
from wsup_spark.stats.lfstats import LFStats

__version__ = "0.1.0"

_LAZY = {
    # configuration (PyYAML on load)
    "PipelineConfig": "wsup_spark.config",
    "load_config": "wsup_spark.config",
    "parse_config": "wsup_spark.config",
    # LFs
    "keyword_lf": "wsup_spark.lf.templates",
    "regex_lf": "wsup_spark.lf.templates",
    "lookup_lf": "wsup_spark.lf.templates",
    "threshold_lf": "wsup_spark.lf.templates",
    "model_lf": "wsup_spark.lf.templates",
    "load_lfs": "wsup_spark.lf.loading",
    "apply_lfs_local": "wsup_spark.lf.kernel",
    # statistics and label models (scipy)
    "VotePatterns": "wsup_spark.stats.patterns",
    "BaseLabelModel": "wsup_spark.labelmodel.base",
    "register_label_model": "wsup_spark.labelmodel.base",
    "label_model_from_dict": "wsup_spark.labelmodel.base",
    "LabelModel": "wsup_spark.labelmodel.model",
    "MajorityVote": "wsup_spark.labelmodel.baselines",
    "DawidSkene": "wsup_spark.labelmodel.baselines",
    # Delta I/O (pyarrow, deltalake)
    "write_table": "wsup_spark.io.delta",
    "read_table": "wsup_spark.io.delta",
    "read_arrow": "wsup_spark.io.delta",
    "commit_history": "wsup_spark.io.delta",
    "table_version": "wsup_spark.io.delta",
    # Spark (pyspark)
    "get_or_create_session": "wsup_spark.spark.session",
    "apply_lfs": "wsup_spark.spark.apply",
    "compute_stats": "wsup_spark.spark.stats",
    "predict_labels": "wsup_spark.spark.predict",
    # runs and the pipeline
    "RunLayout": "wsup_spark.run.layout",
    "PipelineResult": "wsup_spark.run.result",
    "load_run": "wsup_spark.run.store",
    "run_pipeline": "wsup_spark.pipeline",
    # analysis
    "lf_summary": "wsup_spark.analysis.summary",
    "format_summary": "wsup_spark.analysis.summary",
    "write_report": "wsup_spark.analysis.report",
    "collect_report_data": "wsup_spark.analysis.report",
    "render_html": "wsup_spark.analysis.html",
    # end model (torch)
    "TrainConfig": "wsup_spark.endmodel.config",
    "train_from_config": "wsup_spark.endmodel.trainer",
    # text encoders for the end model (torch; SentenceEncoder needs the `text` extra)
    "SentenceEncoder": "wsup_spark.endmodel.encoders",
    "get_encoder": "wsup_spark.endmodel.encoders",
    "add_embedding_column": "wsup_spark.endmodel.encoders",
    "fit_soft_classifier": "wsup_spark.endmodel.encoders",
    # multi-task supervision (MultiTaskModel, multitask_soft_cross_entropy: torch)
    "Task": "wsup_spark.tasks",
    "TaskGraph": "wsup_spark.tasks",
    "MultiTaskStats": "wsup_spark.labelmodel.multitask_stats",
    "MultiTaskLabelModel": "wsup_spark.labelmodel.multitask",
    "compute_multitask_stats": "wsup_spark.spark.multitask",
    "MultiTaskModel": "wsup_spark.endmodel.multitask",
    "multitask_soft_cross_entropy": "wsup_spark.endmodel.multitask",
    # data augmentation (learn_policy, LearnConfig and AugmentedImageDataset: torch)
    "TFError": "wsup_spark.augment.base",
    "TransformationFunction": "wsup_spark.augment.base",
    "transformation_function": "wsup_spark.augment.base",
    "vectorized_tf": "wsup_spark.augment.base",
    "IMAGE_TFS": "wsup_spark.augment.images",
    "TEXT_TFS": "wsup_spark.augment.text",
    "Policy": "wsup_spark.augment.policy",
    "augment_arrays": "wsup_spark.augment.apply",
    "augment_rows": "wsup_spark.augment.apply",
    "LearnConfig": "wsup_spark.augment.learn",
    "learn_policy": "wsup_spark.augment.learn",
    "augment_dataframe": "wsup_spark.augment.spark",
    "write_augmented": "wsup_spark.augment.spark",
    "AugmentedImageDataset": "wsup_spark.augment.loader",
}

__getattr__ = lazy_getattr("wsup_spark", _LAZY)

__all__ = [
    "ABSTAIN",
    "IMAGE_TFS",
    "TEXT_TFS",
    "AugmentedImageDataset",
    "BaseLabelModel",
    "ConfigError",
    "DataError",
    "DawidSkene",
    "LFError",
    "LFSet",
    "LFStats",
    "LabelModel",
    "LabelingFunction",
    "LearnConfig",
    "MajorityVote",
    "ModelError",
    "MultiTaskLabelModel",
    "MultiTaskModel",
    "MultiTaskStats",
    "PipelineConfig",
    "PipelineResult",
    "Policy",
    "Record",
    "RunLayout",
    "SentenceEncoder",
    "StatsError",
    "TFError",
    "Task",
    "TaskGraph",
    "TrainConfig",
    "TransformationFunction",
    "VotePatterns",
    "WriteError",
    "WsupError",
    "__version__",
    "add_embedding_column",
    "apply_lfs",
    "apply_lfs_local",
    "augment_arrays",
    "augment_dataframe",
    "augment_rows",
    "collect_report_data",
    "commit_history",
    "compute_multitask_stats",
    "compute_stats",
    "fit_soft_classifier",
    "format_summary",
    "get_encoder",
    "get_or_create_session",
    "keyword_lf",
    "label_model_from_dict",
    "labeling_function",
    "learn_policy",
    "lf_summary",
    "load_config",
    "load_lfs",
    "load_run",
    "lookup_lf",
    "model_lf",
    "multitask_soft_cross_entropy",
    "parse_config",
    "predict_labels",
    "read_arrow",
    "read_table",
    "regex_lf",
    "register_label_model",
    "render_html",
    "run_pipeline",
    "table_version",
    "threshold_lf",
    "train_from_config",
    "transformation_function",
    "vectorized_lf",
    "vectorized_tf",
    "write_augmented",
    "write_report",
    "write_table",
]
