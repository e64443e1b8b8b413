"""Label-model diagnostics: confidence distribution, gold accuracy/F1 and calibration.

The numbers are arrays whose size does not depend on n: a confidence histogram
(:class:`ConfidenceHistogram`) and gold diagnostics (:class:`GoldDiagnostics`: per-model (k, k)
confusion, per-LF (m, k, k) confusion, per-model reliability bins). This module computes them in
memory (numpy); :mod:`~wsup_spark.analysis.reductions` computes the same on Spark.

Confidence (the max class probability) lies in ``[1/k, 1]``; bins split that range evenly and
:func:`bin_index` is the one binning rule, evaluated identically (same IEEE double operations) by
numpy and Spark SQL, so the in-memory functions reproduce the distributed counts exactly.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.errors import DataError

DEFAULT_BINS = 20


def confidence_edges(k: int, bins: int = DEFAULT_BINS) -> np.ndarray:
    """(bins+1,) bin edges over ``[1/k, 1]``.

    >>> confidence_edges(2, 4).tolist()
    [0.5, 0.625, 0.75, 0.875, 1.0]
    """
    lo = 1.0 / k
    edges = lo + (1.0 - lo) * np.arange(bins + 1) / bins
    edges[-1] = 1.0  # exactly, whatever the rounding
    return edges


def bin_index(confidence: np.ndarray, k: int, bins: int = DEFAULT_BINS) -> np.ndarray:
    """(n,) int64 bin of each confidence: ``clip(floor((c - 1/k) / (1 - 1/k) * bins), 0, bins-1)``.

    >>> bin_index(np.array([0.5, 0.6, 0.75, 0.99, 1.0]), 2, 4).tolist()
    [0, 0, 2, 3, 3]
    """
    lo = 1.0 / k
    span = 1.0 - lo
    b = np.floor((np.asarray(confidence, np.float64) - lo) / span * bins)
    return np.clip(b, 0, bins - 1).astype(np.int64)


def _check_bins(bins: int) -> int:
    bins = int(bins)
    if not 1 <= bins <= 1000:
        raise DataError(f"bins must be in 1..1000, got {bins}")
    return bins


# ---------------------------------------------------------------------------------- histogram
@dataclass(frozen=True)
class ConfidenceHistogram:
    """Distribution of the label model's confidence over all labeled rows.

    Attributes
    ----------
    edges : (bins+1,) float64
        Bin edges over ``[1/k, 1]``.
    counts : (bins, k) int64
        Rows with at least one LF vote, by confidence bin and predicted label.
    uncovered : (bins,) int64
        Rows without any vote (their probabilities are the class prior), by confidence bin.
    confidence_sum : float
        Sum of the confidence over all rows (for the mean).
    """

    edges: np.ndarray
    counts: np.ndarray
    uncovered: np.ndarray
    confidence_sum: float

    @property
    def n(self) -> int:
        """Rows counted."""
        return int(self.counts.sum() + self.uncovered.sum())

    @property
    def label_counts(self) -> np.ndarray:
        """(k,) rows per predicted label among covered rows."""
        return self.counts.sum(axis=0)  # type: ignore[no-any-return]

    @property
    def mean_confidence(self) -> float:
        """Mean confidence over all rows (NaN when empty)."""
        return self.confidence_sum / self.n if self.n else float("nan")


def histogram_from_probs(
    P: np.ndarray, n_votes: np.ndarray, bins: int = DEFAULT_BINS
) -> ConfidenceHistogram:
    """In-memory :class:`ConfidenceHistogram` of an (n, k) probability matrix.

    ``label`` is the argmax (lowest class on ties) and ``n_votes`` the non-abstaining LFs per row,
    as in the labels table.
    """
    P = np.asarray(P, np.float64)
    k = P.shape[1]
    bins = _check_bins(bins)
    conf = P.max(axis=1)
    b = bin_index(conf, k, bins)
    label = P.argmax(axis=1)
    covered = np.asarray(n_votes) > 0
    counts = np.zeros((bins, k), np.int64)
    np.add.at(counts, (b[covered], label[covered]), 1)
    uncovered = np.bincount(b[~covered], minlength=bins).astype(np.int64)
    return ConfidenceHistogram(confidence_edges(k, bins), counts, uncovered, float(conf.sum()))


# ---------------------------------------------------------------------------------- gold
@dataclass(frozen=True)
class GoldDiagnostics:
    """Accuracy, confusion and calibration against gold labels (integer counts; merge = sum).

    Attributes
    ----------
    n_gold : int
        Rows with a gold label.
    models : dict of str to (k, k) int64
        Confusion per model, rows = gold class, columns = predicted class (argmax).
    lfs : (m, k, k) int64
        Per-LF confusion of non-abstain votes (rows = gold class, columns = vote).
    calib_count, calib_correct : dict of str to (bins,) int64
        Per model: gold rows per confidence bin and how many of them the model predicted right.
    calib_conf_sum : dict of str to (bins,) float64
        Per model: sum of the confidence in each bin.
    """

    n_gold: int
    models: dict[str, np.ndarray]
    lfs: np.ndarray
    calib_count: dict[str, np.ndarray]
    calib_correct: dict[str, np.ndarray]
    calib_conf_sum: dict[str, np.ndarray]

    @classmethod
    def zeros(cls, names: Sequence[str], m: int, k: int, bins: int) -> GoldDiagnostics:
        """The identity of :meth:`merge`."""
        return cls(
            0,
            {n: np.zeros((k, k), np.int64) for n in names},
            np.zeros((m, k, k), np.int64),
            {n: np.zeros(bins, np.int64) for n in names},
            {n: np.zeros(bins, np.int64) for n in names},
            {n: np.zeros(bins, np.float64) for n in names},
        )

    def merge(self, other: GoldDiagnostics) -> GoldDiagnostics:
        """Diagnostics of the union of two disjoint row sets."""
        return GoldDiagnostics(
            self.n_gold + other.n_gold,
            {n: v + other.models[n] for n, v in self.models.items()},
            self.lfs + other.lfs,
            {n: v + other.calib_count[n] for n, v in self.calib_count.items()},
            {n: v + other.calib_correct[n] for n, v in self.calib_correct.items()},
            {n: v + other.calib_conf_sum[n] for n, v in self.calib_conf_sum.items()},
        )

    @property
    def k(self) -> int:
        """Number of classes."""
        return int(self.lfs.shape[1])

    @property
    def gold_counts(self) -> np.ndarray:
        """(k,) gold rows per class."""
        return next(iter(self.models.values())).sum(axis=1)  # type: ignore[no-any-return]

    def accuracy(self, model: str) -> float:
        """Accuracy of ``model`` on the gold rows (NaN without gold rows)."""
        c = self.models[model]
        return float(np.trace(c) / c.sum()) if c.sum() else float("nan")

    def f1(self, model: str, positive: int = 1) -> float:
        """F1 of class ``positive``."""
        c = self.models[model]
        tp = c[positive, positive]
        fp = c[:, positive].sum() - tp
        fn = c[positive, :].sum() - tp
        return float(2 * tp / max(2 * tp + fp + fn, 1))

    def macro_f1(self, model: str) -> float:
        """Unweighted mean of the per-class F1."""
        return float(np.mean([self.f1(model, a) for a in range(self.k)]))

    def reliability(self, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per bin: (mean confidence, accuracy, rows); NaN where a bin is empty."""
        cnt = self.calib_count[model]
        with np.errstate(invalid="ignore", divide="ignore"):
            conf = np.where(cnt > 0, self.calib_conf_sum[model] / np.maximum(cnt, 1), np.nan)
            acc = np.where(cnt > 0, self.calib_correct[model] / np.maximum(cnt, 1), np.nan)
        return conf, acc, cnt

    def ece(self, model: str) -> float:
        """Expected calibration error: Σ_b (rows_b / n) · |accuracy_b − mean confidence_b|."""
        conf, acc, cnt = self.reliability(model)
        if not cnt.sum():
            return float("nan")
        ok = cnt > 0
        return float(np.sum(cnt[ok] * np.abs(acc[ok] - conf[ok])) / cnt.sum())


