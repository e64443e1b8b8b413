"""Baseline label models: majority vote (fit from LF statistics, like every model here)."""

from __future__ import annotations

from typing import Any

import numpy as np

from wsup_spark.core.errors import ModelError, StatsError
from wsup_spark.labelmodel.stats import LFStats


def _check_L(L: np.ndarray, m: int, k: int) -> np.ndarray:
    L = np.asarray(L)
    if L.ndim != 2 or L.shape[1] != m:
        raise ModelError(f"L must have shape (n, {m}) for a model fit on {m} LFs, got {L.shape}")
    if L.size and (L.min() < -1 or L.max() >= k):
        raise ModelError(f"L holds votes outside -1..{k - 1}")
    return L.astype(np.int64, copy=False)


def _check_cardinality(k: int) -> int:
    k = int(k)
    if k < 2:
        raise ModelError(f"cardinality must be >= 2, got {k}")
    return k


class MajorityVote:
    """Majority vote over non-abstaining LFs; ties split uniformly; no votes → prior.

    Examples
    --------
    >>> mv = MajorityVote(2)
    >>> mv.predict_proba(np.array([[0, 0, 1], [-1, -1, -1], [0, 1, -1]])).tolist()
    [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]]
    """

    def __init__(self, cardinality: int) -> None:
        self.cardinality = _check_cardinality(cardinality)
        self.m: int | None = None
        self.prior = np.full(self.cardinality, 1.0 / self.cardinality)
        self.lf_names: tuple[str, ...] | None = None

    def fit(self, stats: LFStats, class_balance: Any = None, **_: Any) -> MajorityVote:
        """Record m (and an optional prior for rows without votes); returns self."""
        if stats.k != self.cardinality:
            raise StatsError(f"stats have k={stats.k}, model cardinality={self.cardinality}")
        self.m, self.lf_names = stats.m, stats.lf_names
        if class_balance is not None:
            self.prior = np.asarray(class_balance, float) / np.sum(class_balance)
        return self

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """(n, k) probabilities."""
        L = np.asarray(L)
        k = self.cardinality
        L = _check_L(L, L.shape[1] if L.ndim == 2 else -1, k)
        counts = np.zeros((L.shape[0], k))
        for a in range(k):
            counts[:, a] = (L == a).sum(axis=1)
        top = counts.max(axis=1, keepdims=True)
        winners = (counts == top) & (top > 0)
        P = winners / np.maximum(winners.sum(axis=1, keepdims=True), 1)
        none = top[:, 0] == 0
        P[none] = self.prior
        return np.asarray(P, float)

    def predict(self, L: np.ndarray) -> np.ndarray:
        """(n,) argmax class (lowest index on ties)."""
        return np.asarray(self.predict_proba(L).argmax(axis=1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return {
            "kind": "majority_vote",
            "cardinality": self.cardinality,
            "m": self.m,
            "prior": self.prior.tolist(),
            "lf_names": list(self.lf_names) if self.lf_names else None,
        }
