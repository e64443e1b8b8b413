"""Label models fit from LF statistics (numpy/scipy only; never pyspark or torch)."""

from wsup_spark.labelmodel.model import LabelModel, MajorityVote
from wsup_spark.labelmodel.stats import LFStats

__all__ = ["LFStats", "LabelModel", "MajorityVote"]
