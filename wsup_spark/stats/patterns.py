"""A histogram of distinct vote patterns: an exact, id-free sufficient statistic for row-level EM.

Rows of a label matrix with the same votes are exchangeable for any label model that treats rows
independently (Dawid-Skene, per-row posteriors), so ``(distinct rows, their counts)`` is all such
a model needs — and it is small whenever the LFs are few or sparse. The histogram merges exactly
(union, counts added), so it is computed per partition and combined like the rest of
:class:`~wsup_spark.stats.lfstats.LFStats`. Above ``max_patterns`` distinct patterns it is
dropped (``capped``) rather than grown without bound: a model that needs it then says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default cap on distinct patterns (rows × m int16: 64Ki patterns × 100 LFs = 13 MB).
DEFAULT_MAX_PATTERNS = 65536


def _canonical(rows: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge duplicate rows (summing counts) and sort rows lexicographically (column 0 first)."""
    if len(rows) == 0:
        return rows.reshape(0, rows.shape[1]).astype(np.int16), np.zeros(0, np.int64)
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=counts, minlength=len(uniq))
    order = np.lexsort(uniq.T[::-1])
    return uniq[order].astype(np.int16), np.rint(summed[order]).astype(np.int64)


@dataclass(frozen=True, eq=False)
class VotePatterns:
    """Distinct rows of a label matrix and how often each occurs.

    Attributes
    ----------
    rows : (p, m) int16
        Distinct vote rows (-1 = abstain), sorted lexicographically; empty when ``capped``.
    counts : (p,) int64
        Occurrences of each row (sum = n unless ``capped``).
    capped : bool
        True when more than the cap of distinct patterns occurred: the histogram was dropped.
    """

    rows: np.ndarray
    counts: np.ndarray
    capped: bool = False

    @classmethod
    def from_matrix(cls, L: np.ndarray, max_patterns: int = DEFAULT_MAX_PATTERNS) -> VotePatterns:
        """The histogram of an (n, m) int label matrix.

        Examples
        --------
        >>> vp = VotePatterns.from_matrix(np.array([[0, -1], [1, 1], [0, -1]]))
        >>> vp.rows.tolist(), vp.counts.tolist()
        ([[0, -1], [1, 1]], [2, 1])
        """
        L = np.asarray(L)
        m = L.shape[1]
        if L.shape[0] == 0:
            return cls(np.zeros((0, m), np.int16), np.zeros(0, np.int64))
        rows, counts = _canonical(L.astype(np.int16), np.ones(len(L), np.int64))
        return cls._capped(rows, counts, max_patterns)

    @classmethod
    def _capped(cls, rows: np.ndarray, counts: np.ndarray, cap: int) -> VotePatterns:
        if len(rows) > cap:
            return cls(np.zeros((0, rows.shape[1]), np.int16), np.zeros(0, np.int64), True)
        return cls(rows, counts)

    def merge(self, other: VotePatterns, max_patterns: int = DEFAULT_MAX_PATTERNS) -> VotePatterns:
        """The histogram of the union of two disjoint row sets (exact)."""
        if self.rows.shape[1] != other.rows.shape[1]:
            raise ValueError(
                f"cannot merge vote patterns of {self.rows.shape[1]} and {other.rows.shape[1]} LFs"
            )
        if self.capped or other.capped:
            return VotePatterns(self.rows[:0], self.counts[:0], True)
        rows, counts = _canonical(
            np.concatenate([self.rows, other.rows]), np.concatenate([self.counts, other.counts])
        )
        return self._capped(rows, counts, max_patterns)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VotePatterns):
            return NotImplemented
        return (
            self.capped == other.capped
            and np.array_equal(self.rows, other.rows)
            and np.array_equal(self.counts, other.counts)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def n(self) -> int:
        """Rows counted (0 when capped)."""
        return int(self.counts.sum())
