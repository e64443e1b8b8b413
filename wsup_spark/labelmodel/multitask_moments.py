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
from typing import Any

import numpy as np

from wsup_spark.errors import ModelError
from wsup_spark.labelmodel.moments import (
    FTOL,
    chi2_cells,
    overdispersion,
    overdispersion_per_lf,
    pearson_chi2,
)
from wsup_spark.labelmodel.multitask_stats import MultiTaskStats
from wsup_spark.labelmodel.shrinkage import shrink_accuracies
from wsup_spark.tasks import NA

__all__ = ["JointFit", "MomentModel", "fit_joint", "fit_moment_model"]


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


@dataclass(frozen=True)
class MomentModel:
    """Result of :func:`fit_moment_model`.

    Attributes
    ----------
    mu : (d, W) float64
        Task-cell parameters of every indicator column (zero for columns that never fired).
    p : (J,) float64
        Class balance over the feasible joint vectors.
    raw_accuracies, accuracies : (m,) float64
        ``P(Y_{t(i)} = λ_i | λ_i voted)`` before / after per-task shrinkage (NaN: never votes).
    info : dict
        Optimiser report, balance choice, overdispersion, shrinkage.
    """

    mu: np.ndarray
    p: np.ndarray
    raw_accuracies: np.ndarray
    accuracies: np.ndarray
    info: dict[str, Any]


def fit_moment_model(
    stats: MultiTaskStats, comp: np.ndarray, sets: np.ndarray, p_fixed: np.ndarray | None,
    balance_mode: str, init_precision: float, l2: float, rho: float, max_iter: int,
    shrinkage: bool,
) -> MomentModel:  # fmt: skip
    """The moment-method fit of :class:`~wsup_spark.labelmodel.multitask.MultiTaskLabelModel`.

    Parameters
    ----------
    stats : MultiTaskStats
    comp : (m,) int
        Dependency component of each LF (co-occurrences within a component are not fit).
    sets : (d, J) bool
        Joint values consistent with each indicator column.
    p_fixed : (J,) float64 or None
        Given class balance; None chooses between the hierarchical uniform prior and the joint
        estimate (``balance_mode`` "auto"/"uniform"/"estimate", quasi-AIC as in LabelModel).
    """
    g = stats.graph
    J, m, d = g.n_joint, stats.m, stats.d
    lf_col, val_col = stats.columns()
    task_col = np.array(stats.lf_tasks, np.int64)[lf_col]
    active = np.flatnonzero(np.diag(stats.counts) > 0)
    lf_of, cls, tc = lf_col[active], val_col[active], task_col[active]
    W = max(g.cardinalities) + 1
    k_of = np.array(g.cardinalities, np.int64)
    # cell of every joint value for each task: its value, or k_t when the task is N/A
    cell = np.stack([np.where(g.feasible[:, t] == NA, k_of[t], g.feasible[:, t])
                     for t in range(len(g.tasks))])  # (T, J)  # fmt: skip
    G = cell[tc]  # (d_a, J)
    can_na = np.array([g.can_be_na(t) for t in range(len(g.tasks))])
    free = np.arange(W)[None, :] < k_of[tc][:, None]
    free |= (np.arange(W)[None, :] == k_of[tc][:, None]) & can_na[tc][:, None]
    mask = (lf_of[:, None] != lf_of[None, :]).astype(float)
    mask[comp[lf_of][:, None] == comp[lf_of][None, :]] = 0.0
    O, C = stats.O[np.ix_(active, active)], stats.counts[np.ix_(active, active)]
    kcol = k_of[tc].astype(float)
    p0 = p_fixed if p_fixed is not None else g.uniform_balance()

    def run(p_fix: np.ndarray | None) -> JointFit:
        return fit_joint(O, G, W, cls, lf_of, kcol, free, p_fix, p0, init_precision, mask,
                          l2, rho, max_iter)  # fmt: skip

    def lift(fit: JointFit) -> np.ndarray:
        return np.take_along_axis(fit.mu, G, axis=1)

    info: dict[str, Any] = {}
    if not len(active):
        raise ModelError("no LF ever votes: nothing to fit (check the LFs and the votes)")
    res = run(p0)
    M, p = lift(res), p0
    balance = "given" if p_fixed is not None else "uniform"
    info = {"iterations": res.iterations, "loss": res.loss, "converged": res.converged,
            "message": res.message}  # fmt: skip
    use = chi2_cells(C, stats.n, M, p, mask)
    Sa = sets[active]
    per_value = np.array([len(set(comp[lf_of[Sa[:, y]]])) for y in range(J)])
    info["min_independent_lfs_per_joint_value"] = int(per_value.min())
    if p_fixed is None and (
        balance_mode == "estimate" or (balance_mode == "auto" and per_value.min() >= 3)
    ):
        res_e = fit_joint(O, G, W, cls, lf_of, kcol, free, None, p0, init_precision, mask,
                           l2, rho, max_iter)  # fmt: skip
        M_e, p_e = lift(res_e), res_e.p
        use = use | chi2_cells(C, stats.n, M_e, p_e, mask)
        chi_u = pearson_chi2(C, stats.n, M, p, use)
        chi_e = pearson_chi2(C, stats.n, M_e, p_e, use)
        kappa_e = max(1.0, chi_e / max(int(use.sum()), 1))
        gain = (chi_u - chi_e) / kappa_e
        info.update(balance_estimate=p_e.tolist(), balance_qaic_gain=float(gain),
                    iterations=info["iterations"] + res_e.iterations)  # fmt: skip
        if balance_mode == "estimate" or gain > 2.0 * (J - 1):
            res, M, p, balance = res_e, M_e, p_e, "estimated"
    kappa = overdispersion(C, stats.n, M, p, mask, use)
    kappa_lf = np.maximum(overdispersion_per_lf(C, stats.n, M, p, use, lf_of, m, kappa), kappa)
    # accuracies a_i = P(Y_t = λ_i | λ_i voted) = Σ_r μ[r, a_r] q(a_r) / Σ_r (M p)_r
    A = (G == cls[:, None]).astype(float)
    correct = np.bincount(lf_of, weights=(M * p * A).sum(axis=1), minlength=m)
    voted = np.bincount(lf_of, weights=M @ p, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(voted > 0, correct / np.maximum(voted, 1e-300), np.nan)
    acc = raw.copy()
    lf_task = np.array(stats.lf_tasks, np.int64)
    shrink_info = {}
    if shrinkage:
        for t, task in enumerate(g.tasks):
            lfs = np.flatnonzero(lf_task == t)
            if len(lfs):
                shr = shrink_accuracies(raw[lfs], stats.overlaps_any[lfs], kappa_lf[lfs])
                acc[lfs] = shr.accuracies
                shrink_info[task.name] = {
                    "mean": shr.mean if np.isfinite(shr.mean) else None,
                    "tau2": shr.tau2,
                }
    if int(((stats.overlaps_any > 0) & np.isfinite(raw)).sum()) < 3:
        acc = np.where(np.isfinite(raw), init_precision, np.nan)
    mu_full = np.zeros((d, W))
    mu_full[active] = res.mu
    info.update(balance=balance, overdispersion=kappa, active_columns=len(active),
                shrinkage=shrink_info)  # fmt: skip
    return MomentModel(mu_full, np.asarray(p, float).copy(), raw, acc, info)
