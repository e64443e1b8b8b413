"""LF dependency structure learned from the second moment: sparse + low-rank, then a test.

Notation: m LFs, k classes, one-hot columns ``r = i*k + a`` (LF i votes a), ``O = E[x xᵀ]`` (d, d)
from :class:`~wsup_spark.stats.lfstats.LFStats`, ``x̄ = diag(O)`` (a one-hot column's mean is its
vote frequency). Only *active* columns (that ever fired), d_a of them, are used.

With one latent class Y and LFs conditionally independent given Y, the covariance splits as

    Σ = O − x̄ x̄ᵀ = E[Cov(x | Y)] + Cov(E[x | Y]) = D + μ (diag(p) − p pᵀ) μᵀ,

D block-diagonal (one block per LF) and the second term of rank k − 1; by Woodbury the inverse
covariance is then block-diagonal minus rank k − 1 — the sparse + low-rank structure of Varma
et al. (ICML 2019). A dependency between LFs i and j (copies, a shared dictionary or regex) puts a
non-zero (i, j) block into D, i.e. co-occurrences the rank-(k − 1) class signal does not explain.
We decompose the correlation matrix ``R = Σ / (s sᵀ)`` (s = column standard deviations) on the
cross-LF entries as ``R = L + S`` with L of rank ≤ k − 1 (PSD) and S sparse, by alternating
projections with a decreasing hard threshold (AltProj, Netrapalli et al., NeurIPS 2014; the
within-LF blocks are unobserved and imputed from L). Entries in S do not pull on L, so a few
strongly dependent pairs cannot bend the class signal toward themselves. The first threshold is
the largest entry a spread-out class signal could have; a dense cluster of dependent LFs (copies of
a weak LF) can outweigh the class signal's spectral norm and sit below it, and the rank-(k − 1)
part then absorbs the cluster. The continuation is therefore also restarted from its second
threshold, and the decomposition with the smaller *robust loss* — each cross-LF cell's Poisson
deviance, capped at the test's threshold² (an unexplained cell costs one edge's worth) — is kept
(the L0-penalised fit that hard thresholding approximates); a restart must beat the first
decomposition by more than one such cell's worth, less is within what the choice of outlier cells
alone moves.

**Threshold (a test, no tuned constant):** for each cross-LF cell the co-occurrence count
``C[r, s]`` is compared with its expectation under the fitted conditionally independent model,
``E = n (x̄_r x̄_s + s_r s_s L[r, s])``, by a one-sided Poisson likelihood-ratio test (a
co-occurrence count is a sum of n rare indicators; z = signed root of the Poisson deviance),
Bonferroni-corrected over all cross-LF cells at level ``alpha`` (0.01): an edge needs
``z > Φ⁻¹(1 − alpha / #cells)``. An edge must also matter: its excess co-occurrences ``C − E``
must be at least ``min_excess`` (30%) of the rarer column's votes, and significantly so — the
same one-sided test of ``C`` against ``E + min_excess · votes`` at level ``alpha`` (per pair:
the pair already passed the corrected test), so that an excess estimated at the floor from a
few dozen co-votes does not make an edge. Weaker dependence still carries information about
accuracies and is left to the shrinkage's overdispersion (on the planted benchmark these tests
remove every false edge, ``scripts/bench_structure.py --edges``). An LF pair's score is the
largest one-sided z of its cells; multiclass LFs are handled cell by cell (one k × k block per
pair). The cost depends on d_a, never on n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsup_spark.stats.lfstats import LFStats

__all__ = ["Structure", "learn_structure"]

DENSE_EIG = 400  # columns up to which the eigendecompositions are exact
POWER_STEPS = 3  # subspace-iteration steps per projection above that
INCOHERENCE = 2.0  # entries of a spread-out rank-r matrix are ≤ INCOHERENCE · r σ₁ / d


@dataclass(frozen=True)
class Structure:
    """Result of :func:`learn_structure`.

    Attributes
    ----------
    edges : list of (i, j), i < j
        LF pairs found dependent.
    scores : (m, m) float64
        Symmetric; for each LF pair the largest one-sided z of excess co-occurrence over its cells
        (0 where the pair never could co-occur).
    excess : (m, m) float64
        Symmetric; for each pair the largest ``(C − E) / min(C_rr, C_ss)`` over its significant
        cells (0 where none is).
    redundancy : (m, m) float64
        ``redundancy[i, j]``: the fraction of LF i's votes that are excess co-votes with LF j,
        ``Σ max(C − E, 0) / Σ C_rr`` over the pair's cells, in [0, 1] (0 for pairs that are not
        edges). A copy of LF j has a high redundancy with j, below 1: the independent fit
        already expects part of their co-votes (0.65 for a copy of an LF of accuracy 0.8 and
        coverage 0.5, ``tests/analysis/test_report_dependencies.py``).
    threshold : float
        The z an edge had to exceed (Bonferroni-corrected level).
    min_excess : float
        The excess an edge had to reach.
    rank : int
        Rank of the class signal (k − 1, or less when fewer columns fired).
    iterations : int
        Alternating-projection steps (all starts).
    excess_threshold : float
        The z by which an edge's co-votes had to exceed the ``min_excess`` floor (one-sided,
        level alpha).
    loss : float
        Robust loss of the kept decomposition (capped Poisson deviance over cross-LF cells).
    """

    edges: list[tuple[int, int]]
    scores: np.ndarray
    excess: np.ndarray
    redundancy: np.ndarray
    threshold: float
    min_excess: float
    rank: int
    iterations: int
    excess_threshold: float = 0.0
    loss: float = 0.0

    def to_info(self, lf_names: tuple[str, ...] | None = None) -> dict[str, object]:
        """JSON-able summary for ``fit_info``: edges, their scores and excess, the thresholds."""
        return {
            "edges": [[i, j] for i, j in self.edges],
            "names": ([[lf_names[i], lf_names[j]] for i, j in self.edges] if lf_names else None),
            "scores": [round(float(self.scores[i, j]), 3) for i, j in self.edges],
            "excess": [round(float(self.excess[i, j]), 3) for i, j in self.edges],
            "redundancy": [
                [round(float(self.redundancy[i, j]), 3), round(float(self.redundancy[j, i]), 3)]
                for i, j in self.edges
            ],
            "threshold": round(self.threshold, 3),
            "min_excess": self.min_excess,
            "excess_threshold": round(self.excess_threshold, 3),
            "rank": self.rank,
            "iterations": self.iterations,
        }


def _top_eig_psd(
    X: np.ndarray, r: int, V: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Best PSD approximation of rank ≤ r of the symmetric (d, d) ``X`` and its (d, r) basis.

    Up to :data:`DENSE_EIG` columns a full eigendecomposition; above, warm-started subspace
    iteration from ``V`` (the previous basis: consecutive ``X`` differ little), with r + 8
    vectors and :data:`POWER_STEPS` steps, then Rayleigh–Ritz.
    """
    d = X.shape[0]
    if r <= 0:
        return np.zeros_like(X), np.zeros((d, 0))
    if d <= DENSE_EIG:
        w, U = np.linalg.eigh(X)
    else:
        q = min(d, r + 8)
        Q = V if V is not None and V.shape[1] == q else _start_basis(d, q)
        shift = _shift(X)  # so that the largest *algebraic* eigenvalues dominate
        for _ in range(POWER_STEPS):
            Q, _ = np.linalg.qr(X @ Q + shift * Q)
        w, Z = np.linalg.eigh(Q.T @ X @ Q)
        U = Q @ Z
        V = Q
    w, U = np.maximum(w[-r:], 0.0), U[:, -r:]
    return (U * w) @ U.T, (V if V is not None and d > DENSE_EIG else U)


