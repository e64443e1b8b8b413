"""Baseline label models: majority vote (fit from LF statistics, like every model here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from wsup_spark.errors import ModelError
from wsup_spark.labelmodel.base import BaseLabelModel, check_votes
from wsup_spark.stats.lfstats import LFStats


class MajorityVote(BaseLabelModel):
    """Majority vote over non-abstaining LFs; ties split uniformly; no votes → prior.

    Examples
    --------
    >>> mv = MajorityVote(2)
    >>> mv.predict_proba(np.array([[0, 0, 1], [-1, -1, -1], [0, 1, -1]])).tolist()
    [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]]
    """

    kind = "majority_vote"
    display_name = "majority vote"

    def __init__(self, cardinality: int) -> None:
        super().__init__(cardinality)
        self.m: int | None = None
        self.prior = np.full(self.cardinality, 1.0 / self.cardinality)

    def fit(
        self, stats: LFStats, class_balance: Any = None, dependencies: Any = None
    ) -> MajorityVote:
        """Record m (and an optional prior for rows without votes); returns self."""
        self.check_stats(stats)
        self.m, self.lf_names = stats.m, stats.lf_names
        if class_balance is not None:
            self.prior = np.asarray(class_balance, float) / np.sum(class_balance)
        return self

    @property
    def class_balance(self) -> np.ndarray:
        """(k,) the prior of rows without votes (uniform unless given to :meth:`fit`)."""
        return self.prior.copy()

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """(n, k) probabilities."""
        L = np.asarray(L)
        k = self.cardinality
        L = check_votes(L, L.shape[1] if L.ndim == 2 else -1, k)
        counts = np.zeros((L.shape[0], k))
        for a in range(k):
            counts[:, a] = (L == a).sum(axis=1)
        top = counts.max(axis=1, keepdims=True)
        winners = (counts == top) & (top > 0)
        P = winners / np.maximum(winners.sum(axis=1, keepdims=True), 1)
        none = top[:, 0] == 0
        P[none] = self.prior
        return np.asarray(P, float)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return {
            "kind": "majority_vote",
            "cardinality": self.cardinality,
            "m": self.m,
            "prior": self.prior.tolist(),
            "lf_names": list(self.lf_names) if self.lf_names else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MajorityVote:
        """Inverse of :meth:`to_dict`."""
        if d.get("kind") != cls.kind:
            raise ModelError(f"not majority-vote parameters (kind={d.get('kind')!r})")
        mv = cls(int(d["cardinality"]))
        mv.m = None if d.get("m") is None else int(d["m"])
        mv.prior = np.asarray(d.get("prior") or mv.prior, float)
        mv.lf_names = tuple(d["lf_names"]) if d.get("lf_names") else None
        return mv


class DawidSkene(BaseLabelModel):
    """Dawid-Skene EM (1979) on the histogram of distinct vote patterns.

    Each LF i has a confusion matrix ``theta[i, y, a] = P(λ_i = a | Y = y)`` over the k + 1
    outcomes ``a ∈ {abstain, 0, …, k-1}`` (column 0 = abstain) and the classes a prior ``p``.
    Abstains are observations, as in WRENCH's Dawid-Skene: with abstains as missing data a
    unipolar LF (one class or abstain — most real LFs) would carry no information at all. EM
    alternates per-pattern posteriors ``T[r, y] ∝ p_y Π_i theta[i, y, λ_ri]`` (E) and
    count-weighted re-estimates of ``p`` and ``theta`` with add-``smoothing`` (Dirichlet)
    pseudo-counts (M). Rows with the same votes are exchangeable, so the pattern histogram of
    :class:`~.patterns.VotePatterns` (collected with
    ``LFStats.from_matrix(..., patterns=True)`` / ``compute_stats(..., patterns=True)``, or by the
    pipeline for ``label_model.kind: dawid_skene``) is an exact sufficient statistic: the fit never
    sees n-sized data. Initialised from majority vote, which also fixes the label permutation;
    deterministic (no randomness).

    Prediction ``P(y | λ) ∝ p_y Π_i theta[i, y, λ_i]`` is per-LF table look-ups in a fixed
    order, bit-identical however rows are batched.

    Examples
    --------
    >>> L = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 1], [1, 1, -1]] * 25)
    >>> ds = DawidSkene(2).fit(LFStats.from_matrix(L, 2, patterns=True))
    >>> ds.predict(np.array([[0, 0, 1], [-1, 1, 1]])).tolist()
    [0, 1]
    """

    kind = "dawid_skene"
    display_name = "Dawid-Skene model"
    needs_patterns = True

    def __init__(
        self, cardinality: int, max_iter: int = 200, tol: float = 1e-7, smoothing: float = 1.0
    ) -> None:
        super().__init__(cardinality)
        self.max_iter, self.tol, self.smoothing = int(max_iter), float(tol), float(smoothing)
        self.theta: np.ndarray | None = None  # (m, k, k + 1)
        self.p: np.ndarray | None = None  # (k,)

    def fit(
        self, stats: LFStats, class_balance: Any = None, dependencies: Any = None
    ) -> DawidSkene:
        """EM on ``stats.patterns``; ``class_balance`` fixes ``p`` instead of estimating it.
        ``dependencies`` are not modelled by Dawid-Skene and are ignored."""
        from scipy import sparse

        k = self.cardinality
        self.check_stats(stats)
        vp = stats.patterns
        if vp is None or vp.capped:
            why = "were not collected" if vp is None else "overflowed their cap"
            raise ModelError(
                f"Dawid-Skene needs the histogram of vote patterns, which {why}: compute the "
                "statistics with patterns=True (the pipeline does for label_model.kind: "
                "dawid_skene), or use label_model.kind: label_model when the LFs produce too many "
                "distinct vote patterns"
            )
        m, o = stats.m, k + 1  # o outcomes per LF: abstain, 0..k-1
        R, c = vp.rows.astype(np.int64) + 1, vp.counts.astype(np.float64)
        r, i = np.nonzero(np.ones_like(R, bool))
        # one-hot (patterns, m*o) of the outcomes, sparse
        X = sparse.csr_matrix((np.ones(len(r)), (r, i * o + R[r, i])), shape=(len(R), m * o))
        fixed = None if class_balance is None else np.asarray(class_balance, float)
        if fixed is not None:
            fixed = fixed / fixed.sum()
        # init: majority vote (ties split, no votes → uniform)
        votes = np.asarray(X @ np.tile(np.eye(o)[:, 1:], (m, 1)))  # (p, k) votes per class
        top = votes.max(axis=1, keepdims=True)
        T = np.where((votes == top) & (top > 0), 1.0, 0.0)
        T[top[:, 0] == 0] = 1.0
        T /= T.sum(axis=1, keepdims=True)
        a = self.smoothing
        it, delta, loglik = 0, np.inf, -np.inf
        while it < self.max_iter:
            it += 1
            W = T * c[:, None]  # (p, k) expected class counts per pattern
            p = fixed if fixed is not None else (W.sum(axis=0) + a) / (W.sum() + k * a)
            num = np.asarray(X.T @ W).reshape(m, o, k).transpose(0, 2, 1) + a  # [i, y, a]
            theta = num / num.sum(axis=2, keepdims=True)
            logt = np.log(theta).transpose(0, 2, 1).reshape(m * o, k)  # [(i, a), y]
            S = np.log(p)[None, :] + np.asarray(X @ logt)
            mx = S.max(axis=1, keepdims=True)
            T_new = np.exp(S - mx)
            z = T_new.sum(axis=1, keepdims=True)
            T_new /= z
            loglik = float((c * (mx[:, 0] + np.log(z[:, 0]))).sum())
            delta = float(np.abs(T_new - T).max())
            T = T_new
            if delta < self.tol:
                break
        self.theta, self.p, self.lf_names = theta, p, stats.lf_names
        self.fit_info = {"iterations": it, "converged": bool(delta < self.tol),
                         "log_likelihood": loglik, "patterns": len(R)}  # fmt: skip
        return self

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.theta is None or self.p is None:
            raise ModelError("DawidSkene is not fitted: call fit(stats) first")
        return self.theta, self.p

    @property
    def class_balance(self) -> np.ndarray:
        """(k,) estimated P(Y)."""
        return self._fitted()[1].copy()

    @property
    def accuracies(self) -> np.ndarray:
        """(m,) P(λ_i = Y | λ_i votes) under the fitted model."""
        theta, p = self._fitted()
        votes = theta[:, :, 1:]  # (m, k, k) P(λ = a | y), a voted
        right = np.diagonal(votes, axis1=1, axis2=2) @ p  # P(λ = Y)
        cover = votes.sum(axis=2) @ p  # P(λ votes)
        return np.asarray(right / np.maximum(cover, 1e-12))

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """(n, k) posteriors."""
        theta, p = self._fitted()
        L = check_votes(L, theta.shape[0], self.cardinality)
        S = np.tile(np.log(p), (len(L), 1))
        logt = np.log(theta)  # (m, k, k) [i, y, a]
        for i in range(theta.shape[0]):  # fixed order: bit-identical across batchings
            S += logt[i][:, L[:, i] + 1].T
        S -= S.max(axis=1, keepdims=True)
        P = np.exp(S)
        return np.asarray(P / P.sum(axis=1, keepdims=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        theta, p = self._fitted()
        return {"kind": "dawid_skene", "cardinality": self.cardinality, "theta": theta.tolist(),
                "p": p.tolist(), "lf_names": list(self.lf_names) if self.lf_names else None,
                "fit_info": self.fit_info}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DawidSkene:
        """Inverse of :meth:`to_dict`."""
        if d.get("kind") != cls.kind:
            raise ModelError(f"not Dawid-Skene parameters (kind={d.get('kind')!r})")
        ds = cls(int(d["cardinality"]))
        ds.theta, ds.p = np.asarray(d["theta"], float), np.asarray(d["p"], float)
        ds.lf_names = tuple(d["lf_names"]) if d.get("lf_names") else None
        ds.fit_info = dict(d.get("fit_info") or {})
        return ds
