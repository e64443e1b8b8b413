"""Label models fit from LF statistics: majority vote and the matrix-completion label model.

Matrix-completion label model (Ratner et al., AAAI 2019), conditionally independent LFs.

Notation: m LFs, k classes, d = m*k one-hot columns. ``mu[i*k + a, y] = P(λ_i = a | Y = y)``
(abstain has no row; ``P(λ_i = -1 | y) = 1 - Σ_a mu[i*k+a, y]``), ``p = P(Y)`` the class balance,
``O = E[x xᵀ]`` the (d, d) second moment of the one-hot LF outputs. Conditional independence gives
``O[ia, jb] = Σ_y mu[ia, y] p_y mu[jb, y]`` for i ≠ j and ``O[ia, ia] = Σ_y mu[ia, y] p_y``. We fit

    minimise  ‖(O − μ diag(p) μᵀ) ⊙ M‖²_F  +  ‖μ p − diag(O)‖²  +  ‖relu(1ᵀ_blk μ − 1)‖²
              + γ ‖μ − μ₀‖²

where M masks out the diagonal (same-LF) blocks, the third term keeps each LF's vote
probabilities per class ≤ 1, and the small ridge γ toward the initialisation μ₀ regularises LFs
whose co-occurrence counts are too sparse to pin their parameters down. It is solved with
deterministic L-BFGS-B (analytic gradient; box 0 ≤ μ ≤ 1). When the class balance is not given it
is estimated jointly (softmax-parameterised p), which is identifiable for ≥ 3 conditionally
independent informative LFs.

Initialisation μ₀ assumes every LF is better than random with precision 0.7 and matches each LF's
observed vote frequencies exactly, which also breaks the label-permutation symmetry ("LFs are better
than random on average"); after fitting, a permutation that would make the LFs worse than random on
average is undone.

Prediction: ``P(y | λ) ∝ p_y Π_i P(λ_i | y)``, computed by per-LF table look-ups in a fixed order,
so each row's probabilities are bit-identical however rows are batched or partitioned.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from wsup_spark.core.errors import ModelError, StatsError
from wsup_spark.labelmodel.stats import LFStats

logger = logging.getLogger(__name__)

_EPS = 1e-6


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


def degenerate_stats_warnings(stats: LFStats) -> list[str]:
    """Human-readable warnings about statistics the label model handles by a fallback.

    * an LF that never votes carries no information: its parameters are zero and it is ignored;
    * fewer than 3 voting LFs: accuracies are not identifiable from second moments, the fit stays
      near the initialisation (every LF at the initial precision);
    * two LFs that vote identically on every row are double-counted under conditional
      independence: drop one or declare the dependency;
    * a class no LF ever votes can only be predicted through the class balance.
    """
    k = stats.k
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
    C = stats.counts
    for x, i in enumerate(active):
        for j in active[x + 1 :]:
            bi, bj = slice(i * k, (i + 1) * k), slice(j * k, (j + 1) * k)
            joint = np.trace(C[bi, bj])
            if joint == votes[i].sum() == votes[j].sum() and np.array_equal(votes[i], votes[j]):
                out.append(
                    f"LFs {names[i]!r} and {names[j]!r} vote identically on every row: they are "
                    "double-counted; drop one or pass it as a dependency"
                )
    silent = np.flatnonzero(votes.sum(axis=0) == 0)
    if len(silent):
        out.append(f"no LF ever votes class(es) {silent.tolist()}: predicted only via the prior")
    return out


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
        return P

    def predict(self, L: np.ndarray) -> np.ndarray:
        """(n,) argmax class (lowest index on ties)."""
        return self.predict_proba(L).argmax(axis=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return {
            "kind": "majority_vote",
            "cardinality": self.cardinality,
            "m": self.m,
            "prior": self.prior.tolist(),
            "lf_names": list(self.lf_names) if self.lf_names else None,
        }


class LabelModel:
    """Conditionally independent matrix-completion label model (see the module docstring).

    Parameters
    ----------
    cardinality : int
        Number of classes k.
    init_precision : float
        Initial P(Y = a | λ_i = a) of every LF (must be > 1/k).
    l2 : float
        Ridge strength γ toward the initialisation.
    max_iter : int
        L-BFGS-B iteration cap.
    """

    def __init__(
        self,
        cardinality: int,
        init_precision: float = 0.7,
        l2: float = 1e-4,
        max_iter: int = 500,
        better_than_random: float = 10.0,
    ) -> None:
        self.cardinality = _check_cardinality(cardinality)
        if not 1.0 / self.cardinality < init_precision < 1.0:
            raise ModelError(f"init_precision must be in (1/k, 1), got {init_precision}")
        self.init_precision = float(init_precision)
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.better_than_random = float(better_than_random)
        self._mu: np.ndarray | None = None
        self._p: np.ndarray | None = None
        self.lf_names: tuple[str, ...] | None = None
        self.fit_info: dict[str, Any] = {}
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        stats: LFStats,
        class_balance: Sequence[float] | np.ndarray | None = None,
        seed: int = 0,
    ) -> LabelModel:
        """Fit from statistics only (never n-sized data); returns self.

        Parameters
        ----------
        stats : LFStats
            With ``stats.k == cardinality``.
        class_balance : (k,) optional
            Fix P(Y); estimated jointly when None.
        seed : int
            Accepted for API stability; the optimiser is deterministic.
        """
        from scipy.optimize import minimize

        k = self.cardinality
        if stats.k != k:
            raise StatsError(
                f"LF statistics have k={stats.k} but the label model has cardinality={k}; set "
                "lfs.cardinality to the number of classes the LFs vote"
            )
        if stats.n == 0:
            raise ModelError("cannot fit a label model on zero rows of LF statistics")
        m, d = stats.m, stats.d
        O = stats.O
        diagO = np.diag(O).copy()
        fixed_p = None
        if class_balance is not None:
            fixed_p = np.asarray(class_balance, float)
            if fixed_p.shape != (k,) or (fixed_p <= 0).any():
                raise ModelError(f"class_balance must be {k} positive numbers, got {fixed_p}")
            fixed_p = fixed_p / fixed_p.sum()
        p0 = fixed_p if fixed_p is not None else self._init_balance(stats)
        mu0 = self._init_mu(diagO.reshape(m, k), p0)
        mask = np.ones((d, d))
        for i in range(m):
            mask[i * k : (i + 1) * k, i * k : (i + 1) * k] = 0.0
        never = stats.vote_counts.sum(axis=1) == 0
        self.warnings = degenerate_stats_warnings(stats)
        for w in self.warnings:
            logger.warning(w)
        n_free_mu = d * k

        def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mu = theta[:n_free_mu].reshape(d, k)
            if fixed_p is not None:
                return mu, fixed_p
            z = theta[n_free_mu:]
            e = np.exp(z - z.max())
            return mu, e / e.sum()

        gamma = self.l2
        rho = self.better_than_random
        rows = np.arange(d)
        cls = rows % k  # the class each one-hot row votes

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            mu, p = unpack(theta)
            muP = mu * p
            R = (O - muP @ mu.T) * mask
            r2 = mu @ p - diagO
            s = mu.reshape(m, k, k).sum(axis=1)  # (m, k): Σ_a mu[ia, y]
            over = np.maximum(s - 1.0, 0.0)
            dmu0 = mu - mu0
            # better-than-random: P(Y=a | λ_i=a) >= 1/k, i.e. v = Σ_y muP[ia,y]/k - muP[ia,a] <= 0
            v = np.maximum(muP.sum(axis=1) / k - muP[rows, cls], 0.0)
            loss = float(
                (R * R).sum()
                + r2 @ r2
                + (over * over).sum()
                + gamma * (dmu0 * dmu0).sum()
                + rho * (v @ v)
            )
            g_mu = -4.0 * (R @ muP) + 2.0 * np.outer(r2, p) + 2.0 * gamma * dmu0
            g_mu += 2.0 * rho * v[:, None] * (p[None, :] / k)
            g_mu[rows, cls] -= 2.0 * rho * v * p[cls]
            g_mu += 2.0 * np.broadcast_to(over[:, None, :], (m, k, k)).reshape(d, k)
            grad = [g_mu.ravel()]
            if fixed_p is None:
                g_p = -2.0 * np.einsum("ay,ab,by->y", mu, R, mu) + 2.0 * (mu.T @ r2)
                g_p += 2.0 * rho * (mu.T @ v) / k
                g_p -= 2.0 * rho * np.bincount(cls, weights=v * mu[rows, cls], minlength=k)
                grad.append(p * (g_p - p @ g_p))  # through the softmax
            return loss, np.concatenate(grad)

        theta0 = [mu0.ravel()]
        bounds = [(0.0, 1.0)] * n_free_mu
        if fixed_p is None:
            theta0.append(np.log(p0))
            bounds += [(-10.0, 10.0)] * k
        res = minimize(
            objective,
            np.concatenate(theta0),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": self.max_iter, "ftol": 1e-15, "gtol": 1e-10},
        )
        mu, p = unpack(res.x)
        mu = mu.copy()
        mu[never.repeat(k)] = 0.0
        self._mu, self._p = mu, p.copy()
        self._undo_flipped_permutation()
        self.lf_names = stats.lf_names
        self.fit_info = {
            "iterations": int(res.nit),
            "loss": float(res.fun),
            "converged": bool(res.success),
            "message": str(res.message),
        }
        logger.info("label model fit: %d iterations, loss %.3e", res.nit, res.fun)
        return self

    def _init_balance(self, stats: LFStats) -> np.ndarray:
        """Vote-share prior: each class's share of all votes, smoothed and clipped away from 0."""
        votes = stats.vote_counts.sum(axis=0).astype(float) + 1.0
        p = votes / votes.sum()
        p = np.clip(p, 0.05, None)
        return p / p.sum()

    def _init_mu(self, freq: np.ndarray, p: np.ndarray) -> np.ndarray:
        """μ₀ consistent with the observed vote frequencies ``freq`` (m, k) at fixed precision.

        ``P(λ_i=a | y) = P(y | λ_i=a) P(λ_i=a) / p_y`` with ``P(y=a | λ_i=a) = init_precision``.
        """
        m, k = freq.shape
        prec = self.init_precision
        post = np.full((k, k), (1.0 - prec) / (k - 1))
        np.fill_diagonal(post, prec)  # post[a, y] = P(Y=y | λ=a)
        mu = (freq[:, :, None] * post[None, :, :] / p[None, None, :]).reshape(m * k, k)
        return np.clip(mu, 0.0, 1.0)

    def _undo_flipped_permutation(self) -> None:
        """If the fitted classes make LFs worse than random on average, permute them back."""
        import itertools

        assert self._mu is not None and self._p is not None
        k = self.cardinality
        if k > 6:  # k! permutations; larger k relies on the initialisation alone
            return
        best, best_acc = None, -1.0
        for perm in itertools.permutations(range(k)):
            acc = float(np.nanmean(self._accuracies(self._mu[:, perm], self._p[list(perm)])))
            if acc > best_acc + 1e-12:
                best, best_acc = perm, acc
        if best is not None and list(best) != list(range(k)):
            logger.warning("label model converged to a permuted solution; undoing it")
            self._mu = self._mu[:, best]
            self._p = self._p[list(best)]

    # ------------------------------------------------------------------ parameters
    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._mu is None or self._p is None:
            raise ModelError("the label model is not fitted: call fit(stats) first")
        return self._mu, self._p

    @property
    def mu(self) -> np.ndarray:
        """(d, k) ``P(λ_i = a | Y = y)``."""
        return self._fitted()[0].copy()

    @property
    def class_balance(self) -> np.ndarray:
        """(k,) estimated or given ``P(Y)``."""
        return self._fitted()[1].copy()

    def _accuracies(self, mu: np.ndarray, p: np.ndarray) -> np.ndarray:
        k = self.cardinality
        m = mu.shape[0] // k
        blocks = mu.reshape(m, k, k)  # [i, a, y]
        correct = np.einsum("iyy,y->i", blocks, p)
        voted = np.einsum("iay,y->i", blocks, p)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(voted > 0, correct / np.maximum(voted, 1e-300), np.nan)

    @property
    def accuracies(self) -> np.ndarray:
        """(m,) learned ``P(λ_i = Y | λ_i ≠ abstain)`` (NaN for LFs that never vote)."""
        mu, p = self._fitted()
        return self._accuracies(mu, p)

    # ------------------------------------------------------------------ prediction
    def _log_tables(self) -> np.ndarray:
        """(m, k+1, k) log P(λ_i = a | y), row k holding abstain."""
        mu, _ = self._fitted()
        k = self.cardinality
        m = mu.shape[0] // k
        blocks = np.clip(mu.reshape(m, k, k), _EPS, 1.0 - _EPS)
        abst = np.clip(1.0 - mu.reshape(m, k, k).sum(axis=1), _EPS, 1.0)
        return np.log(np.concatenate([blocks, abst[:, None, :]], axis=1))

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """(n, k) ``P(Y | λ)`` for an (n, m) vote matrix (-1 = abstain); rows sum to 1, no NaN."""
        mu, p = self._fitted()
        k = self.cardinality
        m = mu.shape[0] // k
        L = _check_L(L, m, k)
        T = self._log_tables()
        idx = np.where(L < 0, k, L)
        ll = np.broadcast_to(np.log(np.clip(p, _EPS, 1.0)), (L.shape[0], k)).copy()
        for i in range(m):
            ll += T[i][idx[:, i]]
        ll -= ll.max(axis=1, keepdims=True)
        P = np.exp(ll)
        return P / P.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def predict(self, L: np.ndarray) -> np.ndarray:
        """(n,) argmax class (lowest index on ties)."""
        return self.predict_proba(L).argmax(axis=1)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        mu, p = self._fitted()
        return {
            "kind": "label_model",
            "cardinality": self.cardinality,
            "init_precision": self.init_precision,
            "l2": self.l2,
            "max_iter": self.max_iter,
            "mu": mu.tolist(),
            "class_balance": p.tolist(),
            "lf_names": list(self.lf_names) if self.lf_names else None,
            "fit_info": self.fit_info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelModel:
        """Inverse of :meth:`to_dict`."""
        if d.get("kind") != "label_model":
            raise ModelError(f"not label-model parameters (kind={d.get('kind')!r})")
        model = cls(d["cardinality"], d["init_precision"], d["l2"], d["max_iter"])
        model._mu = np.asarray(d["mu"], float)
        model._p = np.asarray(d["class_balance"], float)
        model.lf_names = tuple(d["lf_names"]) if d.get("lf_names") else None
        model.fit_info = dict(d.get("fit_info") or {})
        return model

    def save(self, path: str) -> None:
        """Write the parameters as JSON (no pickle)."""
        with open(path, "w") as f:
            json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path: str) -> LabelModel:
        """Read parameters written by :meth:`save`."""
        with open(path) as f:
            return cls.from_dict(json.load(f))