def _spectral_norm(X: np.ndarray) -> float:
    """Largest |eigenvalue| of the symmetric X (exact up to DENSE_EIG columns, else 50 power
    steps from a fixed start: only a threshold's scale depends on it)."""
    if X.shape[0] <= DENSE_EIG:
        return float(np.abs(np.linalg.eigvalsh(X)).max())
    v = _start_basis(X.shape[0], 1)[:, 0]
    lam = 0.0
    for _ in range(50):
        u = X @ v
        lam = float(np.linalg.norm(u))
        if lam == 0.0:
            return 0.0
        v = u / lam
    return lam


def _shift(X: np.ndarray) -> float:
    """A bound on |λ_min(X)| (largest absolute row sum), making ``X + shift·I`` PSD."""
    return float(np.abs(X).sum(axis=1).max())


def _start_basis(d: int, q: int) -> np.ndarray:
    """A fixed (d, q) orthonormal start (seeded: the fit is deterministic)."""
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((d, q)))
    return Q


def _blocks(op: np.ufunc, A: np.ndarray, lf_of: np.ndarray) -> np.ndarray:
    """(u, u) reduction by ``op`` of (d_a, d_a) ``A`` over LF blocks (``lf_of`` sorted; u LFs)."""
    starts = np.flatnonzero(np.r_[True, lf_of[1:] != lf_of[:-1]])
    return op.reduceat(op.reduceat(A, starts, axis=0), starts, axis=1)


