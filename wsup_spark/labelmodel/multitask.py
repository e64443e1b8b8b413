"""Multi-task label model (MeTaL): one accuracy model over the feasible joint label vectors.

Notation: a :class:`~wsup_spark.tasks.TaskGraph` with T tasks and J feasible joint vectors
``Y`` (J, T); m LFs, LF i votes task ``t(i)`` (``k_i = k_{t(i)}`` values, or abstains with -1).
Statistics: :class:`~wsup_spark.labelmodel.multitask_stats.MultiTaskStats` (d×d co-occurrences of
the LF-output indicators, a sum over rows). The fit reads only them (cost independent of n).

Prediction (per row, fixed LF order, the single-task accuracy model lifted to the joint space)::

    log P(y | λ) = log p_y + Σ_{i: λ_i ≠ -1} T_i[λ_i, y] + const

where ``T_i`` is LF i's (k_i, J) table of log-likelihood ratios: a coarse vote moves every fine
value under it, a fine vote also votes its coarse class. Per-task marginals sum the joint
posterior (a task's row sums to the probability that it applies).

Two fits, chosen by ``method``:

* ``"hierarchical"`` (the default for value trees: every child task's values imply a parent
  value — ``parent_of``, as in TREC coarse → fine, or a single ``active_when`` value, as in
  normal/abnormal → finding type). For each task, one :class:`LabelModel` over
  every LF whose vote implies a value of that task (its own LFs and its descendants' LFs with
  their votes projected up: ``NUM:count`` is a ``NUM`` vote), fit from the projected statistics
  (:meth:`MultiTaskStats.level_stats`, exact counts) with everything the single-task model does:
  matrix completion, class-balance choice, dependency masking, empirical-Bayes shrinkage. LF i's
  evidence is the two-level one-coin model along its ancestor chain: at the root
  ``w_i 1[y_root = a_root]`` with the root-level weight; one level down, with
  ``β = a^ℓ_i / a^{ℓ-1}_i`` its precision among the n children of its parent-level vote,
  ``log(n(1−β)/(n−1)) 1[y_{ℓ−1} = a^{ℓ−1}] + log(β(n−1)/(1−β)) 1[y_ℓ = a^ℓ]``. When a level cannot
  identify an LF's accuracy (a class it votes has < 3 conditionally independent LFs of the level),
  β is the prior precision ``init_precision``, and a task's own LF at that level counts at its
  agreement rate with the descendant tasks' LFs (their votes projected up; a lower bound on its
  accuracy — :meth:`MultiTaskLabelModel._anchor_accuracies`) where it ever votes with one. Each
  vote is scaled as the level's :class:`LabelModel` scales it (dependency components, learned
  partners by their redundancy). P(Y) multiplies each level's balance renormalised among the
  values feasible under the parent; a child level whose moments cannot estimate its balance uses
  the soft vote shares of its LFs under the same two-level noise model (and the model's own
  assumption that abstaining is independent of Y), which only orders values *within* a parent
  value.
* ``"moments"`` (any graph, e.g. ``active_when`` hierarchies or explicit feasible sets): the tied
  matrix completion of :mod:`~wsup_spark.labelmodel.multitask_moments` over the joint space, then
  per-task accuracies ``a_i = P(Y_{t(i)} = λ_i | λ_i voted)`` shrunk per task, and
  ``T_i[a, y] = w_i 1[y_{t(i)} = a]`` with ``w_i = log(a_i (k_i − 1) / (1 − a_i))``.

With one task the model *is* :class:`LabelModel` (it delegates fit and prediction): predictions
are bit-identical. numpy/scipy only (never pyspark or torch).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from wsup_spark import LFStats
from wsup_spark.errors import ModelError, StatsError
from wsup_spark.labelmodel import LabelModel
from wsup_spark.labelmodel.dependencies import dependency_components, resolve_dependencies
from wsup_spark.labelmodel.multitask_moments import fit_moment_model
from wsup_spark.labelmodel.multitask_stats import (
    MultiTaskStats,
    implied_parent_of,
    implied_values,
)
from wsup_spark.tasks import NA, TaskGraph

__all__ = ["MultiTaskLabelModel", "MultiTaskStats", "dependency_components", "implied_values"]

logger = logging.getLogger(__name__)

_EPS = 1e-6


def _is_value_tree(graph: TaskGraph) -> bool:
    """Every child task's values imply a parent value (``parent_of``, or a single
    ``active_when`` value) and Y is the derived (not explicit) set."""
    return not graph.to_dict().get("feasible") and all(
        t.parent is None or implied_parent_of(t) is not None for t in graph.tasks
    )


def _ancestors(graph: TaskGraph, task: int) -> list[int]:
    """Tasks from the root down to ``task`` (inclusive) along ``parent``."""
    chain = [task]
    while graph.tasks[chain[-1]].parent is not None:
        chain.append(graph.index(graph.tasks[chain[-1]].parent or ""))
    return chain[::-1]


def _nan_to_none(a: np.ndarray) -> list[float | None]:
    return [float(x) if np.isfinite(x) else None for x in a]


def _none_to_nan(a: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in a], float)


class MultiTaskLabelModel:
    """Accuracy label model over the feasible joint label vectors of a :class:`TaskGraph`.

    Parameters are those of :class:`LabelModel` (``balance="uniform"`` means the hierarchical
    uniform prior :meth:`TaskGraph.uniform_balance`; ``"auto"`` estimates P(Y) over the joint
    values when every joint value is voted by ≥ 3 independent LFs and the estimate pays for its
    J − 1 parameters). With one task the model delegates to :class:`LabelModel`.

    Parameters
    ----------
    graph : TaskGraph
    init_precision, l2, max_iter, better_than_random, balance, shrinkage, merge_identical
        As in :class:`LabelModel`.

    Examples
    --------
    >>> from wsup_spark.tasks import Task
    >>> g = TaskGraph([Task("c", 2), Task("f", 4, parent="c", parent_of=(0, 0, 1, 1))])
    >>> rng = np.random.default_rng(0)
    >>> yj = rng.integers(0, 4, 5000); Yc, Yf = g.feasible[yj, 0], g.feasible[yj, 1]
    >>> noisy = lambda y, k, a: np.where(rng.random(y.size) < a, y, rng.integers(0, k, y.size))
    >>> L = np.stack([noisy(Yc, 2, .9), noisy(Yc, 2, .8), noisy(Yf, 4, .8), noisy(Yf, 4, .7)], 1)
    >>> model = MultiTaskLabelModel(g).fit(MultiTaskStats.from_matrix(L, g, ["c", "c", "f", "f"]))
    >>> model.predict(np.array([[1, 1, 2, -1], [0, -1, 1, -1]])).tolist()
    [[1, 2], [0, 1]]
    """

    def __init__(
        self,
        graph: TaskGraph,
        init_precision: float = 0.7,
        l2: float = 0.0,
        max_iter: int = 500,
        better_than_random: float = 10.0,
        balance: str = "auto",
        shrinkage: bool = True,
        merge_identical: bool = True,
        method: str = "auto",
    ) -> None:
        if method not in ("auto", "hierarchical", "moments"):
            raise ModelError(f"method must be 'auto', 'hierarchical' or 'moments', got {method!r}")
        if method == "hierarchical" and not _is_value_tree(graph):
            raise ModelError("method='hierarchical' needs every child task to declare parent_of "
                             "(each child value implies one parent value) or a single "
                             "active_when value, and no explicit feasible set; use "
                             "method='moments'")  # fmt: skip
        if not isinstance(graph, TaskGraph):
            raise ModelError(f"graph must be a TaskGraph, got {type(graph).__name__}")
        if not 1.0 / min(graph.cardinalities) < init_precision < 1.0:
            raise ModelError(
                f"init_precision must be in (1/k, 1) for every task, got {init_precision} "
                f"(cardinalities {list(graph.cardinalities)})"
            )
        if balance not in ("auto", "uniform", "estimate"):
            raise ModelError(f"balance must be 'auto', 'uniform' or 'estimate', got {balance!r}")
        self.graph = graph
        self.init_precision = float(init_precision)
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.better_than_random = float(better_than_random)
        self.balance = balance
        self.shrinkage = bool(shrinkage)
        self.merge_identical = bool(merge_identical)
        self.method = method
        self._single: LabelModel | None = None
        self._levels: dict[int, tuple[LabelModel, np.ndarray]] = {}
        self._identified: dict[int, np.ndarray] = {}
        self._level_balance: dict[int, np.ndarray] = {}
        self._anchored: dict[int, np.ndarray] = {}
        self._scales: dict[int, np.ndarray] = {}
        self._p: np.ndarray | None = None
        self._mu: np.ndarray | None = None
        self._acc: np.ndarray | None = None
        self._raw_acc: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self.lf_tasks: tuple[int, ...] = ()
        self.lf_names: tuple[str, ...] | None = None
        self.dependencies: list[tuple[int, int]] = []
        self.fit_info: dict[str, Any] = {}

    def _label_model(self, k: int | None = None) -> LabelModel:
        return LabelModel(
            self.graph.cardinalities[0] if k is None else k, self.init_precision, self.l2,
            self.max_iter, self.better_than_random, self.balance, self.shrinkage,
            self.merge_identical,
        )  # fmt: skip

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        stats: MultiTaskStats,
        class_balance: Sequence[float] | np.ndarray | None = None,
        dependencies: Iterable[tuple[int | str, int | str]] | None = None,
    ) -> MultiTaskLabelModel:
        """Fit from statistics only; returns self.

        Parameters
        ----------
        stats : MultiTaskStats
            Over this model's task graph.
        class_balance : (J,) optional
            Fixed P(Y) over the feasible joint vectors (one task: over its k classes).
        dependencies : iterable of (i, j), optional
            Pairs of dependent LFs (indices or names), as in :meth:`LabelModel.fit`.
        """
        if not isinstance(stats, MultiTaskStats):
            raise StatsError(f"fit needs MultiTaskStats, got {type(stats).__name__}")
        if stats.graph != self.graph:
            raise StatsError(f"statistics are over {stats.graph!r}, the model over {self.graph!r}")
        if stats.n == 0:
            raise ModelError("cannot fit a label model on zero rows of LF statistics")
        self.lf_tasks, self.lf_names = stats.lf_tasks, stats.lf_names
        if len(self.graph.tasks) == 1:  # one task: the single-task model, exactly
            self._single = self._label_model().fit(
                stats.task_stats(0), class_balance=class_balance, dependencies=dependencies
            )
            self.dependencies, self.fit_info = self._single.dependencies, self._single.fit_info
            return self
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            if self.method == "hierarchical" or (
                self.method == "auto" and _is_value_tree(self.graph)
            ):
                return self._fit_levels(stats, class_balance, dependencies)
            return self._fit(stats, class_balance, dependencies)

    def _dependency_pairs(
        self, stats: MultiTaskStats, dependencies: Iterable[tuple[int | str, int | str]] | None
    ) -> list[tuple[int, int]]:
        return resolve_dependencies(stats.m, stats.lf_names, dependencies)

    def _column_sets(self, stats: MultiTaskStats) -> np.ndarray:
        """(d, J) bool: joint values consistent with each indicator column."""
        lf, val = stats.columns()
        t = np.array(stats.lf_tasks, np.int64)[lf]
        return self.graph.feasible[:, t].T == val[:, None]  # type: ignore[no-any-return]

    def _identical_pairs(self, stats: MultiTaskStats) -> list[tuple[int, int]]:
        """LF pairs (any tasks) that vote on exactly the same rows, always consistently."""
        lf, _ = stats.columns()
        S = self._column_sets(stats).astype(float)
        cons = (S @ S.T) > 0
        m = stats.m
        onehot = np.zeros((stats.d, m))
        onehot[np.arange(stats.d), lf] = 1.0
        C = stats.counts.astype(float)
        joint = onehot.T @ C @ onehot
        agree = onehot.T @ (C * cons) @ onehot
        total = np.diag(joint)
        same = ((agree == joint) & (joint == total[:, None]) & (joint == total[None, :])
                & (total[:, None] > 0))  # fmt: skip
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(same, 1)), strict=True)]

    def _check_balance(
        self, class_balance: Sequence[float] | np.ndarray | None
    ) -> np.ndarray | None:
        if class_balance is None:
            return None
        J = self.graph.n_joint
        p = np.asarray(class_balance, float)
        if p.shape != (J,) or not (p > 0).all():
            raise ModelError(
                f"class_balance must be {J} positive numbers (one per feasible joint label "
                f"vector), got shape {p.shape}"
            )
        return p / p.sum()  # type: ignore[no-any-return]

    def _fit(
        self,
        stats: MultiTaskStats,
        class_balance: Sequence[float] | np.ndarray | None,
        dependencies: Iterable[tuple[int | str, int | str]] | None,
    ) -> MultiTaskLabelModel:
        m = stats.m
        p_fixed = self._check_balance(class_balance)
        deps = self._dependency_pairs(stats, dependencies)
        if self.merge_identical:
            deps = sorted(set(deps) | set(self._identical_pairs(stats)))
        comp = dependency_components(m, deps)
        res = fit_moment_model(
            stats, comp, self._column_sets(stats), p_fixed, self.balance, self.init_precision,
            self.l2, self.better_than_random, self.max_iter, self.shrinkage,
        )  # fmt: skip
        mu_full, p, raw, acc, info = res.mu, res.p, res.raw_accuracies, res.accuracies, res.info
        kappa = info["overdispersion"]
        sizes = np.bincount(comp, minlength=m)
        self._mu, self._p = mu_full, np.asarray(p, float).copy()
        self._raw_acc, self._acc = raw, acc
        self._scale = 1.0 / sizes[comp]
        self.dependencies = deps
        self.fit_info = {"method": "moments", **info}
        logger.info("multi-task label model fit: %d iterations, loss %.3e, overdispersion %.2f",
                    info["iterations"], info["loss"], kappa)  # fmt: skip
        return self

    def _fit_levels(
        self,
        stats: MultiTaskStats,
        class_balance: Sequence[float] | np.ndarray | None,
        dependencies: Iterable[tuple[int | str, int | str]] | None,
    ) -> MultiTaskLabelModel:
        """Hierarchical fit: one :class:`LabelModel` per task over every LF whose vote implies
        a value of it (its own LFs and its descendants' LFs, votes projected up)."""
        g = self.graph
        p_fixed = self._check_balance(class_balance)
        deps = self._dependency_pairs(stats, dependencies)
        self._levels, self._scales, self._anchored = {}, {}, {}
        info: dict[str, Any] = {}
        share: list[tuple[int, LFStats]] = []
        level_st: dict[int, LFStats] = {}
        for t, task in enumerate(g.tasks):
            st, lfs = stats.level_stats(t)
            if st.m == 0:
                continue
            local = {int(i): pos for pos, i in enumerate(lfs)}
            dl = [(local[i], local[j]) for i, j in deps if i in local and j in local]
            bal = None
            if p_fixed is not None:
                q = p_fixed @ g.projection(t)
                bal = q / q.sum()
            lm = self._label_model(task.cardinality).fit(st, class_balance=bal, dependencies=dl)
            self._levels[t] = (lm, lfs)
            # an LF's accuracy at this level is identifiable from second moments only when each
            # class it votes is voted by >= 3 conditionally independent LFs of the level
            comp = dependency_components(st.m, lm.dependencies)
            voted = st.vote_counts > 0
            n_ind = np.array([len(set(comp[voted[:, c]].tolist())) for c in range(st.k)])
            # (and, as for the class balance, only when every class of the level is: a level
            # where some classes have fewer LFs leaves within-parent precisions to the prior)
            level_ok = bool(n_ind.min() >= 3)
            self._identified[t] = np.array(
                [level_ok and bool((n_ind[row] >= 3).all()) for row in voted]
            )
            self._level_balance[t] = lm.class_balance
            info[task.name] = {"lfs": len(lfs), **lm.fit_info}
            level_st[t] = st
            if task.parent is not None and lm.fit_info.get("balance") == "uniform":
                share.append((t, st))
        for t, st in level_st.items():  # own LFs the moments cannot identify
            self._anchored[t] = self._anchor_accuracies(t, st)
            info[g.tasks[t].name]["anchored_lfs"] = int(np.isfinite(self._anchored[t]).sum())
        # child levels whose moments cannot estimate the balance: vote shares under the
        # two-level noise model (needs every level's accuracies, hence after the loop)
        for t, st in share:
            self._level_balance[t] = self._vote_share_balance(t, st)
        self.dependencies = deps
        self._p = p_fixed if p_fixed is not None else self._balance_from_levels()
        own = [self._levels[u][0] for u in stats.lf_tasks]
        pos = [int(np.flatnonzero(self._levels[u][1] == i)[0])
               for i, u in enumerate(stats.lf_tasks)]  # fmt: skip
        self._acc = np.array([lm.accuracies[j] for lm, j in zip(own, pos, strict=True)])
        anchored = np.array([self._anchored[u][j] for u, j in zip(stats.lf_tasks, pos,
                                                                 strict=True)])  # fmt: skip
        self._acc = np.where(np.isfinite(anchored), anchored, self._acc)
        self._raw_acc = np.array([lm.raw_accuracies[j] for lm, j in zip(own, pos, strict=True)])
        self._scale = np.ones(stats.m)
        self.fit_info = {"method": "hierarchical", "levels": info,
                         "balance": "given" if p_fixed is not None else "from levels"}  # fmt: skip
        return self

    def _anchor_accuracies(self, t: int, st: LFStats) -> np.ndarray:
        """(m_t,) level-``t`` accuracies of task ``t``'s own LFs that the level's moments cannot
        identify, from their agreement with the descendant tasks' LFs (NaN elsewhere: for
        identified LFs, the descendants' LFs, and an own LF that never votes with one).

        A child-level vote is a parent-level vote (``NUM:count`` says ``NUM``) cast by a
        separate family of LFs, written for another task. On the rows where own LF i and such a
        vote j both vote, with j conditionally independent of i given Y, accuracy ``p_j`` at
        this level and errors spread evenly, ``P(agree) = a_i p_j + (1 − a_i)(1 − p_j)/(k − 1)
        ≤ a_i`` (for ``a_i > 1/k``). Pooled over i's co-votes, its agreement rate is the accuracy
        it would have if the child votes were right: a lower bound that needs no estimate of
        the child votes' accuracy, so a lone child vote is never overruled by an own LF whose
        accuracy a guess at ``p`` inflated. The rates are shrunk by the random-effects model of
        :func:`~wsup_spark.labelmodel.shrinkage.shrink_accuracies` on the co-vote counts. It
        replaces the moment estimate only where the level cannot identify it (the same test as
        for the within-parent precision, :attr:`_identified`): on TREC's coarse level the 68
        sparse WRENCH LFs (many near-copies; overdispersion 5–10) get moment estimates of
        0.2–0.3 for good LFs and 0.9+ for catch-alls (correlation with their gold accuracies on
        train 0.17), while the agreement rates correlate 0.94 with them.
        """
        from wsup_spark.labelmodel.shrinkage import shrink_accuracies

        _, lfs = self._levels[t]
        out = np.full(lfs.size, np.nan)
        own = np.array([self.lf_tasks[i] == t for i in lfs], bool)
        if not own.any() or own.all():
            return out
        k = st.k
        own_idx, anchors = np.flatnonzero(own), np.flatnonzero(~own)
        C = st.counts.reshape(st.m, k, st.m, k)[own_idx][:, :, anchors].astype(float)
        covote = C.sum(axis=(1, 2, 3))
        agree = np.einsum("iaja->i", C)
        has = covote > 0
        rate = np.where(has, agree / np.maximum(covote, 1.0), np.nan)
        acc = shrink_accuracies(rate, covote).accuracies
        use = has & ~self._identified[t][own_idx]
        out[own_idx] = np.where(use, np.clip(acc, 1.0 / k, 1.0 - _EPS), np.nan)
        return out

    def _within_parent_precision(self, lf: int, u: int, pos: int, n_child: np.ndarray
                                 ) -> np.ndarray:  # fmt: skip
        """LF ``lf``'s precision β among the children of its parent-level vote at level ``u``
        (position ``pos`` there), for parent values with ``n_child`` children each: the ratio of
        its accuracies at ``u`` and at the parent level where the level identifies them, else
        the prior precision ``init_precision``; at least 1/n."""
        nc = np.maximum(n_child, 2).astype(float)
        if self._identified[u][pos]:
            d = len(_ancestors(self.graph, u)) - 1
            chain = self._chain(lf)
            beta = np.clip(chain[d] / max(chain[d - 1], _EPS), 1.0 / nc, 1.0 - _EPS)
        else:
            beta = np.maximum(np.full(nc.shape, self.init_precision), 1.0 / nc)
        return np.asarray(beta, float)

    def _vote_share_balance(self, t: int, st: LFStats) -> np.ndarray:
        """(k,) class balance of a child level whose moments cannot estimate it: the expected
        class shares of the voted rows, each vote a soft label under the model's own two-level
        noise model — right at the parent level with the LF's parent-level accuracy ``a``
        (:meth:`chain_accuracies`), then the voted value with the within-parent precision β and
        each of its ``n − 1`` siblings with ``(1 − β)/(n − 1)``; the ``1 − a`` spread evenly over
        the other parent values and their children — plus one pseudo-vote per class. It rests
        on the model's own assumption that abstaining is independent of Y; it only orders
        values *within* a parent value (renormalised there by :meth:`_balance_from_levels`).
        (Spreading a vote's errors over all values instead, as if there were no hierarchy,
        gives a rare value the errors of every vote of every parent, and a common sibling's
        none: on TREC a lone ``HUM:desc`` vote then lost to the ``HUM:ind`` prior.)
        """
        g, k = self.graph, st.k
        task = g.tasks[t]
        par = g.index(task.parent or "")
        k_par = g.cardinalities[par]
        pv = np.array(implied_parent_of(task) or (), np.int64)
        nb = np.bincount(pv, minlength=k_par).astype(float)
        n_c = nb[pv]  # (k,) children of each value's parent value
        d = len(_ancestors(g, t)) - 1
        _, lfs = self._levels[t]
        N = st.vote_counts.astype(float)  # (m_t, k)
        soft = np.ones(k)
        for pos, i in enumerate(lfs.tolist()):
            if not N[pos].any():
                continue
            a = self._chain(i)[d - 1]
            a = self.init_precision if not np.isfinite(a) else a
            beta = self._within_parent_precision(i, t, pos, n_c)
            beta = np.where(n_c > 1, beta, 1.0)
            G = np.bincount(pv, weights=N[pos], minlength=k_par)  # votes per parent value
            soft += a * beta * N[pos]
            soft += np.where(n_c > 1, a * (1 - beta) * (G[pv] - N[pos]) / np.maximum(n_c - 1, 1),
                             0.0)  # fmt: skip
            if k_par > 1:
                soft += (1 - a) / (k_par - 1) * (N[pos].sum() - G[pv]) / n_c
        return soft / soft.sum()  # type: ignore[no-any-return]

    def _balance_from_levels(self) -> np.ndarray:
        """(J,) P(Y): each task's level balance, renormalised among the values feasible given the
        earlier tasks (uniform levels give :meth:`TaskGraph.uniform_balance`)."""
        Y = self.graph.feasible
        p = np.ones(Y.shape[0])
        for j in range(Y.shape[1]):
            q = self._level_balance.get(j, np.ones(self.graph.cardinalities[j]))
            w = np.where(Y[:, j] == NA, 1.0, q[np.maximum(Y[:, j], 0)])
            groups: dict[tuple[int, ...], dict[int, float]] = {}
            for pre, v, x in zip(map(tuple, Y[:, :j].tolist()), Y[:, j].tolist(), w, strict=True):
                groups.setdefault(pre, {})[v] = float(x)
            den = np.array([sum(groups[tuple(pre)].values()) for pre in Y[:, :j].tolist()])
            p *= w / den
        return p / p.sum()  # type: ignore[no-any-return]

    def _tables(self) -> list[np.ndarray]:
        """Per LF, the (k_i + 1, J) log-likelihood contribution of each vote (last row: abstain).

        Moment fit: ``w_i 1[y_t = a]``. Hierarchical fit: the two-level one-coin model along the
        LF's ancestor chain — at the root, ``w⁰_i 1[y_root = a⁰]``; at each deeper level ℓ, with
        ``β = a^ℓ_i / a^{ℓ-1}_i`` the LF's precision among the n children of its parent-level
        vote, ``s log(n(1−β)/(n−1)) 1[y_{ℓ-1} = a^{ℓ-1}] + s log(β(n−1)/(1−β)) 1[y_ℓ = a^ℓ]``.
        """
        g, Y = self.graph, self.graph.feasible
        out = []
        for i, t in enumerate(self.lf_tasks):
            k = g.cardinalities[t]
            T = np.zeros((k + 1, Y.shape[0]))
            if not self._levels:
                w = self.weights
                T[:k] = w[i] * (Y[None, :, t] == np.arange(k)[:, None])
                out.append(T)
                continue
            prev: int | None = None  # the level above
            chain = _ancestors(g, t)
            accs = self.chain_accuracies(i)
            for u, acc in zip(chain, accs, strict=True):
                lfs = self._levels[u][1]
                pos = int(np.flatnonzero(lfs == i)[0])
                if not np.isfinite(acc):
                    break
                scale = float(self._vote_scale(u)[pos])
                vmap = np.array(implied_values(g, t, u), np.int64)
                hit = (Y[None, :, u] == vmap[:, None]).astype(float)  # (k, J)
                if prev is None:
                    ku = g.cardinalities[u]
                    a = min(max(acc, 1.0 / ku), 1.0 - _EPS)
                    T[:k] += scale * float(np.log(a * (ku - 1) / (1.0 - a))) * hit
                else:
                    par = prev
                    pmap = np.array(implied_values(g, t, par), np.int64)
                    parent_of = implied_parent_of(g.tasks[u]) or ()
                    n_child = np.array([sum(1 for v in parent_of if v == b) for b in pmap])
                    nc = np.maximum(n_child, 2).astype(float)
                    beta = self._within_parent_precision(i, u, pos, n_child)
                    ok = (n_child > 1)[:, None]
                    phit = (Y[None, :, par] == pmap[:, None]).astype(float)
                    sib = np.log(nc * (1 - beta) / (nc - 1))
                    vot = np.log(beta * (nc - 1) / (1 - beta))
                    T[:k] += np.where(ok, scale * sib[:, None] * phit, 0.0)
                    T[:k] += np.where(ok, scale * vot[:, None] * hit, 0.0)
                prev = u
            out.append(T)
        return out

    def _vote_scale(self, u: int) -> np.ndarray:
        """(m_u,) the vote scale of level ``u``'s :class:`LabelModel` (``1/(|C(i)| + Σ_j
        redundancy_ij)``: declared dependency components, and learned partners counted by their
        redundancy, pair by pair), so that an LF's evidence is scaled as the level's own model
        scales it."""
        cached = self._scales.get(u)
        if cached is None:
            lm, lfs = self._levels[u]
            cached = np.asarray(lm.to_dict().get("vote_scale") or np.ones(lfs.size), float)
            self._scales[u] = cached
        return cached

    def chain_accuracies(self, lf: int) -> list[float]:
        """Hierarchical fit: LF ``lf``'s accuracy at each level of its ancestor chain (root
        first) as used for prediction.

        Each level's fit gives ``a^ℓ = P(Y_ℓ = the value the vote implies | vote)``. A vote that
        is right at a level is right at every coarser one, so accuracies cannot increase going
        down the chain: each level's accuracy is raised to at least the one below it. The LF's
        own level, when its moments cannot identify the accuracy (fewer than 3 independent LFs
        per class, as for most of TREC's 50 fine classes), counts at the prior precision
        ``init_precision`` — the value the within-parent precision β already takes there. (Without
        this floor a precise fine LF whose coarse-level accuracy the sparse, dependent coarse LFs
        pull down to near chance would be outvoted by them on the coarse value and hence on its
        own task: on TREC the joint model lost 4 points of fine accuracy to the independent one
        on rows with one fine vote.) An own LF whose level accuracy was measured against the
        descendant tasks' LFs (:meth:`_anchor_accuracies`) counts at that.
        """
        self._check_fitted()
        if not self._levels:
            raise ModelError("chain_accuracies needs the hierarchical fit")
        return self._chain(lf)

    def _chain(self, lf: int) -> list[float]:
        t = self.lf_tasks[lf]
        chain = _ancestors(self.graph, t)
        accs = []
        for u in chain:
            lm, lfs = self._levels[u]
            pos = int(np.flatnonzero(lfs == lf)[0])
            acc = float(lm.accuracies[pos])
            anchored = self._anchored.get(u)
            if anchored is not None and np.isfinite(anchored[pos]):
                acc = float(anchored[pos])  # measured against the child LFs
            elif u == t and len(chain) > 1 and np.isfinite(acc) and not self._identified[u][pos]:
                acc = self.init_precision
            accs.append(acc)
        for j in range(len(accs) - 2, -1, -1):
            if np.isfinite(accs[j]) and np.isfinite(accs[j + 1]):
                accs[j] = max(accs[j], accs[j + 1])
        return accs

    # ------------------------------------------------------------------ parameters
    def _check_fitted(self) -> None:
        if self._single is None and self._acc is None:
            raise ModelError("the multi-task label model is not fitted: call fit(stats) first")

    @property
    def class_balance(self) -> np.ndarray:
        """(J,) P(Y) over the feasible joint vectors."""
        self._check_fitted()
        if self._single is not None:
            return np.asarray(self._single.class_balance, float)
        assert self._p is not None
        return self._p.copy()

    @property
    def accuracies(self) -> np.ndarray:
        """(m,) ``P(Y_{t(i)} = λ_i | λ_i voted)`` used for prediction (after shrinkage)."""
        self._check_fitted()
        if self._single is not None:
            return np.asarray(self._single.accuracies, float)
        assert self._acc is not None
        return self._acc.copy()

    @property
    def raw_accuracies(self) -> np.ndarray:
        """(m,) accuracies of the moment fit before shrinkage."""
        self._check_fitted()
        if self._single is not None:
            return np.asarray(self._single.raw_accuracies, float)
        assert self._raw_acc is not None
        return self._raw_acc.copy()

    @property
    def weights(self) -> np.ndarray:
        """(m,) log-odds weight of each LF's vote, ``s_i log(a_i (k_i − 1) / (1 − a_i))``."""
        self._check_fitted()
        if self._single is not None:
            return np.asarray(self._single.weights, float)
        assert self._acc is not None and self._scale is not None
        k = np.array(self.graph.cardinalities, float)[list(self.lf_tasks)]
        a = np.clip(np.where(np.isfinite(self._acc), self._acc, 1.0 / k), 1.0 / k, 1.0 - _EPS)
        return self._scale * np.log(a * (k - 1) / (1.0 - a))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ prediction
    def _check_L(self, L: np.ndarray) -> np.ndarray:
        L = np.asarray(L)
        m = len(self.lf_tasks)
        if L.ndim != 2 or L.shape[1] != m:
            raise ModelError(f"vote matrix must be (n, {m}) for the fitted LFs, got {L.shape}")
        if L.dtype.kind not in "iu":
            raise ModelError(f"vote matrix must hold integers, got dtype {L.dtype}")
        for i, t in enumerate(self.lf_tasks):
            k = self.graph.cardinalities[t]
            bad = L[:, i][(L[:, i] < -1) | (L[:, i] >= k)]
            if bad.size:
                name = self.lf_names[i] if self.lf_names else f"LF {i}"
                raise ModelError(f"{name} votes {int(bad[0])} on task "
                                 f"{self.graph.tasks[t].name!r}, outside -1..{k - 1}")  # fmt: skip
        return L

    def predict_joint_proba(self, L: np.ndarray) -> np.ndarray:
        """(n, J) ``P(Y = y | λ)`` over the feasible joint vectors for an (n, m) vote matrix."""
        self._check_fitted()
        if self._single is not None:
            return np.asarray(self._single.predict_proba(L))
        L = self._check_L(L)
        assert self._p is not None
        J = self.graph.n_joint
        ll = np.broadcast_to(np.log(np.clip(self._p, _EPS, 1.0)), (L.shape[0], J)).copy()
        for i, (t, table) in enumerate(zip(self.lf_tasks, self._tables(), strict=True)):
            k = self.graph.cardinalities[t]
            ll += table[np.where(L[:, i] < 0, k, L[:, i])]
        ll -= ll.max(axis=1, keepdims=True)
        P = np.exp(ll)
        return P / P.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def predict_proba(self, L: np.ndarray) -> dict[str, np.ndarray]:
        """Per-task marginals: name -> (n, k_t) ``P(Y_t = a | λ)``; a row sums to the probability
        that the task applies (1 for tasks that always apply)."""
        return self.graph.marginals(self.predict_joint_proba(L))

    def predict(self, L: np.ndarray) -> np.ndarray:
        """(n, T) per-task argmax of the marginals (lowest index on ties); -1 (N/A) where the
        task applies with probability ≤ 1/2 (so a tie of a binary parent, predicted as its lower
        value, leaves its child N/A)."""
        marg = self.predict_proba(L)
        out = [np.where(P.sum(axis=1) > 0.5, P.argmax(axis=1), NA) for P in marg.values()]
        return np.stack(out, axis=1)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters (with the task graph and the LF-to-task map)."""
        self._check_fitted()
        out: dict[str, Any] = {
            "kind": "multitask_label_model", "version": 1, "graph": self.graph.to_dict(),
            "init_precision": self.init_precision, "l2": self.l2, "max_iter": self.max_iter,
            "better_than_random": self.better_than_random, "balance": self.balance,
            "shrinkage": self.shrinkage, "merge_identical": self.merge_identical,
            "lf_tasks": [self.graph.tasks[t].name for t in self.lf_tasks],
            "lf_names": list(self.lf_names) if self.lf_names else None,
        }  # fmt: skip
        if self._single is not None:
            out["single"] = self._single.to_dict()
            return out
        assert self._p is not None and self._scale is not None
        assert self._acc is not None and self._raw_acc is not None
        if self._levels:
            out["levels"] = [
                {"task": self.graph.tasks[t].name, "model": lm.to_dict(), "lfs": lfs.tolist(),
                 "identified": self._identified[t].tolist(),
                 "anchored": _nan_to_none(self._anchored[t]),
                 "balance": self._level_balance[t].tolist()}
                for t, (lm, lfs) in sorted(self._levels.items())
            ]  # fmt: skip
        out.update(
            method=self.method,
            mu=self._mu.tolist() if self._mu is not None else None,
            class_balance=self._p.tolist(),
            accuracies=_nan_to_none(self._acc), raw_accuracies=_nan_to_none(self._raw_acc),
            vote_scale=self._scale.tolist(), dependencies=[list(x) for x in self.dependencies],
            fit_info=self.fit_info,
        )  # fmt: skip
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MultiTaskLabelModel:
        """Inverse of :meth:`to_dict`."""
        if d.get("kind") != "multitask_label_model":
            raise ModelError(f"not multi-task label-model parameters (kind={d.get('kind')!r})")
        graph = TaskGraph.from_dict(d["graph"])
        model = cls(graph, d["init_precision"], d["l2"], d["max_iter"], d["better_than_random"],
                    d["balance"], d["shrinkage"], d["merge_identical"],
                    d.get("method", "auto"))  # fmt: skip
        model.lf_tasks = tuple(graph.index(t) for t in d["lf_tasks"])
        model.lf_names = tuple(d["lf_names"]) if d.get("lf_names") else None
        if d.get("single") is not None:
            model._single = LabelModel.from_dict(d["single"])
            model.dependencies, model.fit_info = model._single.dependencies, model._single.fit_info
            return model
        for lv in d.get("levels") or []:
            t = graph.index(lv["task"])
            model._levels[t] = (LabelModel.from_dict(lv["model"]), np.array(lv["lfs"], np.int64))
            model._identified[t] = np.array(lv["identified"], bool)
            model._level_balance[t] = np.array(lv["balance"], float)
            model._anchored[t] = (_none_to_nan(lv["anchored"]) if lv.get("anchored") is not None
                                  else np.full(len(lv["lfs"]), np.nan))  # fmt: skip
        model._mu = np.asarray(d["mu"], float) if d.get("mu") is not None else None
        model._p = np.asarray(d["class_balance"], float)
        model._acc = _none_to_nan(d["accuracies"])
        model._raw_acc = _none_to_nan(d["raw_accuracies"])
        model._scale = np.asarray(d["vote_scale"], float)
        model.dependencies = [(int(a), int(b)) for a, b in d.get("dependencies") or []]
        model.fit_info = dict(d.get("fit_info") or {})
        return model

    def save(self, path: str) -> None:
        """Write the parameters as JSON."""
        with open(path, "w") as f:
            json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path: str) -> MultiTaskLabelModel:
        """Read parameters written by :meth:`save`."""
        with open(path) as f:
            return cls.from_dict(json.load(f))