def gold_batch(
    L: np.ndarray, gold: np.ndarray, models: Mapping[str, Any], k: int, bins: int = DEFAULT_BINS
) -> GoldDiagnostics:
    """In-memory :class:`GoldDiagnostics` of one batch; ``gold < 0`` marks rows without gold.

    Parameters
    ----------
    L : (n, m) int
        Votes, -1 = abstain.
    gold : (n,) int
        Gold class, negative where unknown.
    models : mapping of name to a model with ``predict_proba(L) -> (n, k)``
    """
    gold = np.asarray(gold, np.int64)
    keep = gold >= 0
    L, y = np.asarray(L)[keep], gold[keep]
    m = L.shape[1]
    out = GoldDiagnostics.zeros(list(models), m, k, bins)
    for name, mdl in models.items():
        P = np.asarray(mdl.predict_proba(L), np.float64).reshape(len(L), k)
        pred, conf = P.argmax(axis=1), P.max(axis=1)
        out.models[name][:] = _confusion(y, pred, k)
        b = bin_index(conf, k, bins)
        out.calib_count[name][:] = np.bincount(b, minlength=bins)
        out.calib_correct[name][:] = np.bincount(b, weights=pred == y, minlength=bins)
        out.calib_conf_sum[name][:] = np.bincount(b, weights=conf, minlength=bins)
    for j in range(m):
        v = L[:, j] >= 0
        out.lfs[j] = _confusion(y[v], L[v, j].astype(np.int64), k)
    return GoldDiagnostics(
        int(keep.sum()), out.models, out.lfs, out.calib_count, out.calib_correct, out.calib_conf_sum
    )


def _confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(np.int64)


def _pack(g: GoldDiagnostics) -> bytes:
    buf = io.BytesIO()
    arrays: dict[str, np.ndarray] = {"n": np.array(g.n_gold), "lfs": g.lfs}
    for i, name in enumerate(g.models):
        arrays[f"cm{i}"] = g.models[name]
        arrays[f"cc{i}"] = g.calib_count[name]
        arrays[f"ck{i}"] = g.calib_correct[name]
        arrays[f"cs{i}"] = g.calib_conf_sum[name]
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _unpack(data: bytes, names: list[str]) -> GoldDiagnostics:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return GoldDiagnostics(
            int(z["n"]),
            {n: z[f"cm{i}"] for i, n in enumerate(names)},
            z["lfs"],
            {n: z[f"cc{i}"] for i, n in enumerate(names)},
            {n: z[f"ck{i}"] for i, n in enumerate(names)},
            {n: z[f"cs{i}"] for i, n in enumerate(names)},
        )
