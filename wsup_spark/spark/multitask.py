"""Multi-task LF statistics by the same distributed reduction as the single-task ones.

The votes table is the single-task one: ``votes`` holds, per row, each LF's vote on *its own* task
(``0..k_t-1`` or -1); the LF-to-task map comes from the LF set. Each partition turns its Arrow
batches into an (n_b, m) matrix and accumulates :class:`MultiTaskStats` (integer sums over rows);
:func:`~wsup_spark.spark.reduce.reduce_partitions` merges the partials (npz bytes carrying only the
block of indicator columns that fired) with ``treeReduce``. The result equals
``MultiTaskStats.from_matrix`` on the whole matrix exactly; nothing n-sized reaches the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from wsup_spark.labelmodel.multitask_stats import MultiTaskStats
from wsup_spark.spark.apply import VOTES_COL, arrow_votes_matrix
from wsup_spark.spark.reduce import reduce_partitions
from wsup_spark.tasks import TaskGraph

__all__ = ["MultiTaskStatsTap", "compute_multitask_stats", "reduce_multitask_stats"]


class MultiTaskStatsTap:
    """Accumulates a :class:`MultiTaskStats` partial from Arrow batches of ``votes``.

    ``template`` is the empty statistics of the LF set (:meth:`MultiTaskStats.empty`). Picklable;
    ``finish()`` returns npz bytes (:meth:`MultiTaskStats.to_bytes`).
    """

    def __init__(self, template: MultiTaskStats, votes_col: str = VOTES_COL) -> None:
        self.votes_col = votes_col
        self.stats = template

    def update(self, batch: Any) -> None:
        """Add one Arrow batch's votes."""
        if batch.num_rows:
            L = arrow_votes_matrix(batch, self.stats.m, self.votes_col)
            self.stats = self.stats.add_matrix(L)

    def finish(self) -> bytes:
        """The partial, serialised."""
        return self.stats.to_bytes()


def reduce_multitask_stats(
    votes_df: Any, template: MultiTaskStats, votes_col: str = VOTES_COL, depth: int = 2
) -> MultiTaskStats:
    """:func:`compute_multitask_stats` for the LF set the empty ``template`` describes."""

    def partial(batches: Iterator[Any]) -> bytes:
        tap = MultiTaskStatsTap(template, votes_col)
        for b in batches:
            tap.update(b)
        return tap.finish()

    return reduce_partitions(
        votes_df.select(votes_col), partial, MultiTaskStats.from_bytes, MultiTaskStats.merge,
        lambda: template, "multi-task LF statistics", depth,
    )  # fmt: skip


def compute_multitask_stats(
    votes_df: Any,
    graph: TaskGraph,
    lf_tasks: Sequence[str | int],
    lf_names: Sequence[str] | None = None,
    votes_col: str = VOTES_COL,
    depth: int = 2,
) -> MultiTaskStats:
    """Multi-task LF statistics of a votes DataFrame (one pass, per-partition numpy, tree reduce).

    Parameters
    ----------
    votes_df : pyspark.sql.DataFrame
        Has ``votes_col``: array of m votes per row, LF i's vote on task ``lf_tasks[i]``.
    graph : TaskGraph
    lf_tasks : (m,) task names or indices
    lf_names : (m,) str, optional
    depth : int
        ``treeReduce`` depth.
    """
    template = MultiTaskStats.empty(graph, lf_tasks, lf_names)
    return reduce_multitask_stats(votes_df, template, votes_col, depth)
