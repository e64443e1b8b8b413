"""Apply a policy to examples in memory: the kernel shared by Spark, DataLoaders and benchmarks.

:func:`augment_batch` is the one place a policy meets TFs. For each row and copy it derives the
row key from ``(seed, row id, copy)``, samples the TF sequence from the policy, and applies step
by step, calling each TF once per step on the rows that drew it (vectorized TFs see the whole
group at once). Because every random draw is keyed by the row, the output of a row does not
depend on which other rows share its batch: Spark partitions, in-memory calls and DataLoader
workers agree exactly.

Only numpy and the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.augment.base import TransformationFunction, check_unique_tfs
from wsup_spark.augment.policy import Policy
from wsup_spark.augment.randomness import STEP_STREAM, mix, row_keys
from wsup_spark.errors import ConfigError, DataError

__all__ = [
    "AugmentedBatch",
    "apply_ops",
    "apply_policy",
    "augment_arrays",
    "augment_batch",
    "augment_rows",
    "format_step",
    "resolve_tfs",
]


def resolve_tfs(
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
) -> list[TransformationFunction]:
    """The TF objects in the policy's order, or :class:`ConfigError` naming the missing TFs."""
    pool = dict(tfs) if isinstance(tfs, Mapping) else {t.name: t for t in check_unique_tfs(tfs)}
    missing = [name for name in policy.tfs if name not in pool]
    if missing:
        raise ConfigError(
            f"policy {policy.hash} names TFs {missing} that were not given; given: "
            f"{sorted(pool)}. Pass every TF the policy was built with"
        )
    return [pool[name] for name in policy.tfs]


def format_step(name: str, strength: float) -> str:
    """One lineage step, e.g. ``rotate@0.333``."""
    return f"{name}@{strength:.3f}"


