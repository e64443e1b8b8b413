"""LF statistics: the sufficient statistics a label model is fit from.

Let ``L`` be an (n, m) integer label matrix, entries in ``-1..k-1`` (-1 = abstain). Each row gives
a one-hot vector ``x ∈ {0,1}^d`` with ``d = m*k``: ``x[i*k + a] = 1[L[r, i] == a]`` (abstain has no
column). :class:`LFStats` keeps the integer co-occurrence counts ``C = Σ_r x_r x_rᵀ`` (d, d) so
that the second moment is ``O = C / n``, plus per-LF overlap/conflict counts used by analysis.
For two classes and at most :data:`MAX_TRIPLE_LFS` LFs it also keeps the third-order counts
``Σ_r x_ra x_rb x_rc`` of columns of three different LFs (d, d, d): with k = 2 the second moment
cannot identify the class balance, the third can (:mod:`wsup_spark.labelmodel.triplets`).

Every field is a sum over rows, so partial statistics over disjoint row sets :meth:`merge` by
addition — exactly (integers), associatively and commutatively. Spark computes one partial per
partition and tree-reduces them; nothing n-sized reaches the driver. Optionally the statistics
carry the histogram of distinct vote rows (:mod:`~.patterns`), which merges exactly by union.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wsup_spark.errors import StatsError
from wsup_spark.stats.patterns import DEFAULT_MAX_PATTERNS, VotePatterns

_CHUNK_ELEMS = 1 << 23  # one-hot chunk size (rows * d) kept in memory at once
#: Third-order counts are collected for two classes and at most this many LFs ((2m)³ int64:
#: 2 MB at m = 32); above it they would outweigh the rest of the statistics.
MAX_TRIPLE_LFS = 32


def collects_triples(m: int, k: int) -> bool:
    """Whether statistics of m LFs with k classes carry third-order counts by default."""
    return k == 2 and 3 <= m <= MAX_TRIPLE_LFS


def triple_counts(X: np.ndarray, lf_of: np.ndarray) -> np.ndarray:
    """(d, d, d) int64 ``Σ_r X_ra X_rb X_rc`` for columns a, b, c of three different LFs (zero
    where two columns belong to one LF), from a one-hot block X (rows, d) and each column's LF
    ``lf_of`` (d,). Only rows with votes of three LFs contribute."""
    d = X.shape[1]
    out = np.zeros((d, d, d), np.int64)
    X = X[X.sum(axis=1) >= 3]
    if not len(X):
        return out
    for b in range(d):  # the rows where column b fires: Σ_b rows_b · d² flops
        Xb = X[X[:, b] > 0]
        if len(Xb):
            out[:, b, :] = np.rint(Xb.T @ Xb).astype(np.int64)
    same = lf_of[:, None] == lf_of[None, :]
    out[same[:, :, None] | same[:, None, :] | same[None, :, :]] = 0
    return out


def _same_or_both_none(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


@dataclass(frozen=True, eq=False)
class LFStats:
    """Sufficient statistics of an (n, m) label matrix with cardinality k.

    Attributes
    ----------
    n : int
        Number of rows.
    m : int
        Number of LFs.
    k : int
        Cardinality (number of classes).
    counts : (d, d) int64
        Co-occurrence counts ``C = Σ_r x_r x_rᵀ``, d = m*k. ``O = counts / n``.
    overlaps : (m,) int64
        Rows where LF i votes and at least one other LF votes.
    conflicts : (m,) int64
        Rows where LF i votes and some other LF votes a different class.
    n_covered : int
        Rows with at least one vote.
    n_overlap : int
        Rows with at least two votes.
    n_conflict : int
        Rows with at least two different classes voted.
    lf_names : tuple of str or None
        LF names in column order, when known.
    patterns : VotePatterns or None
        The histogram of distinct vote rows, when requested (``from_matrix(..., patterns=True)``;
        needed by row-level EM models such as Dawid-Skene); None when not collected.
    triples : (d, d, d) int64 or None
        Third-order counts ``Σ_r x_ra x_rb x_rc`` of columns of three different LFs (zero where
        two columns belong to one LF); collected by default when :func:`collects_triples` (two
        classes, 3..32 LFs), None otherwise.
    """

    n: int
    m: int
    k: int
    counts: np.ndarray
    overlaps: np.ndarray
    conflicts: np.ndarray
    n_covered: int
    n_overlap: int
    n_conflict: int
    lf_names: tuple[str, ...] | None = None
    patterns: VotePatterns | None = None
    triples: np.ndarray | None = None

    def __post_init__(self) -> None:
        d = self.m * self.k
        if self.counts.shape != (d, d):
            raise StatsError(f"counts has shape {self.counts.shape}, expected (d, d) = ({d}, {d})")
        if self.triples is not None and self.triples.shape != (d, d, d):
            raise StatsError(f"triples has shape {self.triples.shape}, expected ({d}, {d}, {d})")
        if self.overlaps.shape != (self.m,) or self.conflicts.shape != (self.m,):
            raise StatsError(f"overlaps/conflicts must have shape ({self.m},)")
        if self.lf_names is not None and len(self.lf_names) != self.m:
            raise StatsError(f"{len(self.lf_names)} LF names given for m={self.m} LFs")

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(
        cls, m: int, k: int, lf_names: Sequence[str] | None = None, patterns: bool = False
    ) -> LFStats:
        """Statistics of zero rows (the identity of :meth:`merge`)."""
        d = m * k
        return cls(
            n=0, m=m, k=k,
            counts=np.zeros((d, d), np.int64),
            overlaps=np.zeros(m, np.int64), conflicts=np.zeros(m, np.int64),
            n_covered=0, n_overlap=0, n_conflict=0,
            lf_names=tuple(lf_names) if lf_names is not None else None,
            patterns=VotePatterns.from_matrix(np.zeros((0, m), np.int16)) if patterns else None,
            triples=np.zeros((d, d, d), np.int64) if collects_triples(m, k) else None,
        )  # fmt: skip

    @classmethod
    def from_matrix(
        cls,
        L: np.ndarray,
        cardinality: int,
        lf_names: Sequence[str] | None = None,
        patterns: bool = False,
        max_patterns: int = DEFAULT_MAX_PATTERNS,
    ) -> LFStats:
        """Compute statistics of an in-memory label matrix.

        Parameters
        ----------
        L : (n, m) int array
            Votes, -1 = abstain, otherwise ``0..cardinality-1``.
        cardinality : int
            Number of classes k.
        patterns : bool
            Also collect the histogram of distinct vote rows (:class:`VotePatterns`, dropped as
            ``capped`` above ``max_patterns`` distinct rows).

        Examples
        --------
        >>> L = np.array([[0, 0, -1], [1, 0, 1], [-1, -1, -1]])
        >>> s = LFStats.from_matrix(L, 2)
        >>> s.n, s.m, s.k, s.n_covered, s.n_conflict
        (3, 3, 2, 2, 1)
        >>> s.coverage.tolist()
        [0.6666666666666666, 0.6666666666666666, 0.3333333333333333]
        """
        L = np.asarray(L)
        if L.ndim != 2:
            raise StatsError(f"L must be a 2-d (n, m) array, got shape {L.shape}")
        if L.dtype.kind not in "iu":
            raise StatsError(f"L must hold integers, got dtype {L.dtype}")
        k = int(cardinality)
        if k < 2:
            raise StatsError(f"cardinality must be >= 2, got {k}")
        n, m = L.shape
        if n and (L.min() < -1 or L.max() >= k):
            bad = L[(L < -1) | (L >= k)][0]
            raise StatsError(f"L holds vote {int(bad)} outside -1..{k - 1} (cardinality={k})")
        d = m * k
        counts = np.zeros((d, d), np.int64)
        overlaps = np.zeros(m, np.int64)
        conflicts = np.zeros(m, np.int64)
        n_cov = n_ovl = n_cfl = 0
        triples = np.zeros((d, d, d), np.int64) if collects_triples(m, k) else None
        step = max(1, _CHUNK_ELEMS // max(d, 1))
        offs = np.arange(m, dtype=np.int64) * k
        for s in range(0, n, step):
            B = L[s : s + step].astype(np.int64)
            nb = B.shape[0]
            voted = B >= 0
            # one-hot (nb, d); float32 matmul is exact while sums < 2**24 (nb <= 2**23)
            X = np.zeros((nb, d), np.float32)
            r, c = np.nonzero(voted)
            X[r, offs[c] + B[r, c]] = 1.0
            counts += np.rint(X.T @ X).astype(np.int64)
            if triples is not None:
                triples += triple_counts(X, np.arange(d) // k)
            nvotes = voted.sum(axis=1)
            # per-row class histogram (nb, k) to find conflicts
            hist = X.reshape(nb, m, k).sum(axis=1)
            n_classes = (hist > 0).sum(axis=1)
            overlaps += (voted & (nvotes >= 2)[:, None]).sum(axis=0)
            # LF i conflicts on a row when some other LF voted a class != L[r, i], i.e. the row's
            # votes for classes other than LF i's own class are > 0.
            own = np.where(voted, hist[np.arange(nb)[:, None], np.where(voted, B, 0)], 0)
            conflicts += (voted & ((nvotes[:, None] - own) > 0)).sum(axis=0)
            n_cov += int((nvotes >= 1).sum())
            n_ovl += int((nvotes >= 2).sum())
            n_cfl += int((n_classes >= 2).sum())
        return cls(
            n=n, m=m, k=k, counts=counts, overlaps=overlaps, conflicts=conflicts,
            n_covered=n_cov, n_overlap=n_ovl, n_conflict=n_cfl,
            lf_names=tuple(lf_names) if lf_names is not None else None,
            patterns=VotePatterns.from_matrix(L, max_patterns) if patterns else None,
            triples=triples,
        )  # fmt: skip

    # ------------------------------------------------------------------ algebra
    def merge(self, other: LFStats, max_patterns: int = DEFAULT_MAX_PATTERNS) -> LFStats:
        """Statistics of the union of two disjoint row sets (exact integer addition; the vote
        patterns and third-order counts are kept only when both sides have them)."""
        if (self.m, self.k) != (other.m, other.k):
            raise StatsError(
                f"cannot merge stats with (m, k) = {(self.m, self.k)} and {(other.m, other.k)}: "
                "partials come from different LF sets or cardinalities"
            )
        if self.lf_names and other.lf_names and self.lf_names != other.lf_names:
            raise StatsError("cannot merge stats computed with different LF names/order")
        return LFStats(
            n=self.n + other.n, m=self.m, k=self.k,
            counts=self.counts + other.counts,
            overlaps=self.overlaps + other.overlaps,
            conflicts=self.conflicts + other.conflicts,
            n_covered=self.n_covered + other.n_covered,
            n_overlap=self.n_overlap + other.n_overlap,
            n_conflict=self.n_conflict + other.n_conflict,
            lf_names=self.lf_names or other.lf_names,
            patterns=(
                self.patterns.merge(other.patterns, max_patterns)
                if self.patterns is not None and other.patterns is not None
                else None
            ),
            triples=(
                self.triples + other.triples
                if self.triples is not None and other.triples is not None
                else None
            ),
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LFStats):
            return NotImplemented
        return (
            (self.n, self.m, self.k, self.n_covered, self.n_overlap, self.n_conflict)
            == (other.n, other.m, other.k, other.n_covered, other.n_overlap, other.n_conflict)
            and np.array_equal(self.counts, other.counts)
            and np.array_equal(self.overlaps, other.overlaps)
            and np.array_equal(self.conflicts, other.conflicts)
            and self.patterns == other.patterns
            and _same_or_both_none(self.triples, other.triples)
        )

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ derived views
    @property
    def d(self) -> int:
        """Number of one-hot columns, m*k."""
        return self.m * self.k

    @property
    def O(self) -> np.ndarray:  # noqa: E743 - paper notation
        """Second moment ``E[x xᵀ]`` : (d, d) float64."""
        return self.counts / max(self.n, 1)

    @property
    def vote_counts(self) -> np.ndarray:
        """(m, k) int64: how often LF i voted class a (the diagonal of ``counts``)."""
        return np.diag(self.counts).reshape(self.m, self.k).copy()

    @property
    def coverage(self) -> np.ndarray:
        """(m,) float64: fraction of rows on which each LF votes."""
        return np.asarray(self.vote_counts.sum(axis=1) / max(self.n, 1), np.float64)

    @property
    def polarity(self) -> list[list[int]]:
        """For each LF, the sorted classes it ever voted."""
        return [sorted(np.flatnonzero(row).tolist()) for row in self.vote_counts]

    # ------------------------------------------------------------------ serialisation
    def to_bytes(self) -> bytes:
        """Serialise to ``.npz`` bytes (no pickle)."""
        buf = io.BytesIO()
        meta = {
            "n": self.n, "m": self.m, "k": self.k, "n_covered": self.n_covered,
            "n_overlap": self.n_overlap, "n_conflict": self.n_conflict,
            "lf_names": list(self.lf_names) if self.lf_names is not None else None,
            "patterns": None if self.patterns is None else {"capped": self.patterns.capped},
        }  # fmt: skip
        arrays: dict[str, np.ndarray] = {}
        if self.patterns is not None:
            arrays["patterns__rows"] = self.patterns.rows
            arrays["patterns__counts"] = self.patterns.counts
        if self.triples is not None:  # stored sparse: (a, b, c) of the nonzero counts, a < b < c
            a, b, c = np.nonzero(self.triples)
            upper = (a < b) & (b < c)
            arrays["triples__index"] = np.stack([a[upper], b[upper], c[upper]]).astype(np.int32)
            arrays["triples__counts"] = self.triples[a[upper], b[upper], c[upper]]
        np.savez(
            buf,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            counts=self.counts, overlaps=self.overlaps, conflicts=self.conflicts,
            **arrays,  # type: ignore[arg-type]
        )  # fmt: skip
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LFStats:
        """Inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            pm = meta.get("patterns")
            patterns = None if pm is None else VotePatterns(
                z["patterns__rows"], z["patterns__counts"], bool(pm["capped"]))  # fmt: skip
            triples = None
            if "triples__index" in z.files:  # absent in statistics saved before they existed
                d = meta["m"] * meta["k"]
                triples = np.zeros((d, d, d), np.int64)
                idx, cnt = z["triples__index"].astype(np.int64), z["triples__counts"]
                for a, b, c in itertools.permutations(range(3)):
                    triples[idx[a], idx[b], idx[c]] = cnt
            return cls(
                n=meta["n"], m=meta["m"], k=meta["k"],
                counts=z["counts"], overlaps=z["overlaps"], conflicts=z["conflicts"],
                n_covered=meta["n_covered"], n_overlap=meta["n_overlap"],
                n_conflict=meta["n_conflict"],
                lf_names=tuple(meta["lf_names"]) if meta["lf_names"] is not None else None,
                patterns=patterns, triples=triples,
            )  # fmt: skip

    def save(self, path: str) -> None:
        """Write :meth:`to_bytes` to a file."""
        with open(path, "wb") as f:
            f.write(self.to_bytes())

    @classmethod
    def load(cls, path: str) -> LFStats:
        """Read a file written by :meth:`save`."""
        with open(path, "rb") as f:
            return cls.from_bytes(f.read())