def _poisson_upper_z(c: np.ndarray, e: np.ndarray) -> np.ndarray:
    """One-sided z of an excess count ``c`` over a Poisson mean ``e`` (0 where c − ½ ≤ e): the
    signed root of the Poisson deviance with a continuity correction, ``c' = c − ½``,
    ``sqrt(2 (c' log(c'/e) − (c' − e)))`` — the likelihood-ratio statistic, at or below the exact
    tail's z for small means (unlike the Pearson ``(c − e)/sqrt(e)``, which a single
    co-occurrence at ``e ≪ 1`` would make huge)."""
    e = np.maximum(e, 1e-12)
    c = c - 0.5
    up = c > e
    cu, eu = c[up], e[up]
    out = np.zeros(c.shape)
    out[up] = np.sqrt(np.maximum(2.0 * (cu * np.log(cu / eu) - (cu - eu)), 0.0))
    return out


def _poisson_deviance(c: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Poisson deviance ``2 (c log(c/e) − (c − e))`` of counts ``c`` against means ``e``."""
    e = np.maximum(e, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(c > 0, c * np.log(np.maximum(c, 1e-300) / e), 0.0)
    out: np.ndarray = np.maximum(2.0 * (t - (c - e)), 0.0)
    return out


def learn_structure(
    stats: LFStats,
    alpha: float = 0.01,
    min_excess: float = 0.3,
    stages: int = 6,
    iters_per_stage: int = 3,
    starts: int = 2,
) -> Structure:
    """Learn LF dependencies from ``stats`` (see the module docstring).

    Parameters
    ----------
    stats : LFStats
    alpha : float
        Family-wise level of the Bonferroni-corrected Poisson test.
    min_excess : float
        Smallest excess co-occurrence, as a fraction of the rarer column's votes, of an edge.
    stages, iters_per_stage : int
        Threshold-decrease stages of the alternating projections and steps per stage.
    starts : int
        The continuation is run from each of its first ``starts`` thresholds; the
        decomposition with the smallest robust loss is kept.

    Examples
    --------
    Three conditionally independent LFs and a near-copy of the first one:

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 20000)
    >>> L = np.stack([np.where(rng.random(20000) < a, y, 1 - y) for a in (0.8, 0.75, 0.7, 0.7)], 1)
    >>> L = np.hstack([L, np.where(rng.random((20000, 1)) < 0.9, L[:, :1], -1)])
    >>> learn_structure(LFStats.from_matrix(L, 2)).edges
    [(0, 4)]
    """
    from scipy.special import ndtri

    m, k, n = stats.m, stats.k, stats.n
    C = stats.counts
    active = np.flatnonzero(np.diag(C) > 0)
    scores = np.zeros((m, m))
    excess = np.zeros((m, m))
    lf_of = active // k
    d_a = len(active)
    n_lf = len(set(lf_of.tolist()))
    cross = lf_of[:, None] != lf_of[None, :]
    n_cells = int(np.triu(cross, 1).sum())
    threshold = float(-ndtri(alpha / max(n_cells, 1)))
    rank = k - 1
    # the class signal (rank k − 1) is separable from pairwise dependence only with at least
    # k + 1 voting LFs (3 for a binary task): with fewer, nothing can be learned
    if n == 0 or n_lf < k + 1 or n_cells == 0:
        return Structure(
            [], scores, excess, excess.copy(), threshold, min_excess, rank, 0, float(-ndtri(alpha))
        )
    Ca = C[np.ix_(active, active)].astype(float)
    xbar = np.diag(Ca) / n
    O = Ca / n
    sd = np.sqrt(np.maximum(xbar * (1.0 - xbar), 1e-12))
    R = (O - np.outer(xbar, xbar)) / np.outer(sd, sd)
    z_noise = threshold / np.sqrt(n)  # a cell's noise level in correlation units at the test
    Rc = np.where(cross, R, 0.0)
    top = float(np.abs(Rc).max())
    # the largest entry a class signal spread over all columns could have (incoherence, as in
    # AltProj's first threshold β σ₁): stronger entries start in S, so a dense cluster of
    # dependent LFs cannot become the class signal
    sigma1 = _spectral_norm(Rc)
    zeta0 = min(top, INCOHERENCE * sigma1 * max(rank, 1) / d_a)
    its = 0
    # thresholds decrease geometrically down to the test's noise level; the continuation is
    # also restarted from its next ``starts − 1`` thresholds (a dense cluster of dependent LFs can
    # outweigh the class signal's spectral norm, so the first threshold may let the rank-(k − 1)
    # part absorb it), and the decomposition with the smaller robust loss is kept
    zetas = np.geomspace(max(zeta0, z_noise), z_noise, max(stages, 1))
    best: tuple[float, np.ndarray] | None = None
    for start in range(min(max(starts, 1), len(zetas))):
        Lr = np.zeros((d_a, d_a))
        basis: np.ndarray | None = None
        for zeta in zetas[start:]:
            for _ in range(iters_per_stage):
                # cells explained by L within ζ are observed; the rest (S, and the unobserved
                # within-LF blocks) are imputed from L
                X = np.where(cross & (np.abs(R - Lr) <= zeta), R, Lr)
                Lr, basis = _top_eig_psd(X, rank, basis)
                its += 1
        E = n * (np.outer(xbar, xbar) + np.outer(sd, sd) * Lr)
        # robust loss: each cross cell's Poisson deviance, capped at the test's threshold² (a
        # cell the class signal leaves unexplained costs one edge's worth, however large)
        dev = np.where(cross, _poisson_deviance(Ca, E), 0.0)
        loss = float(np.minimum(dev, threshold**2).sum())
        # a restart is kept only if it explains more than one capped cell's worth better: a
        # smaller difference is within what the choice of the outlier cells alone can move
        if best is None or loss < best[0] - threshold**2:
            best = (loss, E)
    assert best is not None
    loss, E = best
    z = np.where(cross, _poisson_upper_z(Ca, E), 0.0)
    rarer = np.minimum(np.diag(Ca)[:, None], np.diag(Ca)[None, :])
    ex = np.where(cross, (Ca - E) / np.maximum(rarer, 1.0), 0.0)
    # the floor is tested, not just compared: on a pair that passed the test, the co-votes of
    # some cell must exceed E + min_excess · (rarer column's votes) at level alpha (one-sided,
    # per pair): a point estimate at the floor is as likely below it
    z_floor = np.where(cross, _poisson_upper_z(Ca, E + min_excess * rarer), 0.0)
    lfs = np.unique(lf_of)
    scores[np.ix_(lfs, lfs)] = _blocks(np.maximum, z, lf_of)
    excess[np.ix_(lfs, lfs)] = _blocks(np.maximum, np.where(z > threshold, ex, 0.0), lf_of)
    floor_z = np.zeros((m, m))
    floor_z[np.ix_(lfs, lfs)] = _blocks(np.maximum, z_floor, lf_of)
    np.fill_diagonal(scores, 0.0)
    np.fill_diagonal(excess, 0.0)
    np.fill_diagonal(floor_z, 0.0)
    floor_threshold = float(-ndtri(alpha))
    hit = np.triu((scores > threshold) & (excess >= min_excess) & (floor_z > floor_threshold), 1)
    edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(hit), strict=True)]
    extra = np.zeros((m, m))
    extra[np.ix_(lfs, lfs)] = _blocks(np.add, np.where(cross, np.maximum(Ca - E, 0.0), 0.0), lf_of)
    votes = np.bincount(lf_of, weights=np.diag(Ca), minlength=m)
    redundancy = np.clip(extra / np.maximum(votes, 1.0)[:, None], 0.0, 1.0)
    redundancy *= hit | hit.T
    return Structure(
        edges, scores, excess, redundancy, threshold, min_excess, rank, its, floor_threshold, loss
    )
