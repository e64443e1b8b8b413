"""Random-effects (empirical Bayes) shrinkage of per-LF accuracy estimates.

Each LF's accuracy estimate ``a_i`` comes from the agreements of that LF with the others, i.e. from
its ``n_i`` overlap rows; its sampling variance is ``v_i = κ ā(1 − ā) / n_i`` where ``ā`` is the
pooled accuracy and ``κ ≥ 1`` the overdispersion of the moment fit (how much worse the
conditional-independence model explains the co-occurrences than sampling noise would). The true
accuracies are modelled as drawn around a common mean with between-LF variance ``τ²``, estimated by
the DerSimonian–Laird method of moments (the standard random-effects meta-analysis estimator), and
each estimate is replaced by its posterior mean

    â_i = B_i m + (1 − B_i) a_i,     B_i = v_i / (v_i + τ²),

with ``m`` the random-effects mean. No constant is tuned: when the data cannot tell LFs apart
(``τ² = 0``: sparse overlaps, or strong dependencies inflating κ) every LF gets the same accuracy
and the label model reduces exactly to majority vote; with abundant, well-modelled overlaps
(κ ≈ 1, large n_i) the estimates are kept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shrinkage:
    """Result of :func:`shrink_accuracies`.

    Attributes
    ----------
    accuracies : (m,) float64
        Shrunk accuracies (NaN where the input was NaN).
    mean : float
        Random-effects mean ``m`` (NaN when no LF overlaps another).
    tau2 : float
        Between-LF variance ``τ²``.
    weight : (m,) float64
        ``B_i`` (1 = fully pooled).
    """

    accuracies: np.ndarray
    mean: float
    tau2: float
    weight: np.ndarray


def random_effects(x: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """DerSimonian–Laird pooling of estimates x (n,) with sampling variances v (n,): (pooled
    mean, its standard error, τ²), τ² the between-estimate variance that their disagreement beyond
    sampling noise (Cochran's Q) implies, added to each one's own variance. τ² = 0 (the
    fixed-effect mean) for a single estimate."""
    w = 1.0 / v
    mean_fe = float((w * x).sum() / w.sum())
    q = float((w * (x - mean_fe) ** 2).sum())
    denom = float(w.sum() - (w * w).sum() / w.sum())
    tau2 = max(0.0, (q - (len(x) - 1)) / denom) if len(x) > 1 and denom > 0 else 0.0
    if tau2 == 0.0:
        return mean_fe, float(np.sqrt(1.0 / w.sum())), 0.0
    wr = 1.0 / (v + tau2)
    return float((wr * x).sum() / wr.sum()), float(np.sqrt(1.0 / wr.sum())), tau2


def shrink_accuracies(
    acc: np.ndarray, n_obs: np.ndarray, kappa: float | np.ndarray = 1.0
) -> Shrinkage:
    """DerSimonian–Laird shrinkage of accuracies ``acc`` estimated from ``n_obs`` rows each.

    Parameters
    ----------
    acc : (m,) float64
        Raw estimates (NaN for LFs that never vote: left NaN).
    n_obs : (m,) int or float
        Rows each estimate rests on (overlap rows); LFs with 0 get the pooled mean.
    kappa : float or (m,) float64
        Overdispersion factor(s) (≥ 1) multiplying the binomial sampling variance: one for all
        LFs, or one per LF.

    Examples
    --------
    Identical estimates are not shrunk; LFs with no overlaps get the mean; heterogeneous, well
    supported estimates are kept nearly as they are:

    >>> shrink_accuracies(np.array([0.8, 0.8, 0.8]), np.array([50, 50, 0])).accuracies.tolist()
    [0.8, 0.8, 0.8]
    >>> s = shrink_accuracies(np.array([0.95, 0.6, 0.75]), np.array([5000, 5000, 5000]))
    >>> s.accuracies.round(3).tolist(), bool(s.tau2 > 0)
    ([0.95, 0.6, 0.75], True)

    With few overlaps the same spread is indistinguishable from noise: all pooled (= majority
    vote):

    >>> s = shrink_accuracies(np.array([0.95, 0.6, 0.75]), np.array([3, 3, 3]))
    >>> s.accuracies.round(3).tolist(), s.tau2
    ([0.767, 0.767, 0.767], 0.0)
    """
    acc = np.asarray(acc, float)
    n_obs = np.asarray(n_obs, float)
    out = acc.copy()
    weight = np.ones_like(acc)
    ok = np.isfinite(acc) & (n_obs > 0)
    if not ok.any():
        return Shrinkage(out, float("nan"), 0.0, weight)
    a, nn = acc[ok], n_obs[ok]
    pooled = float((a * nn).sum() / nn.sum())
    # binomial variance at the pooled accuracy, floored at one count's worth of resolution
    base = max(pooled * (1.0 - pooled), 1.0 / nn.sum())
    kap = np.maximum(np.broadcast_to(np.asarray(kappa, float), acc.shape)[ok], 1.0)
    v = kap * base / nn
    mean, _, tau2 = random_effects(a, v)
    b = v / (v + tau2) if tau2 > 0.0 else np.ones_like(v)
    out[ok] = b * mean + (1.0 - b) * a
    weight[ok] = b
    out[np.isfinite(acc) & ~ok] = mean
    return Shrinkage(out, mean, tau2, weight)
