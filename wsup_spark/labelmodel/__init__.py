"""Label models fit from LF statistics (numpy/scipy only; never pyspark or torch)."""

from wsup_spark.labelmodel.baselines import MajorityVote
from wsup_spark.labelmodel.model import LabelModel
from wsup_spark.labelmodel.stats import LFStats

__all__ = ["LFStats", "LabelModel", "MajorityVote"]