def _take(values: Any, idx: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[idx]
    return [values[int(i)] for i in idx]


def _put(values: Any, idx: np.ndarray, new: Any) -> Any:
    if isinstance(values, np.ndarray):
        values[idx] = new
        return values
    for j, i in enumerate(idx):
        values[int(i)] = new[j]
    return values


def apply_policy(
    values: Any, keys: np.ndarray, policy: Policy, tfs: Sequence[TransformationFunction]
) -> tuple[Any, list[str]]:
    """One augmented copy of each row.

    Parameters
    ----------
    values : (n, ...) ndarray or list of n examples
        Not modified.
    keys : (n,) uint64
        Row keys of this copy (:func:`~wsup_spark.augment.randomness.row_keys`).
    policy : Policy
    tfs : list of TransformationFunction
        In the policy's order (:func:`resolve_tfs`).

    Returns
    -------
    out : same container type as ``values``, n rows
    lineage : list of n str
        ``"tf@strength|tf@strength"`` of the steps that applied; ``""`` when none did.
    """
    ops, strengths = policy.sample(keys)
    return apply_ops(values, keys, ops, strengths, tfs)


def apply_ops(
    values: Any,
    keys: np.ndarray,
    ops: np.ndarray,
    strengths: np.ndarray,
    tfs: Sequence[TransformationFunction],
) -> tuple[Any, list[str]]:
    """Apply given TF sequences: step t applies ``tfs[ops[i, t]]`` at ``strengths[i, t]`` to row i.

    Parameters
    ----------
    values : (n, ...) ndarray or list of n examples
    keys : (n,) uint64
    ops : (n, L) int64
        TF index per step, -1 = no-op.
    strengths : (n, L) float64
        -1 = the TF's default strength.
    tfs : list of TransformationFunction

    Returns
    -------
    out, lineage : as :func:`apply_policy`
    """
    n = len(values)
    out: Any = values.copy() if isinstance(values, np.ndarray) else list(values)
    steps: list[list[str]] = [[] for _ in range(n)]
    defaults = np.array([t.default_strength for t in tfs], np.float64)
    for t in range(ops.shape[1]):
        col = ops[:, t]
        step_keys = mix(keys, STEP_STREAM, t)
        for j in np.unique(col[col >= 0]):
            idx = np.flatnonzero(col == j)
            tf = tfs[int(j)]
            s = strengths[idx, t]
            s = np.where(s < 0, defaults[int(j)], s)
            new, applied = tf.apply_batch(_take(out, idx), step_keys[idx], s)
            out = _put(out, idx, new)
            for i, a, si in zip(idx.tolist(), applied.tolist(), s.tolist(), strict=True):
                if a:
                    steps[i].append(format_step(tf.name, si))
    return out, ["|".join(s) for s in steps]


@dataclass
class AugmentedBatch:
    """Rows produced from a batch: originals (copy 0) and augmented copies, row-major.

    Attributes
    ----------
    values : (N, ...) ndarray or list of N examples
    source : (N,) int64
        Index of the input row each output row comes from.
    copy : (N,) int32
        0 for the original, 1..n_copies for augmented copies.
    lineage : list of N str
        TF steps that made the row (``""`` for originals and copies no TF changed).
    """

    values: Any
    source: np.ndarray
    copy: np.ndarray
    lineage: list[str]

    def __len__(self) -> int:
        return int(self.source.shape[0])


def augment_batch(
    values: Any,
    ids: Any,
    policy: Policy,
    tfs: Sequence[TransformationFunction],
    *,
    seed: int,
    n_copies: int = 1,
    keep_original: bool = True,
    first_copy: int = 1,
) -> AugmentedBatch:
    """Originals and ``n_copies`` augmented copies of each row, ordered row by row.

    Parameters
    ----------
    values : (n, ...) ndarray or list of n examples
    ids : (n,) row ids (integers or strings); keys are derived from them
    policy, tfs : the policy and its TFs in policy order (:func:`resolve_tfs`)
    seed : int
    n_copies : int
    keep_original : bool
        Emit each input row as copy 0 before its copies.
    first_copy : int
        Copy number of the first augmented copy (DataLoaders pass an epoch offset).

    Returns
    -------
    AugmentedBatch
        ``n * (n_copies + keep_original)`` rows: row i's original, then its copies, then row i+1.
    """
    n = len(values)
    if len(ids) != n:
        raise DataError(f"{len(ids)} row ids for {n} rows; give one id per row")
    if n_copies < 0:
        raise ConfigError(f"n_copies={n_copies}; use 0 or more")
    blocks: list[Any] = [values] if keep_original else []
    lineages: list[list[str]] = [[""] * n] if keep_original else []
    copies = [0] if keep_original else []
    for c in range(first_copy, first_copy + n_copies):
        out, lin = apply_policy(values, row_keys(seed, ids, c), policy, tfs)
        blocks.append(out)
        lineages.append(lin)
        copies.append(c)
    per = len(blocks)
    source = np.repeat(np.arange(n, dtype=np.int64), per)
    copy = np.tile(np.asarray(copies, np.int32), n)
    lineage = [lineages[b][i] for i in range(n) for b in range(per)]
    if isinstance(values, np.ndarray):
        if per == 0:
            vals: Any = values[:0]
        else:
            stacked = np.stack([np.asarray(b, dtype=values.dtype) for b in blocks], axis=1)
            vals = stacked.reshape((n * per, *values.shape[1:]))
    else:
        vals = [blocks[b][i] for i in range(n) for b in range(per)]
    return AugmentedBatch(vals, source, copy, lineage)


def augment_arrays(
    x: np.ndarray,
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    seed: int,
    ids: Any = None,
    n_copies: int = 1,
    keep_original: bool = True,
    batch_size: int = 4096,
) -> AugmentedBatch:
    """Augment an array of examples in memory (images: (n, h, w) floats in [0, 1]).

    Parameters
    ----------
    x : (n, ...) ndarray
        Cast to float32 (integer images must be scaled to [0, 1] first).
    policy, tfs : the policy and its TFs (any order; resolved by name)
    seed : int
    ids : (n,) row ids, optional
        Default ``arange(n)``. Give the table's id column to reproduce a Spark run.
    n_copies, keep_original : see :func:`augment_batch`
    batch_size : int
        Rows per TF call (bounds memory; results do not depend on it).

    Returns
    -------
    AugmentedBatch
        ``values`` is (N, ...) float32.
    """
    x = np.asarray(x, np.float32)
    ids = np.arange(len(x)) if ids is None else np.asarray(ids)
    tf_list = resolve_tfs(policy, tfs)
    starts = list(range(0, len(x), batch_size)) or [0]
    parts = [
        augment_batch(x[s : s + batch_size], ids[s : s + batch_size], policy, tf_list,
                      seed=seed, n_copies=n_copies, keep_original=keep_original)
        for s in starts
    ]  # fmt: skip
    return AugmentedBatch(
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.source + s for p, s in zip(parts, starts, strict=True)]),
        np.concatenate([p.copy for p in parts]),
        [lin for p in parts for lin in p.lineage],
    )


def augment_rows(
    rows: Sequence[Any],
    policy: Policy,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    seed: int,
    ids: Any = None,
    n_copies: int = 1,
    keep_original: bool = True,
) -> AugmentedBatch:
    """Augment a list of examples (texts, dicts, arrays of varying shape) in memory.

    Same rows, order and lineage as :func:`augment_arrays`; ``values`` is a list.
    """
    ids = np.arange(len(rows)) if ids is None else np.asarray(ids)
    return augment_batch(list(rows), ids, policy, resolve_tfs(policy, tfs), seed=seed,
                         n_copies=n_copies, keep_original=keep_original)  # fmt: skip
