"""The label model: LF accuracies from second moments, shrunk by empirical Bayes; weighted vote.

Notation: m LFs, k classes, d = m*k one-hot columns, ``O = E[x xᵀ]`` (d, d) from :class:`LFStats`.

Fit (driver, numpy/scipy, cost independent of n):

1. **Class-conditional parameters** ``mu[i*k+a, y] = P(λ_i = a | Y = y)`` by matrix completion of
   the second moment under conditional independence (Ratner et al., AAAI 2019; see
   :mod:`wsup_spark.labelmodel.moments`): minimise ``‖(O − μ diag(p) μᵀ) ⊙ M‖²`` plus the
   diagonal, simplex, "better than random" and ridge terms, with deterministic L-BFGS-B over the
   one-hot columns that ever fired (so unipolar LFs cost one row each). ``M`` masks same-LF blocks
   and declared dependencies.
2. **LF accuracies** ``a_i = P(λ_i = Y | λ_i ≠ abstain)`` from μ and p.
3. **Empirical-Bayes shrinkage** (:mod:`wsup_spark.labelmodel.shrinkage`): each ``a_i`` rests on
   the LF's overlap rows; its binomial variance is inflated by the Pearson overdispersion of the
   moment fit — the larger of the overall κ and the κ of the cells involving LF i (how badly
   conditional independence explains those co-occurrence counts) — and the DerSimonian–Laird
   random-effects estimate pulls it toward the common mean. When the data cannot distinguish the
   LFs, all accuracies are equal and prediction *is* majority vote (ties included); when overlaps
   are plentiful and the model fits (κ ≈ 1), the estimates stand. No constant is tuned.

Prediction (per row, table look-ups in a fixed LF order, so bit-identical however rows are
batched): the accuracy model ("one coin" per LF, abstain independent of Y)

    P(y | λ) ∝ p_y Π_{i: λ_i ≠ -1} [b_i if λ_i = y else (1 − b_i)/(k − 1)]^{s_i}

where the *vote accuracy* ``b_i`` makes a lone vote's posterior the LF's accuracy ``a_i`` under p
(for a unipolar LF, ``b_i (k − 1)/(1 − b_i)`` is its likelihood ratio; ``b_i = a_i`` under the
uniform balance), so that the class balance enters once, as the prior — weighing votes by
``a_i``, a precision that already contains the balance, counted it again in every vote — and
with ``s_i = 1/(|C(i)| + Σ_j redundancy_ij)`` for LF i in a declared dependency component C(i) and
with learned partners j (a duplicated LF does not count twice). Abstains carry no evidence. This is
deliberate: WRENCH LFs are mostly unipolar, and the class-conditional abstain factors of the full
model are where LF dependencies hurt most (on TREC even the *true* class-conditional parameters
give 50.4% accuracy vs 66.4% for the true accuracies in the model above, and 60.8% for majority
vote).

**Learned dependencies** (``structure="auto"``, the default;
:mod:`wsup_spark.labelmodel.structure`): LF pairs whose co-occurrences the rank-(k − 1) class
signal cannot explain (sparse + low-rank decomposition of the LF correlation matrix,
Bonferroni-corrected Poisson test, excess significantly ≥ 30% of the rarer LF's votes). A learned
edge leaves that pair's co-occurrences out of the moment fit (the pair only — no chaining through
weak links), divides each LF's vote by ``1 + Σ redundancy`` with its partners (a near-copy and its
source: about 0.6 of a vote each), and counts as one LF when checking identifiability. Each LF's
accuracy is then shrunk as resting on the share of its co-votes that entered the fit. Edges,
scores, excess, redundancy and the test thresholds are in ``fit_info["learned_dependencies"]``.

Class balance ``p`` (also the prior of rows without votes): given (``fit(stats,
class_balance=[...])``), or chosen from the statistics (``balance="auto"``, the default). With two
classes and third-order counts (``stats.triples``), from triplets of LFs no dependency links
(:mod:`wsup_spark.labelmodel.triplets`: the least skewed balance within two standard errors of
their pooled estimate; ``fit_info["balance"] == "triplets"``, details in
``fit_info["balance_triplets"]``). Otherwise, or when the triplets cannot tell it from the uniform
balance, the moment fit is run with the uniform balance (the Snorkel default) and — when p is
identifiable, i.e. every class is voted by ≥ 3 LFs from different (declared or learned)
dependency groups — with p estimated jointly (softmax parameterised, starting from the vote shares
and, for two classes, also from the reversed shares). The estimate is kept only if it passes the
tests of :mod:`wsup_spark.labelmodel.balance` — it explains the co-occurrence counts better than the
uniform balance by more than its k − 1 extra parameters cost (quasi-AIC), it keeps every voted
class's votes mostly right and no class's votes less reliable than the uniform balance does, and
(two classes, where pairwise statistics identify p only up to an interval and a swap of the
classes) it beats the rival optimum that makes another class the majority — and if the LFs stay
distinguishable under it: if the shrinkage pools every accuracy (τ² = 0, i.e. the model is
majority vote), the data cannot tell the balance either, and the fit falls back to the uniform
balance (majority vote has no prior).

``balance="uniform"`` / ``"estimate"`` force either.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wsup_spark.errors import ModelError
from wsup_spark.json_values import nan_to_none, none_to_nan
from wsup_spark.labelmodel.balance import judge_estimate
from wsup_spark.labelmodel.base import BaseLabelModel, Dependencies, check_votes
from wsup_spark.labelmodel.checks import degenerate_stats_warnings, identical_lf_pairs
from wsup_spark.labelmodel.dependencies import dependency_components, resolve_dependencies
from wsup_spark.labelmodel.moments import (
    MomentFit,
    chi2_cells,
    fit_moments,
    overdispersion,
    overdispersion_per_lf,
)
from wsup_spark.labelmodel.shrinkage import shrink_accuracies
from wsup_spark.labelmodel.structure import learn_structure
from wsup_spark.labelmodel.triplets import triplet_balance
from wsup_spark.stats.lfstats import LFStats

__all__ = ["LabelModel"]

logger = logging.getLogger(__name__)

_EPS = 1e-6


class LabelModel(BaseLabelModel):
    """Accuracy label model fit from LF statistics (see the module docstring).

    Parameters
    ----------
    cardinality : int
        Number of classes k.
    init_precision : float
        Initial ``P(Y = a | λ_i = a)`` of every LF in the moment fit (must be in (1/k, 1)).
    l2 : float
        Ridge strength γ toward the initialisation in the moment fit (default 0: an absolute
        ridge is not weak on sparse LFs, whose O entries are tiny — 1e-4 biased the class-balance
        estimate on a 9-class synthetic problem from 0.6% to 5% error; uncertainty is handled by
        the shrinkage instead).
    max_iter : int
        L-BFGS-B iteration cap.
    better_than_random : float
        Penalty weight ρ of the "every LF is better than random" constraint.
    balance : {"auto", "uniform", "estimate"}
        Class balance when ``fit`` gets none. ``"auto"`` (default): for two classes with
        third-order counts, the triplet balance when it is distinguishable from uniform;
        otherwise it fits the uniform balance and,
        when every class is voted by ≥ 3 independent LFs, the moment estimate, and keeps the
        estimate only when it explains the co-occurrence
        counts better by more than its k − 1 extra parameters cost (quasi-AIC: the Pearson χ² drop
        divided by the overdispersion exceeds 2(k − 1)).
    shrinkage : bool
        Empirical-Bayes shrinkage of the accuracies (default). ``False`` gives the weighted
        majority vote with the raw moment estimates.
    merge_identical : bool
        Treat LFs that vote identically on every row as dependent (default), so copies share one
        vote's weight.
    structure : {"auto", "none"}
        Learn LF dependencies from the statistics (default) or not; ``fit(...,
        dependencies="auto" | "none")`` overrides it for one fit.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 20000)
    >>> L = np.stack([np.where(rng.random(20000) < a, y, 1 - y) for a in (0.9, 0.8, 0.7)], 1)
    >>> model = LabelModel(cardinality=2).fit(LFStats.from_matrix(L, 2))
    >>> model.accuracies.round(2).tolist()
    [0.9, 0.8, 0.7]
    >>> model.predict(np.array([[0, 1, -1], [-1, 1, 0]])).tolist()
    [0, 1]
    """

    kind = "label_model"

    def __init__(
        self,
        cardinality: int,
        init_precision: float = 0.7,
        l2: float = 0.0,
        max_iter: int = 500,
        better_than_random: float = 10.0,
        balance: str = "auto",
        shrinkage: bool = True,
        merge_identical: bool = True,
        structure: str = "auto",
    ) -> None:
        super().__init__(cardinality)
        if not 1.0 / self.cardinality < init_precision < 1.0:
            raise ModelError(f"init_precision must be in (1/k, 1), got {init_precision}")
        if balance not in ("auto", "uniform", "estimate"):
            raise ModelError(f"balance must be 'auto', 'uniform' or 'estimate', got {balance!r}")
        self.init_precision = float(init_precision)
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.better_than_random = float(better_than_random)
        if structure not in ("auto", "none"):
            raise ModelError(f"structure must be 'auto' or 'none', got {structure!r}")
        self.balance = balance
        self.structure = structure
        self.shrinkage = bool(shrinkage)
        self.merge_identical = bool(merge_identical)
        self._mu: np.ndarray | None = None
        self._p: np.ndarray | None = None
        self._acc: np.ndarray | None = None
        self._raw_acc: np.ndarray | None = None
        self._vote_acc: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self.dependencies: list[tuple[int, int]] = []

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        stats: LFStats,
        class_balance: Sequence[float] | np.ndarray | None = None,
        dependencies: Dependencies | str | None = None,
    ) -> LabelModel:
        """Fit from statistics only (never n-sized data); returns self.

        Parameters
        ----------
        stats : LFStats
            With ``stats.k == cardinality``.
        class_balance : (k,) optional
            Fix P(Y) (used in the fit and as the prior of every prediction). When None: uniform,
            or estimated if the model was built with ``balance="estimate"``.
        dependencies : iterable of (i, j), "auto", "none", optional
            Pairs of dependent LFs (indices or names). The co-occurrences within each connected
            group are left out of the moment fit, and its LFs share one vote's weight. LFs that
            vote identically on every row are added automatically (``merge_identical``).
            Dependencies learned from the statistics are added when the model's ``structure`` is
            ``"auto"`` (default) or when this is ``"auto"``; ``"none"`` learns none.

        BLAS runs single-threaded during the fit (threadpoolctl): the matrices are at most
        (d, d) with d = m·k, where threads cost more than they save (SemEval-sized fit: 0.22 s
        single-threaded vs 1.85 s with OpenBLAS's default threads, ``scripts/bench_fit.py``), and
        one thread count makes the parameters identical wherever the driver runs.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(stats, class_balance, dependencies)

    def _fit(
        self,
        stats: LFStats,
        class_balance: Sequence[float] | np.ndarray | None,
        dependencies: Dependencies | str | None,
    ) -> LabelModel:
        k = self.cardinality
        self.check_stats(stats)
        if stats.n == 0:
            raise ModelError("cannot fit a label model on zero rows of LF statistics")
        m, d = stats.m, stats.d
        p_fixed: np.ndarray | None = None
        if class_balance is not None:
            p_fixed = np.asarray(class_balance, float)
            if p_fixed.shape != (k,) or not (p_fixed > 0).all():
                raise ModelError(f"class_balance must be {k} positive numbers, got {p_fixed}")
            p_fixed = p_fixed / p_fixed.sum()
        learn = self.structure == "auto"
        if isinstance(dependencies, str):
            if dependencies not in ("auto", "none"):
                raise ModelError(
                    f"dependencies must be pairs, 'auto' or 'none', got {dependencies!r}"
                )
            learn, dependencies = dependencies == "auto", None
        deps = resolve_dependencies(stats.m, stats.lf_names, dependencies)
        if self.merge_identical:  # exact copies carry no extra evidence: always one vote
            deps = sorted(set(deps) | set(identical_lf_pairs(stats)))
        learned_info: dict[str, Any] | None = None
        learned: list[tuple[int, int]] = []
        redundancy = np.zeros(m)
        if learn:
            structure = learn_structure(stats)
            learned_info = structure.to_info(stats.lf_names)
            # only LFs that vote a common class double-count evidence; an excess of co-votes
            # for *different* classes (two LFs firing on one surface feature and disagreeing)
            # is reported but left to the fit
            voted = stats.vote_counts > 0
            learned = [
                (i, j)
                for i, j in structure.edges
                if (i, j) not in set(deps) and bool((voted[i] & voted[j]).any())
            ]
            linked = np.zeros((m, m), bool)
            for i, j in learned:
                linked[i, j] = linked[j, i] = True
            # a learned dependency is partial: an LF keeps the share of its vote that its
            # dependent partners do not already cast (a copy of one LF: half a vote each)
            redundancy = (structure.redundancy * linked).sum(axis=1)
        self.warnings = degenerate_stats_warnings(stats)
        for w in self.warnings:
            logger.warning(w)

        O = stats.O
        active = np.flatnonzero(np.diag(stats.counts) > 0)  # one-hot columns that ever fired
        lf_of, cls = active // k, active % k
        mask = (lf_of[:, None] != lf_of[None, :]).astype(float)
        comp = dependency_components(m, deps)
        # LFs of one declared dependency component are not conditionally independent given Y
        # (not even those linked only through others): none of their co-occurrences enter the fit
        mask[comp[lf_of][:, None] == comp[lf_of][None, :]] = 0.0
        # a learned edge masks its own pair only (no chaining through weak links)
        for i, j in learned:
            mask[np.ix_(lf_of == i, lf_of == j)] = 0.0
            mask[np.ix_(lf_of == j, lf_of == i)] = 0.0
        indep = dependency_components(m, deps + learned)  # for counting independent LFs
        # an LF's accuracy rests on its overlap rows with the LFs it is not masked from: scale
        # its overlap count by the share of its co-votes that enter the fit
        co = np.zeros((m, m))
        np.add.at(co, (lf_of[:, None], lf_of[None, :]), stats.counts[np.ix_(active, active)])
        co_fit = np.zeros((m, m))
        np.add.at(co_fit, (lf_of[:, None], lf_of[None, :]),
                  stats.counts[np.ix_(active, active)] * mask)  # fmt: skip
        np.fill_diagonal(co, 0.0)
        share = np.where(co.sum(axis=1) > 0, co_fit.sum(axis=1) / np.maximum(co.sum(axis=1), 1), 1)
        n_obs = stats.overlaps * share
        Oa, Ca = O[np.ix_(active, active)], stats.counts[np.ix_(active, active)]
        mu = np.zeros((d, k))
        info: dict[str, Any] = {}
        candidates: list[tuple[np.ndarray, np.ndarray, str]] = []
        if not len(active):
            p = p_fixed if p_fixed is not None else np.full(k, 1.0 / k)
            info = {"iterations": 0, "loss": 0.0, "converged": True, "message": "no votes"}
            kappa, balance = 1.0, "given" if p_fixed is not None else "uniform"
            kappa_lf = np.ones(m)
        else:
            first = p_fixed if p_fixed is not None else np.full(k, 1.0 / k)
            balance = "given" if p_fixed is not None else "uniform"
            tri = None
            if p_fixed is None and self.balance == "auto" and stats.triples is not None:
                tri = triplet_balance(stats.counts, stats.triples, stats.n, indep)
                if tri is not None and tri.balance is not None:
                    first, balance = tri.balance, "triplets"
            res = self._fit_moments(Oa, lf_of, cls, mask, first, fixed=True)
            mu_a, p = res.mu, first
            info = {"iterations": res.iterations, "loss": res.loss, "converged": res.converged,
                    "message": res.message}  # fmt: skip
            if tri is not None:
                info["balance_triplets"] = tri.to_info()
            use = chi2_cells(Ca, stats.n, mu_a, p, mask)
            # p is identifiable from second moments only with >= 3 conditionally independent LFs
            # voting each class (LFs of one dependency component count once)
            per_class = np.array([len(set(indep[lf_of[cls == c]])) for c in range(k)])
            info["min_independent_lfs_per_class"] = int(per_class.min())
            info["independent_lfs_per_class"] = per_class.tolist()
            identifiable = bool(per_class.min() >= 3)
            if balance == "uniform" and (
                self.balance == "estimate" or (self.balance == "auto" and identifiable)
            ):
                fits = self._estimate_balance(Oa, lf_of, cls, mask)
                verdict = judge_estimate(
                    fits, Ca, stats.n, cls, mask, (mu_a, p), use,
                    forced=self.balance == "estimate",
                )  # fmt: skip
                use = verdict.use
                info.update(verdict.info)
                info["iterations"] += sum(fit.iterations for fit in fits)
                if verdict.accept:
                    mu_a, p, balance = fits[0].mu, fits[0].p, "estimated"
            candidates = [(mu_a, p, balance)]
            if self.balance == "auto" and balance == "estimated":
                candidates.append((res.mu, first, "uniform"))
        for mu_c, p_c, balance in candidates:
            kappa = overdispersion(Ca, stats.n, mu_c, p_c, mask, use)
            # an LF's estimate is as unreliable as the worse of the overall fit and its own cells
            kappa_lf = np.maximum(
                overdispersion_per_lf(Ca, stats.n, mu_c, p_c, use, lf_of, m, kappa), kappa
            )
            mu = np.zeros((d, k))
            mu[active] = mu_c
            p = p_c
            if balance == "estimated":
                mu, p = self._undo_flipped_permutation(mu, p)
            raw, acc, shr_info = self._shrunk(self._accuracies(mu, p), n_obs, kappa_lf)
            if (
                balance == "estimated"
                and shr_info.get("shrink_tau2") == 0.0
                and (self.balance == "auto")
            ):
                # the data cannot tell the LFs apart (all pooled, i.e. majority vote): then it
                # cannot tell the class balance either — majority vote has no prior
                info["balance_rejected"] = "LF accuracies all pooled (τ² = 0) under the estimate"
                continue
            break
        if not candidates:
            raw, acc, shr_info = self._shrunk(self._accuracies(mu, p), n_obs, kappa_lf)
        info.update(shr_info)
        info["balance"] = balance
        n_overlap_lfs = int(((stats.overlaps > 0) & np.isfinite(raw)).sum())
        if n_overlap_lfs < 3:  # accuracies not identifiable: keep the prior precision for all
            acc = np.where(np.isfinite(raw), self.init_precision, np.nan)
        sizes = np.bincount(comp, minlength=m)
        self._mu, self._p = mu, p.copy()
        self._raw_acc, self._acc = raw, acc
        self._vote_acc = self._vote_accuracies(acc, mu, p)
        self._scale = 1.0 / (sizes[comp] + redundancy)
        self.dependencies = sorted(set(deps) | set(learned))
        self.lf_names = stats.lf_names
        self.fit_info = {**info, "overdispersion": kappa, "active_columns": len(active)}
        if learned_info is not None:
            self.fit_info["learned_dependencies"] = learned_info
        logger.info(
            "label model fit: %d iterations, loss %.3e, overdispersion %.2f",
            info["iterations"], info["loss"], kappa,
        )  # fmt: skip
        return self

    def _shrunk(
        self, raw_acc: np.ndarray, n_obs: np.ndarray, kappa_lf: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """(raw, shrunk accuracies, fit_info entries) — shrinkage off: the raw estimates."""
        if not self.shrinkage:
            return raw_acc, raw_acc.copy(), {}
        shr = shrink_accuracies(raw_acc, n_obs, kappa_lf)
        return (
            raw_acc,
            shr.accuracies,
            {
                "shrink_mean": shr.mean if np.isfinite(shr.mean) else None,
                "shrink_tau2": float(shr.tau2),
            },
        )

    def _vote_accuracies(self, acc: np.ndarray, mu: np.ndarray, p: np.ndarray) -> np.ndarray:
        """(m,) one-coin accuracies ``b_i`` whose votes, added to the prior p, give each LF's
        lone vote the accuracy ``acc_i = P(Y = λ_i | λ_i votes)`` it has under p.

        A lone vote for class a with vote weight ``r = b (k − 1) / (1 − b)`` has posterior
        ``q_a(r) = p_a r / (p_a r + 1 − p_a)``; r solves ``Σ_a P(λ_i = a | votes) q_a(r) = acc_i``
        (increasing in r; bisection on log r), with the LF's vote shares
        ``P(λ_i = a) ∝ Σ_y μ[i·k+a, y] p_y``. For a unipolar LF, r is its likelihood ratio: the
        class balance enters the prediction once, as the prior, not again in every vote. Under
        the uniform balance ``b = acc``.
        """
        k = self.cardinality
        if bool(np.all(p == p[0])):
            return acc.copy()
        m = acc.shape[0]
        shares = (mu * p).sum(axis=1).reshape(m, k)
        shares = shares / np.maximum(shares.sum(axis=1, keepdims=True), 1e-300)
        target = np.clip(np.nan_to_num(acc, nan=0.5), _EPS, 1.0 - _EPS)
        lo, hi = np.full(m, -40.0), np.full(m, 40.0)  # log r
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            r = np.exp(mid)[:, None]
            q = (shares * (p * r / (p * r + 1.0 - p))).sum(axis=1)
            below = q < target
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        r = np.exp(0.5 * (lo + hi))
        return np.where(np.isfinite(acc), r / (r + k - 1), np.nan)

    def _fit_moments(
        self, Oa: np.ndarray, lf_of: np.ndarray, cls: np.ndarray, mask: np.ndarray,
        p: np.ndarray, *, fixed: bool,
    ) -> MomentFit:  # fmt: skip
        """The moment fit with this model's settings: the balance ``p`` fixed, or estimated
        jointly starting from it."""
        return fit_moments(
            Oa, lf_of, cls, self.cardinality, p_fixed=p if fixed else None, p_init=p,
            init_precision=self.init_precision, mask=mask, l2=self.l2,
            better_than_random=self.better_than_random, max_iter=self.max_iter,
        )  # fmt: skip

    def _estimate_balance(
        self, Oa: np.ndarray, lf_of: np.ndarray, cls: np.ndarray, mask: np.ndarray
    ) -> list[MomentFit]:
        """Joint fits of μ and p (softmax-parameterised), one per starting balance: first the
        vote shares (the estimate), and for two classes also the shares reversed (its rival).

        With two classes the moment fit can have two local optima, one per class taken as the
        rare one. The vote shares start in the basin of the class voted more often, which can be
        the wrong one when most LFs vote the rare class (spouse-like relation sets: 6 of 9 LFs
        vote the 8% class), and the reversed start finds the other. Neither side's fit is
        reliable evidence of which class is rare (on sms with injected near-copies the reversed
        optimum fits better and is wrong: 66% spam), so
        :func:`~wsup_spark.labelmodel.balance.judge_estimate` only uses the rival to reject the
        estimate — it never adopts it.
        """
        k = self.cardinality
        shares = np.bincount(cls, weights=np.diag(Oa), minlength=k) + 1e-3
        p0 = np.clip(shares / shares.sum(), 0.05, None)
        p0 = p0 / p0.sum()
        starts = [p0, p0[::-1].copy()] if k == 2 else [p0]
        return [self._fit_moments(Oa, lf_of, cls, mask, q, fixed=False) for q in starts]

    def _undo_flipped_permutation(
        self, mu: np.ndarray, p: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """If the fitted classes make LFs worse than random on average, permute them back."""
        k = self.cardinality
        if k > 6:  # k! permutations; larger k relies on the initialisation alone
            return mu, p
        best, best_acc = tuple(range(k)), -1.0
        for perm in itertools.permutations(range(k)):
            acc = float(np.nanmean(self._accuracies(mu[:, perm], p[list(perm)])))
            if acc > best_acc + 1e-12:
                best, best_acc = perm, acc
        if list(best) != list(range(k)):
            logger.warning("label model converged to a permuted solution; undoing it")
        return mu[:, best], p[list(best)]

    # ------------------------------------------------------------------ parameters
    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._mu is None or self._p is None:
            raise ModelError("the label model is not fitted: call fit(stats) first")
        return self._mu, self._p

    @property
    def mu(self) -> np.ndarray:
        """(d, k) ``P(λ_i = a | Y = y)`` from the moment fit."""
        return self._fitted()[0].copy()

    @property
    def class_balance(self) -> np.ndarray:
        """(k,) ``P(Y)`` used by the model (given, uniform, or estimated)."""
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
        """(m,) ``P(λ_i = Y | λ_i ≠ abstain)`` under the model's class balance, after shrinkage
        (NaN for LFs that never vote): the posterior the prediction gives a lone vote of each
        LF. Equal to :attr:`vote_accuracies` when the balance is uniform."""
        self._fitted()
        assert self._acc is not None
        return self._acc.copy()

    @property
    def vote_accuracies(self) -> np.ndarray:
        """(m,) one-coin accuracies ``b_i`` that weigh the votes: ``b_i (k − 1) / (1 − b_i)`` is
        the likelihood ratio a vote adds to the prior (see :meth:`_vote_accuracies`)."""
        self._fitted()
        assert self._acc is not None
        vote_acc = getattr(self, "_vote_acc", None)  # absent in objects pickled before version 3
        return (vote_acc if vote_acc is not None else self._acc).copy()

    @property
    def raw_accuracies(self) -> np.ndarray:
        """(m,) accuracies of the moment fit before shrinkage."""
        mu, p = self._fitted()
        return self._raw_acc.copy() if self._raw_acc is not None else self._accuracies(mu, p)

    @property
    def weights(self) -> np.ndarray:
        """(m,) log-odds weight of each LF's vote, ``s_i log(b_i (k−1) / (1 − b_i))`` with b the
        :attr:`vote_accuracies`; LFs that never vote (or are no better than random) weigh 0."""
        self._fitted()
        assert self._scale is not None
        k = self.cardinality
        a = np.clip(np.nan_to_num(self.vote_accuracies, nan=1.0 / k), 1.0 / k, 1.0 - _EPS)
        return self._scale * np.log(a * (k - 1) / (1.0 - a))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """(n, k) ``P(Y | λ)`` for an (n, m) vote matrix (-1 = abstain); rows sum to 1, no NaN."""
        _, p = self._fitted()
        k = self.cardinality
        w = self.weights
        m = w.shape[0]
        L = check_votes(L, m, k)
        # per-LF table (k+1, k): vote a -> w_i on class a; abstain (row k) -> 0
        T = np.zeros((m, k + 1, k))
        T[:, np.arange(k), np.arange(k)] = w[:, None]
        idx = np.where(L < 0, k, L)
        ll = np.broadcast_to(np.log(np.clip(p, _EPS, 1.0)), (L.shape[0], k)).copy()
        for i in range(m):
            ll += T[i][idx[:, i]]
        ll -= ll.max(axis=1, keepdims=True)
        P = np.exp(ll)
        return P / P.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        mu, p = self._fitted()
        assert self._acc is not None and self._scale is not None
        return {
            "kind": "label_model",
            "version": 3,
            "cardinality": self.cardinality,
            "init_precision": self.init_precision,
            "l2": self.l2,
            "max_iter": self.max_iter,
            "better_than_random": self.better_than_random,
            "balance": self.balance,
            "shrinkage": self.shrinkage,
            "merge_identical": self.merge_identical,
            "structure": self.structure,
            "mu": mu.tolist(),
            "class_balance": p.tolist(),
            "accuracies": nan_to_none(self._acc),
            "vote_accuracies": nan_to_none(self.vote_accuracies),
            "raw_accuracies": nan_to_none(self.raw_accuracies),
            "vote_scale": self._scale.tolist(),
            "dependencies": [list(x) for x in self.dependencies],
            "lf_names": list(self.lf_names) if self.lf_names else None,
            "fit_info": self.fit_info,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelModel:
        """Inverse of :meth:`to_dict`. Version-1 parameters (accuracies from μ) and version-2
        ones (no ``vote_accuracies``: votes weighed by the accuracies under the balance) load
        and predict as they were saved."""
        if d.get("kind") != "label_model":
            raise ModelError(f"not label-model parameters (kind={d.get('kind')!r})")
        model = cls(
            d["cardinality"], d["init_precision"], d["l2"], d["max_iter"],
            d.get("better_than_random", 10.0), d.get("balance", "auto"),
            d.get("shrinkage", True), d.get("merge_identical", True), d.get("structure", "none"),
        )  # fmt: skip
        model._mu = np.asarray(d["mu"], float)
        model._p = np.asarray(d["class_balance"], float)
        if d.get("accuracies") is not None:
            model._acc = none_to_nan(d["accuracies"])
            model._raw_acc = none_to_nan(d.get("raw_accuracies") or d["accuracies"])
            if d.get("vote_accuracies") is not None:
                model._vote_acc = none_to_nan(d["vote_accuracies"])
        else:
            model._acc = model._raw_acc = model._accuracies(model._mu, model._p)
        m = model._acc.shape[0]
        model._scale = np.asarray(d.get("vote_scale") or np.ones(m), float)
        model.dependencies = [(int(a), int(b)) for a, b in d.get("dependencies") or []]
        model.lf_names = tuple(d["lf_names"]) if d.get("lf_names") else None
        model.fit_info = dict(d.get("fit_info") or {})
        return model
