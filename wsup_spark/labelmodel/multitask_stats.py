"""Sufficient statistics of multi-task LF votes (numpy only).

An LF votes one task of a :class:`~wsup_spark.tasks.TaskGraph`; LF i's outputs are one-hot
indicators with ``k_{t(i)}`` columns (``d = Σ_i k_{t(i)}``) and its vote ``a`` stands for the set of
feasible joint values ``{y : y_{t(i)} = a}``. :class:`MultiTaskStats` keeps the integer
co-occurrence counts of the indicators (d, d) and per-LF/per-task overlap and conflict counts:
every field is a sum over rows, so partials over row blocks merge by exact integer addition (Spark:
one partial per partition, tree-reduced). Nothing n-sized. :meth:`MultiTaskStats.task_stats` and
:meth:`MultiTaskStats.level_stats` give single-task :class:`~wsup_spark.LFStats` views.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wsup_spark import LFStats
from wsup_spark.errors import StatsError
from wsup_spark.tasks import Task, TaskGraph

__all__ = ["MultiTaskStats", "implied_parent_of", "implied_values"]

_CHUNK_ELEMS = 1 << 23


def _lf_task_indices(graph: TaskGraph, lf_tasks: Sequence[str | int]) -> tuple[int, ...]:
    return tuple(graph.index(t) for t in lf_tasks)


def implied_parent_of(task: Task) -> tuple[int, ...] | None:
    """The parent value each of ``task``'s values implies: ``parent_of``, or — for a task defined
    under a single parent value (``active_when=(v,)``, e.g. a finding type under ABNORMAL) —
    that value for every value; None when values do not determine the parent value.

    Examples
    --------
    >>> implied_parent_of(Task("finding", 3, parent="abnormal", active_when=(1,)))
    (1, 1, 1)
    """
    if task.parent is None:
        return None
    if task.parent_of is not None:
        return task.parent_of
    if task.active_when is not None and len(task.active_when) == 1:
        return task.active_when * task.cardinality
    return None


def implied_values(graph: TaskGraph, task: int, ancestor: int) -> tuple[int, ...] | None:
    """(k_task,) the ``ancestor`` value each value of ``task`` implies through the ``parent_of``
    chain (identity when ``task == ancestor``), or None when ``ancestor`` is not such an ancestor.

    Examples
    --------
    >>> from wsup_spark.tasks import Task
    >>> g = TaskGraph([Task("c", 2), Task("f", 3, parent="c", parent_of=(0, 1, 1))])
    >>> implied_values(g, 1, 0), implied_values(g, 0, 1)
    ((0, 1, 1), None)
    """
    vals = tuple(range(graph.cardinalities[task]))
    cur = task
    while cur != ancestor:
        t = graph.tasks[cur]
        parent_of = implied_parent_of(t)
        if t.parent is None or parent_of is None:
            return None
        vals = tuple(parent_of[v] for v in vals)
        cur = graph.index(t.parent)
    return vals


_ARRAYS = ("counts", "overlaps", "conflicts", "overlaps_any", "n_covered", "n_overlap",
           "n_conflict")  # fmt: skip


class _Layout:
    """The indicator-column layout of an LF set (built once, reused for every row block)."""

    def __init__(self, graph: TaskGraph, tasks: tuple[int, ...]) -> None:
        self.graph, self.tasks = graph, tasks
        m = len(tasks)
        self.k = np.array([graph.cardinalities[t] for t in tasks], np.int64)
        self.offs = np.concatenate([[0], np.cumsum(self.k)[:-1]]).astype(np.int64)
        self.d = int(self.k.sum())
        self.lf_of = np.repeat(np.arange(m), self.k)
        self.val = np.arange(self.d) - self.offs[self.lf_of]
        self.lf_task = np.array(tasks, np.int64)
        self.col_task = self.lf_task[self.lf_of] if m else np.zeros(0, np.int64)
        # (d, J): joint values consistent with each indicator column; two columns are
        # inconsistent when their sets do not intersect (computed per block for the columns
        # that fire: a 50-class LF set has thousands of columns)
        Y = graph.feasible
        self.sets = (Y[:, self.col_task].T == self.val[:, None]).astype(np.float32)

    def check(self, L: np.ndarray, lf_names: Sequence[str] | None) -> np.ndarray:
        L = np.asarray(L)
        if L.ndim != 2 or L.shape[1] != len(self.tasks):
            raise StatsError(
                f"L must be (n, m) with m = {len(self.tasks)} LFs, got shape {L.shape}"
            )
        if L.dtype.kind not in "iu":
            raise StatsError(f"L must hold integers, got dtype {L.dtype}")
        for i, t in enumerate(self.tasks):
            col = L[:, i]
            bad = col[(col < -1) | (col >= self.k[i])]
            if bad.size:
                name = lf_names[i] if lf_names else f"LF {i}"
                raise StatsError(
                    f"{name} votes {int(bad[0])} on task {self.graph.tasks[t].name!r}, outside "
                    f"-1..{self.k[i] - 1}"
                )
        return L

    def stats(self, L: np.ndarray, lf_names: Sequence[str] | None) -> MultiTaskStats:
        """The statistics of the rows of ``L``."""
        L = self.check(L, lf_names)
        g, d, m, T = self.graph, self.d, len(self.tasks), len(self.graph.tasks)
        n = L.shape[0]
        counts = np.zeros((d, d), np.int64)
        overlaps = np.zeros((m, T), np.int64)
        conflicts = np.zeros((m, T), np.int64)
        overlaps_any = np.zeros(m, np.int64)
        n_cov = np.zeros(T, np.int64)
        n_ovl = np.zeros(T, np.int64)
        n_cfl = np.zeros(T, np.int64)
        step = max(1, _CHUNK_ELEMS // max(d, 1))
        for s in range(0, n, step):
            B = L[s : s + step].astype(np.int64)
            nb = B.shape[0]
            voted = B >= 0
            r, c = np.nonzero(voted)
            # only the indicator columns that fire in this block (most of a 50-class LF's never
            # do): (nb, a) one-hot; float32 matmul is exact while sums < 2**24
            act, pos = np.unique(self.offs[c] + B[r, c], return_inverse=True)
            X = np.zeros((nb, act.size), np.float32)
            X[r, pos] = 1.0
            counts[np.ix_(act, act)] += np.rint(X.T @ X).astype(np.int64)
            Sa = self.sets[act]
            incons = ((Sa @ Sa.T) == 0).astype(np.float32)  # (a, a)
            nvotes = voted.sum(axis=1)
            overlaps_any += (voted & (nvotes >= 2)[:, None]).sum(axis=0)
            hit_cols = X > 0
            for t in range(T):
                lfs = self.lf_task == t
                votes_t = voted[:, lfs].sum(axis=1)
                others = votes_t[:, None] - (voted & lfs[None, :])  # other task-t LFs voting
                overlaps[:, t] += (voted & (others >= 1)).sum(axis=0)
                cols = self.col_task[act] == t
                # per column: task-t votes inconsistent with it (a column is never inconsistent
                # with itself, and an LF casts one vote per row)
                Q = X[:, cols] @ incons[cols]  # (nb, a)
                hit = hit_cols & (Q > 0)
                conflicts[:, t] += np.bincount(self.lf_of[act[np.nonzero(hit)[1]]], minlength=m)
                onehot = self.val[act[cols]][:, None] == np.arange(g.cardinalities[t])[None, :]
                vals_t = X[:, cols] @ onehot.astype(np.float32)  # (nb, k_t) votes per value
                n_cov[t] += int((votes_t >= 1).sum())
                n_ovl[t] += int((votes_t >= 2).sum())
                n_cfl[t] += int(((vals_t > 0).sum(axis=1) >= 2).sum())
        return MultiTaskStats(
            graph=g, lf_tasks=self.tasks, n=n, counts=counts, overlaps=overlaps,
            conflicts=conflicts, overlaps_any=overlaps_any, n_covered=n_cov, n_overlap=n_ovl,
            n_conflict=n_cfl, lf_names=tuple(lf_names) if lf_names is not None else None,
        )  # fmt: skip


@dataclass(frozen=True, eq=False)
class MultiTaskStats:
    """Sufficient statistics of an (n, m) multi-task vote matrix.

    Attributes
    ----------
    graph : TaskGraph
    lf_tasks : tuple of int
        (m,) task index each LF votes.
    n : int
        Number of rows.
    counts : (d, d) int64
        Co-occurrence counts of the LF-output indicators, ``d = Σ_i k_{t(i)}``.
    overlaps : (m, T) int64
        Rows where LF i votes and at least one *other* LF of task t votes.
    conflicts : (m, T) int64
        Rows where LF i votes and some other LF of task t votes a value inconsistent with it
        (disjoint sets of joint values; within one task: a different value).
    overlaps_any : (m,) int64
        Rows where LF i votes and at least one other LF votes.
    n_covered, n_overlap, n_conflict : (T,) int64
        Rows with ≥ 1 vote of task t, ≥ 2 votes, ≥ 2 different values of task t.
    lf_names : tuple of str or None
    """

    graph: TaskGraph
    lf_tasks: tuple[int, ...]
    n: int
    counts: np.ndarray
    overlaps: np.ndarray
    conflicts: np.ndarray
    overlaps_any: np.ndarray
    n_covered: np.ndarray
    n_overlap: np.ndarray
    n_conflict: np.ndarray
    lf_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        m, T = len(self.lf_tasks), len(self.graph.tasks)
        if self.counts.shape != (self.d, self.d):
            raise StatsError(f"counts has shape {self.counts.shape}, expected ({self.d}, {self.d})")
        if self.overlaps.shape != (m, T) or self.conflicts.shape != (m, T):
            raise StatsError(f"overlaps/conflicts must have shape (m, T) = ({m}, {T})")
        if self.lf_names is not None and len(self.lf_names) != m:
            raise StatsError(f"{len(self.lf_names)} LF names given for m={m} LFs")

    # ------------------------------------------------------------------ layout
    @property
    def m(self) -> int:
        """Number of LFs."""
        return len(self.lf_tasks)

    @property
    def sizes(self) -> np.ndarray:
        """(m,) int64: number of values each LF can vote (its task's cardinality)."""
        k = np.array(self.graph.cardinalities, np.int64)
        return k[list(self.lf_tasks)] if self.m else np.zeros(0, np.int64)

    @property
    def offsets(self) -> np.ndarray:
        """(m,) int64: first indicator column of each LF."""
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @property
    def d(self) -> int:
        """Number of indicator columns, ``Σ_i k_{t(i)}``."""
        return int(self.sizes.sum())

    @property
    def O(self) -> np.ndarray:  # noqa: E743 - paper notation
        """Second moment ``E[x xᵀ]`` : (d, d) float64."""
        return self.counts / max(self.n, 1)

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """((d,) LF index, (d,) voted value) of every indicator column."""
        lf = np.repeat(np.arange(self.m), self.sizes)
        return lf, np.arange(self.d) - self.offsets[lf]

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(
        cls,
        graph: TaskGraph,
        lf_tasks: Sequence[str | int],
        lf_names: Sequence[str] | None = None,
    ) -> MultiTaskStats:
        """Statistics of zero rows (the identity of :meth:`merge`).

        Examples
        --------
        >>> from wsup_spark.tasks import Task
        >>> g = TaskGraph([Task("c", 2), Task("f", 3, parent="c", parent_of=(0, 1, 1))])
        >>> e = MultiTaskStats.empty(g, ["c", "f"])
        >>> e.n, e.d, e.merge(MultiTaskStats.from_matrix(np.array([[1, 2]]), g, ["c", "f"])).n
        (0, 5, 1)
        """
        layout = _Layout(graph, _lf_task_indices(graph, lf_tasks))
        m, T, d = len(layout.tasks), len(graph.tasks), layout.d
        return cls(
            graph=graph, lf_tasks=layout.tasks, n=0, counts=np.zeros((d, d), np.int64),
            overlaps=np.zeros((m, T), np.int64), conflicts=np.zeros((m, T), np.int64),
            overlaps_any=np.zeros(m, np.int64), n_covered=np.zeros(T, np.int64),
            n_overlap=np.zeros(T, np.int64), n_conflict=np.zeros(T, np.int64),
            lf_names=tuple(lf_names) if lf_names is not None else None,
        )  # fmt: skip

    @classmethod
    def from_matrix(
        cls,
        L: np.ndarray,
        graph: TaskGraph,
        lf_tasks: Sequence[str | int],
        lf_names: Sequence[str] | None = None,
    ) -> MultiTaskStats:
        """Statistics of an in-memory vote matrix.

        Parameters
        ----------
        L : (n, m) int array
            Column i holds LF i's votes on its task ``lf_tasks[i]`` (``0..k-1``, -1 = abstain).
        graph : TaskGraph
        lf_tasks : (m,) task names or indices

        Examples
        --------
        >>> from wsup_spark.tasks import Task
        >>> g = TaskGraph([Task("c", 2), Task("f", 3, parent="c", parent_of=(0, 1, 1))])
        >>> L = np.array([[1, 2], [0, 2], [-1, 0]])
        >>> s = MultiTaskStats.from_matrix(L, g, ["c", "f"])
        >>> s.d, s.n, s.conflicts.tolist()
        (5, 3, [[0, 1], [1, 0]])
        """
        layout = _Layout(graph, _lf_task_indices(graph, lf_tasks))
        return layout.stats(L, lf_names)

    def add_matrix(self, L: np.ndarray) -> MultiTaskStats:
        """``self.merge(from_matrix(L, ...))`` for the same LF set (a streaming update)."""
        return self.merge(_Layout(self.graph, self.lf_tasks).stats(L, self.lf_names))

    def to_bytes(self) -> bytes:
        """Serialise to ``.npz`` bytes (no pickle): the graph and LF-to-task map travel with the
        counts, so partials decode on their own.

        Examples
        --------
        >>> from wsup_spark.tasks import Task
        >>> g = TaskGraph([Task("c", 2), Task("f", 3, parent="c", parent_of=(0, 1, 1))])
        >>> s = MultiTaskStats.from_matrix(np.array([[1, 2], [0, -1]]), g, ["c", "f"], ["a", "b"])
        >>> MultiTaskStats.from_bytes(s.to_bytes()) == s
        True
        """
        buf = io.BytesIO()
        meta = {
            "graph": self.graph.to_dict(), "lf_tasks": list(self.lf_tasks), "n": self.n,
            "d": self.d, "lf_names": list(self.lf_names) if self.lf_names is not None else None,
        }  # fmt: skip
        # counts is nonzero only between columns that fired (diagonal > 0): with 50-class LFs
        # that block is a few hundred columns of thousands, so only it travels
        active = np.flatnonzero(np.diag(self.counts) > 0)
        arrays = {a: getattr(self, a) for a in _ARRAYS if a != "counts"}
        np.savez(
            buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            active=active, counts_active=self.counts[np.ix_(active, active)], **arrays,
        )  # fmt: skip
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> MultiTaskStats:
        """Inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            arrays = {a: z[a] for a in _ARRAYS if a != "counts"}
            active = z["active"]
            counts = np.zeros((meta["d"], meta["d"]), np.int64)
            counts[np.ix_(active, active)] = z["counts_active"]
        return cls(
            counts=counts,
            graph=TaskGraph.from_dict(meta["graph"]), lf_tasks=tuple(meta["lf_tasks"]),
            n=int(meta["n"]),
            lf_names=tuple(meta["lf_names"]) if meta["lf_names"] is not None else None,
            **arrays,
        )  # fmt: skip

    def merge(self, other: MultiTaskStats) -> MultiTaskStats:
        """Statistics of the union of two disjoint row sets (exact integer addition)."""
        if self.graph != other.graph or self.lf_tasks != other.lf_tasks:
            raise StatsError(
                "cannot merge multi-task stats of different task graphs or LF-to-task maps: "
                "partials come from different LF sets"
            )
        if self.lf_names and other.lf_names and self.lf_names != other.lf_names:
            raise StatsError("cannot merge stats computed with different LF names/order")
        return MultiTaskStats(
            graph=self.graph, lf_tasks=self.lf_tasks, n=self.n + other.n,
            counts=self.counts + other.counts, overlaps=self.overlaps + other.overlaps,
            conflicts=self.conflicts + other.conflicts,
            overlaps_any=self.overlaps_any + other.overlaps_any,
            n_covered=self.n_covered + other.n_covered,
            n_overlap=self.n_overlap + other.n_overlap,
            n_conflict=self.n_conflict + other.n_conflict,
            lf_names=self.lf_names or other.lf_names,
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultiTaskStats):
            return NotImplemented
        arrays = _ARRAYS
        return (
            self.graph == other.graph
            and (self.lf_tasks, self.n) == (other.lf_tasks, other.n)
            and all(np.array_equal(getattr(self, a), getattr(other, a)) for a in arrays)
        )

    __hash__ = None  # type: ignore[assignment]

    def task_lfs(self, task: str | int) -> np.ndarray:
        """(m_t,) indices of the LFs voting ``task``."""
        t = self.graph.index(task)
        return np.flatnonzero(np.array(self.lf_tasks) == t)

    def level_stats(self, task: str | int) -> tuple[LFStats, np.ndarray]:
        """Single-task statistics of every LF whose vote implies a value of ``task``: the LFs of
        ``task`` and of its descendants through ``parent_of``, each vote projected to the
        ``task`` value it implies (a fine vote ``NUM:count`` is a coarse vote ``NUM``).

        Returns the :class:`LFStats` (exact ``counts``; ``overlaps`` counts other LFs of any task
        in the set — exact for two levels; the conflict fields, which no fit reads, are those of
        ``task``'s own LFs) and the (m_t,) indices of the LFs in it.
        """
        t = self.graph.index(task)
        k = self.graph.cardinalities[t]
        maps = {u: implied_values(self.graph, u, t) for u in range(len(self.graph.tasks))}
        lfs = np.array([i for i, u in enumerate(self.lf_tasks) if maps[u] is not None], np.int64)
        src, dst = [], []  # indicator column -> projected column (columns that fired only)
        fired = np.diag(self.counts) > 0
        for pos, i in enumerate(lfs):
            vmap = maps[self.lf_tasks[i]]
            assert vmap is not None
            for a, b in enumerate(vmap):
                if fired[self.offsets[i] + a]:
                    src.append(self.offsets[i] + a)
                    dst.append(pos * k + b)
        counts = np.zeros((len(lfs) * k, len(lfs) * k), np.int64)
        s_, d_ = np.array(src, np.int64), np.array(dst, np.int64)
        np.add.at(counts, (d_[:, None], d_[None, :]), self.counts[np.ix_(s_, s_)])
        tasks_in = sorted({self.lf_tasks[i] for i in lfs})
        overlaps = (self.overlaps_any[lfs] if len(tasks_in) == len(self.graph.tasks)
                    else self.overlaps[np.ix_(lfs, tasks_in)].max(axis=1))  # fmt: skip
        own = np.array([self.lf_tasks[i] == t for i in lfs], bool)
        conflicts = np.where(own, self.conflicts[lfs, t], 0)
        stats = LFStats(
            n=self.n, m=len(lfs), k=k, counts=counts,
            overlaps=overlaps.astype(np.int64), conflicts=conflicts.astype(np.int64),
            n_covered=int(self.n_covered[t]), n_overlap=int(self.n_overlap[t]),
            n_conflict=int(self.n_conflict[t]),
            lf_names=tuple(self.lf_names[i] for i in lfs) if self.lf_names else None,
        )  # fmt: skip
        return stats, lfs

    def task_stats(self, task: str | int) -> LFStats:
        """The single-task :class:`LFStats` of one task's LFs — equal to
        ``LFStats.from_matrix(L[:, task_lfs], k_t)`` without its third-order counts (multi-task
        statistics keep second moments only)."""
        t = self.graph.index(task)
        lfs = self.task_lfs(t)
        cols = np.concatenate([np.arange(o, o + s) for o, s in
                               zip(self.offsets[lfs], self.sizes[lfs], strict=True)]
                              ) if len(lfs) else np.zeros(0, np.int64)  # fmt: skip
        return LFStats(
            n=self.n, m=len(lfs), k=self.graph.cardinalities[t],
            counts=self.counts[np.ix_(cols, cols)].copy(),
            overlaps=self.overlaps[lfs, t].copy(), conflicts=self.conflicts[lfs, t].copy(),
            n_covered=int(self.n_covered[t]), n_overlap=int(self.n_overlap[t]),
            n_conflict=int(self.n_conflict[t]),
            lf_names=tuple(self.lf_names[i] for i in lfs) if self.lf_names else None,
        )  # fmt: skip
