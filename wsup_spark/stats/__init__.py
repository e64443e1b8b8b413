"""LF statistics: the sufficient statistics every label model is fit from.

* :mod:`~wsup_spark.stats.lfstats` — :class:`LFStats` (n, m, k, co-occurrence counts; merges
  exactly, so Spark reduces per-partition partials).
* :mod:`~wsup_spark.stats.patterns` — :class:`VotePatterns`, the histogram of distinct vote rows.

numpy only.
"""

from wsup_spark.stats.lfstats import LFStats
from wsup_spark.stats.patterns import VotePatterns

__all__ = ["LFStats", "VotePatterns"]
