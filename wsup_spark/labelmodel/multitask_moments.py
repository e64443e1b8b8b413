"""Tied matrix completion over the feasible joint label set (MeTaL's moment fit, numpy/scipy).

Each LF's class-conditional output depends on the joint label only through its own task's value:
``P(λ_i = a | Y = y) = μ[off_i + a, y_{t(i)}]`` (one extra cell for "task N/A"). Lifting μ to the
joint space, ``M[r, y] = μ[r, y_{t(r)}]`` (d, J), conditional independence gives
``O = M diag(p) Mᵀ`` off the same-LF blocks (Ratner et al., AAAI 2019). The objective and its
safeguards are those of :mod:`wsup_spark.labelmodel.moments` (diagonal, simplex, ridge, "better than
random" per task at level 1/k_t), solved by deterministic L-BFGS-B with an analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsup_spark.labelmodel.moments import FTOL

__all__ = ["JointFit", "fit_joint"]


@dataclass(frozen=True)
class JointFit:
    mu: np.ndarray  # (d_a, W) task-cell parameters of the active columns
    p: np.ndarray  # (J,)
    iterations: int
    loss: float
    converged: bool
    message: str


def fit_joint(
    O: np.ndarray, G: np.ndarray, W: int, cls: np.ndarray, lf_of: np.ndarray, kcol: np.ndarray,
    free: np.ndarray, p_fixed: np.ndarray | None, p_init: np.ndarray, init_precision: float,
    mask: np.ndarray, l2: float, rho: float, max_iter: int,
) -> JointFit:  # fmt: skip
    """Tied matrix completion ``O ≈ M diag(p) Mᵀ`` with ``M[r, y] = μ[r, G[r, y]]``.

    Parameters
    ----------
    O : (d_a, d_a) float64
        Second moment of the active indicator columns.
    G : (d_a, J) int
        Cell of column r's task (its value, or N/A) that joint value y falls in.
    W : int
        Cells per column (max cardinality + 1).
    cls : (d_a,) int
        Cell of the value column r votes.
    lf_of : (d_a,) int
        LF of each column.
    kcol : (d_a,) float64
        Cardinality of each column's task (the "better than random" level is 1/k).
    free : (d_a, W) bool
        Cells that exist for the column's task (others are fixed at 0).
    """
    from scipy.optimize import minimize

    d, J = G.shape
    diagO = np.diag(O).copy()
    rows = np.arange(d)
    p0 = p_fixed if p_fixed is not None else p_init
    q0 = np.zeros((d, W))
    np.add.at(q0, (np.repeat(rows, J), G.ravel()), np.tile(p0, d))  # P(cell) per column
    ncell = free.sum(axis=1)
    post = np.where(free, ((1.0 - init_precision) / np.maximum(ncell - 1, 1))[:, None], 0.0)
    post[rows, cls] = init_precision
    with np.errstate(divide="ignore", invalid="ignore"):
        mu0 = np.where(q0 > 0, diagO[:, None] * post / np.maximum(q0, 1e-300), 0.0)
    mu0 = np.clip(mu0, 0.0, 1.0) * free
    n_lf = int(lf_of.max()) + 1 if d else 0
    A = (G == cls[:, None]).astype(float)  # (d_a, J) 1[y in the voted cell]
    n_mu = d * W

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = theta[:n_mu].reshape(d, W)
        if p_fixed is not None:
            return mu, p_fixed
        z = theta[n_mu:]
        e = np.exp(z - z.max())
        return mu, e / e.sum()

    scale = 1.0 / max(float(((O * mask) ** 2).sum() + diagO @ diagO), 1e-300)

    flat = (rows[:, None] * W + G).ravel()  # μ entry behind each lifted M[r, y]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        mu, p = unpack(theta)
        M = mu.ravel()[flat].reshape(d, J)
        MP = M * p
        R = (O - MP @ M.T) * mask
        r2 = M @ p - diagO
        s = np.zeros((n_lf, W))
        np.add.at(s, lf_of, mu)
        over = np.maximum(s - 1.0, 0.0)
        dmu0 = mu - mu0
        correct = (MP * A).sum(axis=1)
        v = np.maximum(MP.sum(axis=1) / kcol - correct, 0.0)
        loss = float((R * R).sum() + r2 @ r2 + (over * over).sum() + l2 * (dmu0 * dmu0).sum()
                     + rho * (v @ v))  # fmt: skip
        g_M = -4.0 * (R @ MP) + 2.0 * np.outer(r2, p)
        g_M += 2.0 * rho * v[:, None] * (p[None, :] / kcol[:, None] - p[None, :] * A)
        g_mu = np.bincount(flat, weights=g_M.ravel(), minlength=n_mu).reshape(d, W)
        g_mu += 2.0 * l2 * dmu0 + 2.0 * over[lf_of]
        grad = [(g_mu * free).ravel()]
        if p_fixed is None:
            g_p = -2.0 * (M * (R @ M)).sum(axis=0) + 2.0 * (M.T @ r2)
            g_p += 2.0 * rho * ((v / kcol) @ M - v @ (M * A))
            grad.append(p * (g_p - p @ g_p))
        return loss * scale, np.concatenate(grad) * scale

    theta0 = [mu0.ravel()]
    bounds = [(0.0, 1.0) if f else (0.0, 0.0) for f in free.ravel()]
    if p_fixed is None:
        theta0.append(np.log(np.maximum(p0, 1e-6)))
        bounds += [(-10.0, 10.0)] * J
    res = minimize(objective, np.concatenate(theta0), jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_iter, "ftol": FTOL, "gtol": 1e-12})  # fmt: skip
    mu, p = unpack(res.x)
    return JointFit(mu.copy(), p.copy(), int(res.nit), float(res.fun) / scale,
                     bool(res.success), str(res.message))  # fmt: skip
