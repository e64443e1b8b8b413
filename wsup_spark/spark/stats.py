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

import numpy as np

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

    A task's votes repeat a few distinct rows (vote patterns) over and over, so the tap counts
    the patterns of each batch (:class:`PatternCounts`) and computes the statistics of the
    distinct rows once, in ``finish()``: ``LFStats`` of a row occurring c times is c times the
    row's, and c is a sum of powers of two, so ``from_matrix`` of the rows with bit b of their
    count set, doubled b times by ``merge`` (exact integer addition), adds up to exactly what
    ``from_matrix`` of every row gives. Where the patterns do not repeat (more than
    :data:`MAX_PATTERNS` distinct rows) or cannot be numbered in an int64, each batch goes to
    ``from_matrix`` directly.
    """

    def __init__(self, template: LFStats, votes_col: str = VOTES_COL) -> None:
        self.votes_col = votes_col
        self.patterns = template.patterns is not None
        self.stats = template
        self.counts = PatternCounts.create(template.m, template.k)

    def update(self, batch: Any) -> None:
        """Add one Arrow batch's votes."""
        if not batch.num_rows:
            return
        L = arrow_votes_matrix(batch, self.stats.m, self.votes_col)
        if self.counts is not None and L.min() >= -1 and L.max() < self.stats.k:
            self.counts.add(L)
            if self.counts.distinct > MAX_PATTERNS:
                self._flush()  # the patterns do not repeat: from here on, batch by batch
                self.counts = None
            return
        self.stats = self.stats.merge(self._of(L))  # (from_matrix rejects votes out of range)

    def _of(self, L: np.ndarray) -> LFStats:
        return LFStats.from_matrix(L, self.stats.k, self.stats.lf_names, patterns=self.patterns)

    def _flush(self) -> None:
        """Merge the counted patterns into ``stats`` (see the class docstring)."""
        if self.counts is None or not self.counts.distinct:
            return
        rows, counts = self.counts.rows_and_counts()
        acc: LFStats | None = None
        for bit in range(int(counts.max()).bit_length() - 1, -1, -1):  # Horner: high bits first
            if acc is not None:
                acc = acc.merge(acc)
            has = (counts >> bit) & 1 == 1
            if has.any():
                part = self._of(rows[has])
                acc = part if acc is None else acc.merge(part)
        assert acc is not None
        self.stats = self.stats.merge(acc)
        self.counts = PatternCounts.create(self.stats.m, self.stats.k)

    def finish(self) -> bytes:
        """The partial, serialised."""
        self._flush()
        return self.stats.to_bytes()


#: Above this many distinct vote rows in a task, :class:`StatsTap` stops counting patterns.
MAX_PATTERNS = 1 << 16
#: Pattern numbers below this are counted in a dense array (``np.bincount``), above by sorting.
DENSE_PATTERNS = 1 << 16


class PatternCounts:
    """How often each distinct row of (n, m) vote matrices occurred, over several batches.

    A row is numbered in base k + 1 (vote + 1 per LF): dense counts when there are at most
    :data:`DENSE_PATTERNS` numbers, else sorted unique numbers with their counts.
    """

    def __init__(self, m: int, k: int) -> None:
        self.m, self.k = m, k
        self.base = np.int64(k + 1) ** np.arange(m, dtype=np.int64)
        size = (k + 1) ** m
        self.dense = np.zeros(size, np.int64) if size <= DENSE_PATTERNS else None
        self.codes = np.zeros(0, np.int64)
        self.counts = np.zeros(0, np.int64)
        self.distinct = 0

    @classmethod
    def create(cls, m: int, k: int) -> PatternCounts | None:
        """Counts for m LFs and k classes; None when a row's number would not fit an int64."""
        return cls(m, k) if m * np.log2(k + 1) < 62 else None

    def number(self, L: np.ndarray) -> np.ndarray:
        """(n,) int64: each row's number (votes must lie in -1..k-1)."""
        code = np.zeros(L.shape[0], np.int64)
        for j in range(self.m):  # column passes: cheaper per row than a row reduction
            code += (L[:, j].astype(np.int64) + 1) * self.base[j]
        return code

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(p, m) int8 (int16 when k > 127) rows of the numbers ``codes``."""
        rows = np.empty((len(codes), self.m), np.int8 if self.k <= 127 else np.int16)
        for j in range(self.m):
            rows[:, j] = codes // self.base[j] % (self.k + 1) - 1
        return rows

    def add(self, L: np.ndarray) -> None:
        """Count the rows of one (n, m) vote matrix."""
        code = self.number(L)
        if self.dense is not None:
            self.dense += np.bincount(code, minlength=self.dense.shape[0])
            self.distinct = int(np.count_nonzero(self.dense))
            return
        codes, counts = np.unique(code, return_counts=True)
        merged = np.concatenate([self.codes, codes])
        self.codes, inverse = np.unique(merged, return_inverse=True)
        self.counts = np.bincount(
            inverse, np.concatenate([self.counts, counts]), minlength=len(self.codes)
        ).astype(np.int64)
        self.distinct = len(self.codes)

    def rows_and_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(p, m) int8/int16 distinct rows and (p,) their counts."""
        if self.dense is not None:
            codes = np.flatnonzero(self.dense).astype(np.int64)
            counts = self.dense[codes]
        else:
            codes, counts = self.codes, self.counts
        return self.decode(codes), counts


def distinct_rows(L: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(U, inverse) with ``U[inverse] == L``: the distinct rows of an (n, m) vote matrix, or
    None when its rows cannot be numbered (see :class:`PatternCounts`) or votes lie outside
    ``-1..k-1``."""
    counter = PatternCounts.create(L.shape[1], k)
    if counter is None or not L.size or L.min() < -1 or L.max() >= k:
        return None
    code = counter.number(L)
    if counter.dense is not None:
        present = np.zeros(counter.dense.shape[0], bool)
        present[code] = True
        codes = np.flatnonzero(present)
        slot = np.zeros(counter.dense.shape[0], np.intp)
        slot[codes] = np.arange(len(codes))
        return counter.decode(codes), slot[code]
    codes, inverse = np.unique(code, return_inverse=True)
    return counter.decode(codes), inverse.reshape(-1)


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
