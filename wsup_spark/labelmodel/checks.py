"""Checks on LF statistics before a fit: LFs that vote identically, LFs that never vote, too few
voting LFs, classes nobody votes. numpy only."""

from __future__ import annotations

import numpy as np

from wsup_spark.stats.lfstats import LFStats


def identical_lf_pairs(stats: LFStats) -> list[tuple[int, int]]:
    """Pairs (i < j) of LFs that vote identically on every row (exact, from the counts): they
    agree on every row either votes on, and vote equally often.

    Examples
    --------
    >>> L = np.array([[0, 0, 1], [1, 1, 1], [-1, -1, 0]])
    >>> identical_lf_pairs(LFStats.from_matrix(L, 2))
    [(0, 1)]
    """
    m, k = stats.m, stats.k
    total = stats.vote_counts.sum(axis=1)
    joint = np.einsum("iaja->ij", stats.counts.reshape(m, k, m, k))  # rows where i and j agree
    same = (joint == total[:, None]) & (joint == total[None, :]) & (total[:, None] > 0)
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(same, 1)), strict=True)]


def degenerate_stats_warnings(stats: LFStats) -> list[str]:
    """Human-readable warnings about statistics the label model handles by a fallback.

    * an LF that never votes carries no information: its parameters are zero and it is ignored;
    * fewer than 3 voting LFs: accuracies are not identifiable from second moments, the fit stays
      near the initialisation (every LF at the initial precision);
    * two LFs that vote identically on every row would be double-counted under conditional
      independence: the label model treats them as dependent (one vote's weight between them);
    * a class no LF ever votes can only be predicted through the class balance.
    """
    names = list(stats.lf_names or [f"LF {i}" for i in range(stats.m)])
    votes = stats.vote_counts
    out = []
    never = np.flatnonzero(votes.sum(axis=1) == 0)
    if len(never):
        out.append(f"LF(s) {[names[i] for i in never]} never vote: ignored (no information)")
    active = np.flatnonzero(votes.sum(axis=1) > 0)
    if len(active) < 3:
        out.append(
            f"only {len(active)} LF(s) vote: LF accuracies are not identifiable from agreements "
            "with fewer than 3 LFs; the label model keeps its prior (majority-vote-like) weights"
        )
    for i, j in identical_lf_pairs(stats):
        out.append(
            f"LFs {names[i]!r} and {names[j]!r} vote identically on every row: the label model "
            "counts them as one (drop one to silence this)"
        )
    silent = np.flatnonzero(votes.sum(axis=0) == 0)
    if len(silent):
        out.append(f"no LF ever votes class(es) {silent.tolist()}: predicted only via the prior")
    return out
