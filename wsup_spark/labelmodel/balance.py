"""Whether a jointly estimated class balance is trusted over the uniform one (``balance="auto"``).

Notation: active one-hot columns ``r`` (d_a of them, LF ``lf_of[r]`` voting class ``cls[r]``), the
observed co-occurrence counts ``C`` (d_a, d_a) over n rows, μ (d_a, k) ``P(λ = column | Y)`` from
the moment fit, p (k,) the class balance. :class:`~wsup_spark.labelmodel.model.LabelModel` fits μ
under the uniform balance and, when p is identifiable, μ and p jointly
(:func:`~wsup_spark.labelmodel.moments.fit_moments` started from the vote shares and, for two
classes, also from the reversed shares: the *rival*). :func:`judge_estimate` then keeps the
estimate only if

* it lowers the Pearson χ² of the co-occurrence counts by more than its k − 1 extra parameters
  cost (quasi-AIC: χ² drop / κ > 2(k − 1), κ the overdispersion under the estimate);
* every voted class's votes stay mostly right under it (vote-weighted ``P(Y = a | λ = a) > 1/k``)
  and the least reliable class's votes are no less reliable than under the uniform balance, by
  more than one standard error (binomial over its votes × κ): an estimate that buys its fit by
  making one class's voters worse is what undeclared dependencies and sparse overlaps produce;
* (two classes) it beats the rival by the same quasi-AIC margin whenever the rival makes another
  class the majority. With k = 2 the centred second moment is rank one, so pairwise statistics
  identify p only up to an interval and a swap of the classes; which optimum a fit reaches
  depends on its start and the "better than random" penalty. When the two fit alike, the
  statistics cannot tell which class is rare. The rival is never adopted (on sms with injected
  near-copies it fits better and says 66% spam, truth 13%).

numpy only; the cost is a few χ² evaluations over (d_a, d_a) cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wsup_spark.labelmodel.moments import MomentFit, chi2_cells, pearson_chi2

__all__ = ["Verdict", "class_precision", "judge_estimate"]


@dataclass(frozen=True)
class Verdict:
    """Result of :func:`judge_estimate`.

    Attributes
    ----------
    accept : bool
        Whether the estimate (the first fit) replaces the uniform balance.
    use : (d_a, d_a) bool
        The χ² cells of the uniform fit and the estimate (the overdispersion is measured on them).
    info : dict
        ``fit_info`` entries: ``balance_estimate``, ``balance_qaic_gain``, ``balance_alternative``
        and ``balance_alternative_qaic`` (two classes, when the rival makes another class the
        majority), ``balance_estimate_precision``, ``balance_uniform_precision`` and, when a
        test rejected the estimate, ``balance_rejected``.
    """

    accept: bool
    use: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def class_precision(
    mu: np.ndarray, p: np.ndarray, cls: np.ndarray, votes: np.ndarray
) -> np.ndarray:
    """(k,) vote-weighted ``P(Y = a | λ = a)`` of the active columns voting each class a."""
    k = p.shape[0]
    post = mu * p
    post = post[np.arange(len(cls)), cls] / np.maximum(post.sum(axis=1), 1e-300)
    num = np.bincount(cls, weights=votes * post, minlength=k)
    return num / np.maximum(np.bincount(cls, weights=votes, minlength=k), 1e-300)


def judge_estimate(
    fits: list[MomentFit],
    counts: np.ndarray,
    n: int,
    cls: np.ndarray,
    mask: np.ndarray,
    uniform: tuple[np.ndarray, np.ndarray],
    use: np.ndarray,
    forced: bool = False,
) -> Verdict:
    """Judge the joint estimate ``fits[0]`` (its rivals: ``fits[1:]``) against the uniform fit
    ``uniform = (μ, p)``; ``use`` are the uniform fit's χ² cells, ``counts`` the active (d_a, d_a)
    co-occurrence counts. ``forced`` (``balance="estimate"``) accepts it whatever the tests say."""
    mu_u, p_u = uniform
    k = p_u.shape[0]
    mu_e, p_e = fits[0].mu, fits[0].p
    use = use | chi2_cells(counts, n, mu_e, p_e, mask)
    chi_u = pearson_chi2(counts, n, mu_u, p_u, use)
    chi_e = pearson_chi2(counts, n, mu_e, p_e, use)
    kappa_e = max(1.0, chi_e / max(int(use.sum()), 1))
    gain = (chi_u - chi_e) / kappa_e  # quasi-likelihood drop of the χ² (QAIC units)
    info: dict[str, Any] = {"balance_estimate": p_e.tolist(), "balance_qaic_gain": float(gain)}
    # the estimate must beat every local optimum with another majority class by the same QAIC
    # margin it must beat the uniform balance by; otherwise the statistics cannot tell which class
    # is the rare one, and the uniform balance stays
    ambiguous = False
    for fit in fits[1:]:
        if int(np.argmax(fit.p)) != int(np.argmax(p_e)):
            both = use | chi2_cells(counts, n, fit.mu, fit.p, mask)
            chi_r = pearson_chi2(counts, n, fit.mu, fit.p, both)
            margin = (chi_r - pearson_chi2(counts, n, mu_e, p_e, both)) / kappa_e
            info["balance_alternative"] = fit.p.tolist()
            info["balance_alternative_qaic"] = float(margin)
            ambiguous = ambiguous or margin <= 2.0 * (k - 1)
    # the estimate must not contradict the LFs' own votes: every voted class's votes stay mostly
    # right under it (the model's "better than random" assumption), and the least reliable
    # class's votes are no less reliable than under the uniform balance
    votes = np.diag(counts) / n
    prec_e = class_precision(mu_e, p_e, cls, votes)
    prec_u = class_precision(mu_u, p_u, cls, votes)
    voted_cls = np.bincount(cls, weights=votes, minlength=k) > 0
    info["balance_estimate_precision"] = np.round(prec_e, 4).tolist()
    info["balance_uniform_precision"] = np.round(prec_u, 4).tolist()
    # (no less reliable: by at most one standard error of that class's precision, binomial over
    # its votes, inflated by the overdispersion)
    worst = int(np.flatnonzero(voted_cls)[np.argmin(prec_e[voted_cls])])
    n_votes = float(np.bincount(cls, weights=votes, minlength=k)[worst]) * n
    pw = float(prec_e[worst])
    se = float(np.sqrt(kappa_e * pw * (1.0 - pw) / max(n_votes, 1.0)))
    sane = bool((prec_e[voted_cls] > 1.0 / k).all()) and bool(pw >= prec_u[voted_cls].min() - se)
    fits_better = gain > 2.0 * (k - 1)  # quasi-AIC: k − 1 extra parameters cost 2 each
    accept = forced or (fits_better and sane and not ambiguous)
    if not accept and not sane:
        info["balance_rejected"] = (
            "the estimate makes some class's votes less reliable than uniform does"
        )
    elif not accept and ambiguous and fits_better:
        info["balance_rejected"] = (
            "two estimates with different majority classes fit the statistics alike"
        )
    return Verdict(accept, use, info)
