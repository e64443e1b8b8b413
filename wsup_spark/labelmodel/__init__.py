"""Label models fit from LF statistics (numpy/scipy only; never pyspark or torch)."""

from wsup_spark.labelmodel.baselines import DawidSkene, MajorityVote
from wsup_spark.labelmodel.model import LabelModel
from wsup_spark.labelmodel.patterns import VotePatterns
from wsup_spark.labelmodel.stats import LFStats

__all__ = ["DawidSkene", "LFStats", "LabelModel", "MajorityVote", "VotePatterns"]
