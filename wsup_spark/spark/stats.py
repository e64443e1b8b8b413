"""LF statistics by a distributed reduction.

Each task turns its Arrow batches of votes into an (n_b, m) matrix and computes
:meth:`LFStats.from_matrix` per batch, merging into one partial per partition; the partials are
serialised (npz bytes, d×d integers) and combined by
:func:`~wsup_spark.spark.reduce.reduce_partitions`, so the driver receives a few LFStats and
nothing n-sized. The result equals ``LFStats.from_matrix`` on the whole matrix exactly
(integer counts).

:class:`StatsTap` computes the same partial inside another pass (the votes-table write), so the
statistics cost no extra scan; :func:`merge_partials` combines the taps on the driver.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from wsup_spark.spark.apply import TASK_REPORTS, VOTES_COL, arrow_votes_matrix, task_attempt_id
from wsup_spark.spark.reduce import reduce_partitions
from wsup_spark.stats.lfstats import LFStats

logger = logging.getLogger(__name__)

# Above this many bytes of partials (n_partitions * d * d * 8), combine them in merge tasks on
# the executors instead of sending every partial to the driver.
DRIVER_MERGE_MAX_BYTES = 256 * 1024 * 1024


class StatsTap:
    """Accumulates an :class:`LFStats` partial from Arrow batches of ``(id, votes)``.

    ``template`` is the empty statistics of the LF set (m, k, names, whether to collect vote
    patterns). Picklable and cheap to construct; ``finish()`` returns npz bytes
    (``LFStats.to_bytes``).
    """

    def __init__(self, template: LFStats, votes_col: str = VOTES_COL) -> None:
        self.votes_col = votes_col
        self.patterns = template.patterns is not None
        self.stats = template

    def update(self, batch: Any) -> None:
        """Add one Arrow batch's votes."""
        if batch.num_rows:
            L = arrow_votes_matrix(batch, self.stats.m, self.votes_col)
            self.stats = self.stats.merge(
                LFStats.from_matrix(L, self.stats.k, self.stats.lf_names, patterns=self.patterns)
            )

    def finish(self) -> bytes:
        """The partial, serialised."""
        return self.stats.to_bytes()


class VotesTap:
    """The votes write's tap in the fused pipeline: LF statistics (optional) + the task's report.

    ``finish()`` returns ``8-byte header length + JSON report + LFStats npz bytes`` (no stats
    bytes when ``stats`` is False). The report is the per-LF failure counts and seconds that
    :func:`~wsup_spark.spark.apply.apply_transform` (``report=True``) left for this task; since
    only committed task attempts' taps reach the driver, the counts are exact under retries.
    """

    def __init__(self, template: LFStats, stats: bool = True) -> None:
        self.stats = StatsTap(template) if stats else None

    def update(self, batch: Any) -> None:
        """Add one Arrow batch's votes to the statistics."""
        if self.stats is not None:
            self.stats.update(batch)

    def finish(self) -> bytes:
        """The task's report and statistics partial, serialised."""
        report = TASK_REPORTS.pop(task_attempt_id(), {"errors": {}, "seconds": {}})
        head = json.dumps(report).encode()
        body = self.stats.finish() if self.stats is not None else b""
        return len(head).to_bytes(8, "little") + head + body

    @staticmethod
    def decode(data: bytes) -> tuple[dict[str, dict[str, float]], bytes | None]:
        """(report, LFStats bytes or None) of one :meth:`finish` payload."""
        n = int.from_bytes(data[:8], "little")
        body = data[8 + n :]
        return json.loads(data[8 : 8 + n].decode()), (body or None)

    @staticmethod
    def combine(
        payloads: Iterable[bytes],
    ) -> tuple[dict[str, int], dict[str, float], list[bytes]]:
        """Summed per-LF failure counts and seconds over the tasks' payloads, and the LFStats
        partials (for :func:`merge_partials`)."""
        errors: dict[str, int] = {}
        seconds: dict[str, float] = {}
        parts: list[bytes] = []
        for payload in payloads:
            report, part = VotesTap.decode(payload)
            for key, v in report["errors"].items():
                errors[key] = errors.get(key, 0) + int(v)
            for key, v in report["seconds"].items():
                seconds[key] = seconds.get(key, 0.0) + float(v)
            if part is not None:
                parts.append(part)
        return errors, seconds, parts


def merge_partials(partials: Iterable[bytes], template: LFStats) -> LFStats:
    """Merge serialised partials on the driver (few partitions × small d) into ``template``
    (the empty statistics of the LF set)."""
    return functools.reduce(LFStats.merge, (LFStats.from_bytes(p) for p in partials), template)


def stats_via_tap(template: LFStats, partitions: int) -> bool:
    """Whether the votes write's taps should carry the statistics partials to the driver: only
    while ``partitions`` partials of (d, d) int64 stay under :data:`DRIVER_MERGE_MAX_BYTES`."""
    return partitions * template.d**2 * 8 <= DRIVER_MERGE_MAX_BYTES


def compute_stats(
    votes_df: Any,
    m: int,
    cardinality: int,
    lf_names: Sequence[str] | None = None,
    votes_col: str = VOTES_COL,
    depth: int = 2,
    patterns: bool = False,
) -> LFStats:
    """LF statistics of a votes DataFrame by a per-partition numpy pass and a tree reduction.

    Parameters
    ----------
    votes_df : pyspark.sql.DataFrame
        Has ``votes_col``: array of m votes per row.
    m, cardinality : int
        Number of LFs and classes.
    lf_names : sequence of str, optional
        LF names (m).
    depth : int
        1: every partial merged on the driver; 2 (default): first in a few merge tasks.
    patterns : bool
        Also collect the histogram of distinct vote rows (:class:`~wsup_spark.stats.patterns.
        VotePatterns`).
    """
    return reduce_stats(
        votes_df, LFStats.empty(m, cardinality, lf_names, patterns=patterns), votes_col, depth
    )


def reduce_stats(
    votes_df: Any, template: LFStats, votes_col: str = VOTES_COL, depth: int = 2
) -> LFStats:
    """:func:`compute_stats` for the LF set that the empty ``template`` describes (m, k, names,
    whether to collect vote patterns)."""

    def partial(batches: Iterator[Any]) -> bytes:
        tap = StatsTap(template, votes_col)
        for b in batches:
            tap.update(b)
        return tap.finish()

    return reduce_partitions(
        votes_df.select(votes_col), partial, LFStats.from_bytes, LFStats.merge,
        lambda: template, "LF statistics", depth, encode=LFStats.to_bytes,
    )  # fmt: skip
