"""The two-class balance from third-order LF agreement (``balance="auto"``, k = 2).

Why: with two classes the centred second moment of the one-hot votes is rank one,
``Σ = p₀p₁ δδᵀ`` with ``δ = μ₁ − μ₀`` (one entry per one-hot column), and every balance p in an
interval reproduces it with other columns μ. Pairwise statistics cannot tell a 8%-positive relation
set from a 50% one; the third moment can. For columns a, b, c of three conditionally independent
LFs, given Y their centred indicators are ``(Y − p₁) δ`` plus independent noise, so

    T_abc = E[(x_a − x̄_a)(x_b − x̄_b)(x_c − x̄_c)] = p₀p₁(p₀ − p₁) δ_a δ_b δ_c
    Σ_ab Σ_ac Σ_bc = (p₀p₁)³ (δ_a δ_b δ_c)²

and each triplet gives ``s = T_abc · sign(δ_a δ_b δ_c) / √(Σ_ab Σ_ac Σ_bc) = (p₀ − p₁)/√(p₀p₁)``,
whence ``p₁ = 1/2 − s / (2√(s² + 4))``. The sign of δ_a is the one the column's class gives a
better-than-random LF (+ for a vote for class 1, − for class 0).

Which triplets: columns of three LFs no declared or learned dependency links (same dependency
component excluded), every pair of them correlated with the sign that orientation predicts and
significantly so (``|corr|·√n ≥ 3``). An LF worse than random for the class it votes (whose
correlations have the wrong sign) and LFs that never meet drop out.

How sure: each triplet's s has a standard error from its sampling variance,
``Var(T̂) ≈ (E[Π (x_u − x̄_u)²] − T²)/n``, which for indicators (``(x − x̄)² = x(1 − 2x̄) + x̄²``)
needs only moments up to third order. The triplets are pooled as a random-effects meta-analysis
(DerSimonian-Laird, :func:`~wsup_spark.labelmodel.shrinkage.random_effects`, the pooling the
accuracies' shrinkage uses): how much more they disagree than sampling noise explains (Cochran's Q;
dependence the model did not learn, LFs that are not better than random for their class) becomes
a between-triplet variance τ² added to each. Triplets share LFs, so they are not independent
draws: the standard error is the larger of the pooled one and a leave-one-LF-out jackknife's
(which sees an estimate that rests on one LF's triplets — radiology's negation-trap LFs; with fewer
than three LFs to leave out it is infinite). The balance used is the *least skewed one within two
standard errors*, ``|s| − 2·se``: when that interval reaches s = 0 (balanced) the third moments
cannot tell, and the caller keeps its second-moment choice.

The orientation is an assumption the moments cannot check: swapping the class names and every
δ's sign leaves them unchanged. An LF voting the 93% class that is right only 62% of the time fires
more often on the *other* class; triplets of such LFs say the class they vote is rare. Where LFs
of both kinds vote, their triplets disagree, τ² grows and the estimate is not used.

numpy only; the cost is O(triplets) ≤ C(d, 3) over the (d, d, d) counts, independent of n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.labelmodel.shrinkage import random_effects

__all__ = ["PAIR_Z", "SPREAD", "TripletBalance", "triplet_balance"]

#: A pair of columns enters a triplet only if its correlation is this many standard errors from 0.
PAIR_Z = 3.0
#: Standard errors by which the estimate is pulled towards 1/2 (a 95% interval).
SPREAD = 2.0


def _balance_of(s: float) -> np.ndarray:
    """(2,) class balance whose ``(p₀ − p₁)/√(p₀p₁)`` is s."""
    p1 = 0.5 - s / (2.0 * np.sqrt(s * s + 4.0))
    return np.array([1.0 - p1, p1])


@dataclass(frozen=True)
class TripletBalance:
    """Result of :func:`triplet_balance`.

    Attributes
    ----------
    estimate : (2,)
        The balance of the pooled s.
    balance : (2,) or None
        The least skewed balance within ``SPREAD`` standard errors; None when that
        interval includes the uniform balance (the third moments cannot tell).
    s, se : float
        Pooled ``(p₀ − p₁)/√(p₀p₁)`` and its standard error (the larger of the random-effects
        and the leave-one-LF-out jackknife error; inf with fewer than 3 LFs to leave out).
    tau2 : float
        Between-triplet variance of s beyond sampling noise (DerSimonian-Laird).
    triplets : int
        Triplets pooled.
    """

    estimate: np.ndarray
    balance: np.ndarray | None
    s: float
    se: float
    tau2: float
    triplets: int

    def to_info(self) -> dict[str, Any]:
        """JSON-safe ``fit_info["balance_triplets"]``."""
        return {
            "estimate": self.estimate.tolist(),
            "used": None if self.balance is None else self.balance.tolist(),
            "s": self.s,
            "se": self.se if np.isfinite(self.se) else None,
            "tau2": float(self.tau2),
            "triplets": self.triplets,
        }


def triplet_balance(
    counts: np.ndarray, triples: np.ndarray, n: int, component: np.ndarray
) -> TripletBalance | None:
    """The two-class balance from third-order counts (module docstring), or None without a
    usable triplet.

    Parameters
    ----------
    counts : (d, d) int
        Co-occurrence counts of the one-hot columns (d = 2m, column ``2i + a``: LF i votes a).
    triples : (d, d, d) int
        ``Σ_r x_ra x_rb x_rc`` for columns of three different LFs.
    n : int
        Rows.
    component : (m,) int
        Dependency component of each LF (declared and learned); LFs of one component never
        share a triplet.
    """
    d = counts.shape[0]
    if n < 2 or d < 6:
        return None
    m1 = np.diag(counts) / n  # (d,) E[x]
    S2 = counts / n  # (d, d) E[x xᵀ]
    C = S2 - np.outer(m1, m1)
    var = m1 * (1.0 - m1)
    sign = np.where(np.arange(d) % 2 == 1, 1.0, -1.0)
    lf = np.arange(d) // 2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = C * np.sqrt(n) / np.sqrt(np.outer(var, var))
    ok = (
        (var[:, None] > 0) & (var[None, :] > 0)
        & (np.sign(C) == np.outer(sign, sign)) & (np.abs(z) >= PAIR_Z)
        & (component[lf][:, None] != component[lf][None, :])
    )  # fmt: skip
    a, b = np.nonzero(np.triu(ok, 1))
    if not len(a):
        return None
    # extend each good pair (a < b) by every c > b good with both
    A, B, Cc = [], [], []
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        cs = np.flatnonzero(ok[i, j + 1 :] & ok[j, j + 1 :]) + j + 1
        A += [i] * len(cs)
        B += [j] * len(cs)
        Cc += cs.tolist()
    if not A:
        return None
    ia, ib, ic = np.array(A), np.array(B), np.array(Cc)
    E3 = triples[ia, ib, ic] / n
    ma, mb, mc = m1[ia], m1[ib], m1[ic]
    sab, sac, sbc = S2[ia, ib], S2[ia, ic], S2[ib, ic]
    T = E3 - ma * sbc - mb * sac - mc * sab + 2.0 * ma * mb * mc
    # E[Π (x_u − x̄_u)²], (x − x̄)² = α x + β with α = 1 − 2x̄, β = x̄²
    al = [1.0 - 2.0 * v for v in (ma, mb, mc)]
    be = [v * v for v in (ma, mb, mc)]
    sq = (
        be[0] * be[1] * be[2]
        + al[0] * ma * be[1] * be[2] + al[1] * mb * be[0] * be[2] + al[2] * mc * be[0] * be[1]
        + al[0] * al[1] * sab * be[2] + al[0] * al[2] * sac * be[1] + al[1] * al[2] * sbc * be[0]
        + al[0] * al[1] * al[2] * E3
    )  # fmt: skip
    den = np.sqrt(C[ia, ib] * C[ia, ic] * C[ib, ic])
    orient = sign[ia] * sign[ib] * sign[ic]
    s = T * orient / den
    se = np.sqrt(np.maximum(sq - T * T, 1e-300) / n) / den
    s_bar, se_re, tau2 = random_effects(s, se**2)
    # triplets share LFs: a leave-one-LF-out jackknife measures how much the estimate rests on
    # any single LF (a dependence only one LF's triplets carry), which the pooled error ignores
    members = np.stack([lf[ia], lf[ib], lf[ic]], axis=1)
    keeps = [~(members == j).any(axis=1) for j in np.unique(members)]
    loo = np.array([random_effects(s[keep], se[keep] ** 2)[0] for keep in keeps if keep.any()])
    g = len(loo)
    se_jack = float(np.sqrt((g - 1) / g * ((loo - loo.mean()) ** 2).sum())) if g >= 3 else np.inf
    se_bar = max(se_re, se_jack)
    shrunk = max(0.0, abs(s_bar) - SPREAD * se_bar)
    return TripletBalance(
        estimate=_balance_of(s_bar),
        balance=_balance_of(float(np.sign(s_bar)) * shrunk) if shrunk > 0 else None,
        s=s_bar, se=se_bar, tau2=tau2, triplets=len(s),
    )  # fmt: skip
