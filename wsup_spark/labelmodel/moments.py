"""Second-moment (matrix-completion) estimate of the class-conditional LF parameters.

Notation: m LFs, k classes, one-hot rows ``r = i*k + a`` (LF i votes a), ``O = E[x xᵀ]``.
Conditionally independent LFs give, for rows r, s of different LFs,

    O[r, s] = Σ_y mu[r, y] p_y mu[s, y]            and   O[r, r] = Σ_y mu[r, y] p_y,

with ``mu[i*k + a, y] = P(λ_i = a | Y = y)`` and ``p = P(Y)``. Only *active* rows (one-hot columns
that ever fired, ``O[r, r] > 0``) are fit: an inactive row has ``O[r, r] = 0``, which forces
``mu[r] = 0`` exactly, so dropping it changes nothing but the cost. WRENCH-style LFs are mostly
unipolar (one class or abstain), so the active set is ~m rows instead of m*k — this is what makes
a SemEval-sized fit (m = 164, k = 9, d = 1476) take well under a second.

Objective (``M`` masks same-LF blocks and declared dependent pairs):

    ‖(O − μ diag(p) μᵀ) ⊙ M‖²_F + ‖μ p − diag(O)‖² + ‖relu(Σ_a μ[i·, y] − 1)‖²
    + γ ‖μ − μ₀‖² + ρ ‖relu(Σ_y μp[r, y]/k − μp[r, a(r)])‖²

The last term is the "better than random" assumption (``P(Y = a | λ_i = a) ≥ 1/k``) that breaks
the label-permutation symmetry; γ is a small ridge toward the initialisation. Solved with
deterministic L-BFGS-B (analytic gradient, box ``0 ≤ μ ≤ 1``); ``p`` is fixed, or estimated jointly
through a softmax when asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FTOL = 1e-8  # relative to the loss at μ = 0


@dataclass(frozen=True)
class MomentFit:
    """Result of :func:`fit_moments`.

    Attributes
    ----------
    mu : (d_a, k) float64
        ``P(λ = a(r) | Y = y)`` for the active rows.
    p : (k,) float64
        Class balance used (fixed or estimated).
    iterations, loss, converged, message
        Optimiser report.
    """

    mu: np.ndarray
    p: np.ndarray
    iterations: int
    loss: float
    converged: bool
    message: str


def init_mu(freq: np.ndarray, cls: np.ndarray, p: np.ndarray, precision: float) -> np.ndarray:
    """μ₀ matching each active row's vote frequency at a fixed precision.

    ``P(λ=a | y) = P(y | λ=a) P(λ=a) / p_y`` with ``P(Y=a | λ=a) = precision`` and the rest spread
    evenly over the other classes.

    Parameters
    ----------
    freq : (d_a,) float64
        ``O[r, r]``, the row's vote frequency.
    cls : (d_a,) int
        The class a(r) each active row votes.
    p : (k,) float64
    precision : float

    Examples
    --------
    >>> mu = init_mu(np.array([0.2]), np.array([1]), np.array([0.5, 0.5]), 0.75)
    >>> mu.round(3).tolist()
    [[0.1, 0.3]]
    """
    k = p.shape[0]
    post = np.full((freq.shape[0], k), (1.0 - precision) / (k - 1))
    post[np.arange(freq.shape[0]), cls] = precision
    return np.clip(freq[:, None] * post / p[None, :], 0.0, 1.0)  # type: ignore[no-any-return]


def fit_moments(
    O: np.ndarray,
    lf_of: np.ndarray,
    cls: np.ndarray,
    k: int,
    *,
    p_fixed: np.ndarray | None,
    p_init: np.ndarray,
    init_precision: float,
    mask: np.ndarray,
    l2: float = 0.0,
    better_than_random: float = 10.0,
    max_iter: int = 500,
    start: np.ndarray | None = None,
) -> MomentFit:
    """Fit μ (and optionally p) to the active block of the second moment.

    Parameters
    ----------
    O : (d_a, d_a) float64
        Second moment restricted to the active rows.
    lf_of, cls : (d_a,) int
        LF index and voted class of each active row.
    k : int
        Number of classes.
    p_fixed : (k,) float64 or None
        Fixed class balance, or None to estimate it jointly (starting at ``p_init``).
    mask : (d_a, d_a) float64
        1 where a pair's co-occurrence is modelled as conditionally independent, else 0.
    start : (d_a, k) float64, optional
        Starting point (warm start); the ridge still pulls toward the initialisation μ₀.
    """
    from scipy.optimize import minimize

    d = O.shape[0]
    diagO = np.diag(O).copy()
    p0 = p_fixed if p_fixed is not None else p_init
    mu0 = init_mu(diagO, cls, p0, init_precision)
    rows = np.arange(d)
    n_lf = int(lf_of.max()) + 1 if d else 0
    n_mu = d * k

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = theta[:n_mu].reshape(d, k)
        if p_fixed is not None:
            return mu, p_fixed
        z = theta[n_mu:]
        e = np.exp(z - z.max())
        return mu, e / e.sum()

    gamma, rho = l2, better_than_random
    # loss at μ = 0: the objective is divided by it so that ftol is a relative tolerance
    scale = 1.0 / max(float(((O * mask) ** 2).sum() + diagO @ diagO), 1e-300)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        mu, p = unpack(theta)
        muP = mu * p
        R = (O - muP @ mu.T) * mask
        r2 = mu @ p - diagO
        s = np.zeros((n_lf, k))
        np.add.at(s, lf_of, mu)  # Σ_a mu[i a, y] per LF
        over = np.maximum(s - 1.0, 0.0)
        dmu0 = mu - mu0
        v = np.maximum(muP.sum(axis=1) / k - muP[rows, cls], 0.0)
        loss = float(
            (R * R).sum() + r2 @ r2 + (over * over).sum() + gamma * (dmu0 * dmu0).sum()
            + rho * (v @ v)
        )  # fmt: skip
        g_mu = -4.0 * (R @ muP) + 2.0 * np.outer(r2, p) + 2.0 * gamma * dmu0
        g_mu += 2.0 * rho * v[:, None] * (p[None, :] / k)
        g_mu[rows, cls] -= 2.0 * rho * v * p[cls]
        g_mu += 2.0 * over[lf_of]
        grad = [g_mu.ravel()]
        if p_fixed is None:
            g_p = -2.0 * (mu * (R @ mu)).sum(axis=0) + 2.0 * (mu.T @ r2)
            g_p += 2.0 * rho * (mu.T @ v) / k
            g_p -= 2.0 * rho * np.bincount(cls, weights=v * mu[rows, cls], minlength=k)
            grad.append(p * (g_p - p @ g_p))  # through the softmax
        return loss * scale, np.concatenate(grad) * scale

    theta0 = [(mu0 if start is None else start).ravel()]
    bounds = [(0.0, 1.0)] * n_mu
    if p_fixed is None:
        theta0.append(np.log(p0))
        bounds += [(-10.0, 10.0)] * k
    res = minimize(
        objective,
        np.concatenate(theta0),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iter, "ftol": FTOL, "gtol": 1e-12},
    )
    mu, p = unpack(res.x)
    return MomentFit(
        mu=mu.copy(), p=p.copy(), iterations=int(res.nit), loss=float(res.fun) / scale,
        converged=bool(res.success), message=str(res.message),
    )  # fmt: skip


def overdispersion(
    counts: np.ndarray,
    n: int,
    mu: np.ndarray,
    p: np.ndarray,
    mask: np.ndarray,
    use: np.ndarray | None = None,
) -> float:
    """Pearson dispersion ``κ ≥ 1`` of the pairwise co-occurrence counts under the fitted model.

    Over the modelled pairs (upper triangle of ``mask``) with an observed or expected count
    (``C > 0`` or ``E ≥ 1``), ``κ = max(1, Σ (C − E)² / max(E, 1) / #cells)`` with
    ``E = n μ diag(p) μᵀ`` — the quasi-likelihood scale factor (McCullagh & Nelder): ≈ 1 when the
    LFs really are conditionally independent, ≫ 1 when dependencies the model ignores drive the
    agreements. Cell variances are floored at one count (a count seen once has Poisson variance at
    least 1).

    Examples
    --------
    >>> mu = np.array([[0.8, 0.2], [0.8, 0.2]]); p = np.array([0.5, 0.5])
    >>> E = 100 * (mu * p) @ mu.T
    >>> mask = 1.0 - np.eye(2)
    >>> overdispersion(np.rint(E).astype(int), 100, mu, p, mask)
    1.0
    """
    if use is None:
        use = chi2_cells(counts, n, mu, p, mask)
    if not use.any():
        return 1.0
    return max(1.0, pearson_chi2(counts, n, mu, p, use) / float(use.sum()))


def balance_step(O: np.ndarray, mu: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The class balance minimising the moment objective for fixed μ (a k-dim QP on the simplex).

    The objective is quadratic in p: ``‖(O − Σ_y p_y μ_y μ_yᵀ) ⊙ M‖² + ‖μ p − diag(O)‖²`` with
    ``H[y, y'] = (μ_y ⊙ μ_y')ᵀ M (μ_y ⊙ μ_y') + μ_yᵀ μ_y'`` and
    ``b[y] = μ_yᵀ (M ⊙ O) μ_y + μ_yᵀ diag(O)``; solved by SLSQP with ``p ≥ 1e-3``, ``Σ p = 1``.

    Examples
    --------
    >>> mu = np.array([[0.9, 0.2], [0.8, 0.1], [0.7, 0.3], [0.1, 0.9]])
    >>> p = np.array([0.3, 0.7]); O = (mu * p) @ mu.T; np.fill_diagonal(O, mu @ p)
    >>> balance_step(O, mu, 1.0 - np.eye(4)).round(3).tolist()
    [0.3, 0.7]
    """
    from scipy.optimize import minimize

    d, k = mu.shape
    Z = (mu[:, :, None] * mu[:, None, :]).reshape(d, k * k)
    H = np.einsum("rc,rs,sc->c", Z, mask, Z).reshape(k, k) + mu.T @ mu
    b = np.einsum("ry,rs,sy->y", mu, mask * O, mu) + mu.T @ np.diag(O)
    scale = max(float(np.abs(H).max()), 1e-300)
    H, b = H / scale, b / scale
    res = minimize(
        lambda p: (float(p @ H @ p - 2.0 * b @ p), 2.0 * (H @ p) - 2.0 * b),
        np.full(k, 1.0 / k),
        jac=True,
        method="SLSQP",
        bounds=[(1e-3, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1.0, "jac": lambda p: np.ones(k)}],
        options={"ftol": 1e-14, "maxiter": 200},
    )
    p = np.clip(res.x, 1e-3, None)
    return p / p.sum()  # type: ignore[no-any-return]


def pearson_chi2(
    counts: np.ndarray, n: int, mu: np.ndarray, p: np.ndarray, use: np.ndarray
) -> float:
    """``Σ (C − E)² / max(E, 1)`` over the cells ``use`` with ``E = n μ diag(p) μᵀ``."""
    E = n * ((mu * p) @ mu.T)
    return float((((counts - E) ** 2) / np.maximum(E, 1.0))[use].sum())


def chi2_cells(counts: np.ndarray, n: int, mu: np.ndarray, p: np.ndarray, mask: np.ndarray
               ) -> np.ndarray:  # fmt: skip
    """Modelled cells (upper triangle of ``mask``) with an observed or expected count ≥ 1."""
    E = n * ((mu * p) @ mu.T)
    return (np.triu(mask, 1) > 0) & ((counts > 0) | (E >= 1.0))  # type: ignore[no-any-return]


def overdispersion_per_lf(
    counts: np.ndarray, n: int, mu: np.ndarray, p: np.ndarray, use: np.ndarray,
    lf_of: np.ndarray, m: int, default: float,
) -> np.ndarray:  # fmt: skip
    """(m,) Pearson dispersion of the cells involving each LF (``default`` where it has none)."""
    E = n * ((mu * p) @ mu.T)
    q = np.where(use, ((counts - E) ** 2) / np.maximum(E, 1.0), 0.0)
    q = q + q.T
    cells = (use | use.T).astype(float)
    num = np.bincount(lf_of, weights=q.sum(axis=1), minlength=m)
    den = np.bincount(lf_of, weights=cells.sum(axis=1), minlength=m)
    out = np.full(m, float(default))
    has = den > 0
    out[has] = np.maximum(num[has] / den[has], 1.0)
    return out
