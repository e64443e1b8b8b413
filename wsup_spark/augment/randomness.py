"""Counter-based randomness keyed by (seed, row id): the same row gets the same draws everywhere.

Augmentation must be deterministic given ``(seed, row id)`` whatever the batching (one process,
Spark partitions of any size, DataLoader workers). A stateful generator cannot give that, so every
draw is a hash: ``splitmix64(key + golden * counter)``, with ``key`` derived from the seed, the row
id, the copy number and the policy step. :class:`BatchRandom` hands vectorized TFs (n, ...) arrays
of such draws in one numpy call; row TFs get a ``numpy.random.Generator`` seeded by their key.

Only numpy and the standard library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_MASK64 = (1 << 64) - 1

#: Stream ids mixed into row keys: policy sampling and each policy step draw independently.
POLICY_STREAM = 0x51
STEP_STREAM = 0x7A


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on a uint64 array (wrapping arithmetic).

    Parameters
    ----------
    x : ndarray of uint64, any shape

    Returns
    -------
    ndarray of uint64, same shape

    Examples
    --------
    >>> int(splitmix64(np.array([0], np.uint64))[0]) == 0xE220A8397B1DCDAF
    True
    """
    with np.errstate(over="ignore"):
        z = np.asarray(x, np.uint64) + _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)


def _id_to_u64(ids: Any) -> np.ndarray:
    """Row ids as uint64: integers as their two's complement, anything else by BLAKE2b of str()."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False).view(np.uint64)
    if arr.dtype.kind == "b":
        return arr.astype(np.uint64)
    out = np.empty(len(arr), np.uint64)
    for i, v in enumerate(arr.tolist()):
        if isinstance(v, int):
            out[i] = v & _MASK64
            continue
        data = v if isinstance(v, bytes) else str(v).encode("utf-8")
        out[i] = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
    return out


def mix(keys: np.ndarray, *values: int) -> np.ndarray:
    """Derive child keys: ``splitmix64(keys ^ splitmix64(value))`` for each value in turn.

    Parameters
    ----------
    keys : (n,) uint64
    *values : int
        Non-negative integers (seed, copy number, stream id, step).

    Returns
    -------
    (n,) uint64
    """
    out = np.asarray(keys, np.uint64)
    for v in values:
        salt = splitmix64(np.array([int(v) & _MASK64], np.uint64))
        out = splitmix64(out ^ salt)
    return out


def row_keys(seed: int, ids: Sequence[Any] | np.ndarray, copy: int = 0) -> np.ndarray:
    """The key of each row's ``copy``-th augmentation under ``seed``.

    Parameters
    ----------
    seed : int
    ids : (n,) row ids (integers, strings or bytes)
    copy : int
        1..n_copies for augmented copies (0 is free for callers' own use).

    Returns
    -------
    (n,) uint64
        Depends only on ``(seed, id, copy)``, never on the batch the row is in.
    """
    return mix(splitmix64(_id_to_u64(ids)), seed, copy)


class BatchRandom:
    """Per-row random draws for a batch of rows, reproducible row by row.

    Each call returns draws for all rows at once; row i's values depend only on ``keys[i]`` and
    on how many values were drawn before (the counter), not on the other rows.

    Parameters
    ----------
    keys : (n,) uint64
        One key per row (see :func:`row_keys` and :func:`mix`).
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.asarray(keys, np.uint64).reshape(-1)
        self._counter = 0

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.keys.shape[0])

    def _bits(self, size: int) -> np.ndarray:
        ctr = np.arange(self._counter, self._counter + size, dtype=np.uint64)
        self._counter += size
        with np.errstate(over="ignore"):
            x = self.keys[:, None] + ctr[None, :] * _GOLDEN
        return splitmix64(x)

    def uniform(self, *shape: int) -> np.ndarray:
        """Uniform draws in [0, 1).

        Returns
        -------
        (n, *shape) float64
        """
        size = int(np.prod(shape)) if shape else 1
        u = (self._bits(size) >> _S11).astype(np.float64) * (1.0 / (1 << 53))
        return u.reshape((self.n, *shape))

    def normal(self, *shape: int) -> np.ndarray:
        """Standard normal draws (Box-Muller).

        Returns
        -------
        (n, *shape) float64
        """
        u1 = self.uniform(*shape)
        u2 = self.uniform(*shape)
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)  # type: ignore[no-any-return]

    def integers(self, high: int, *shape: int) -> np.ndarray:
        """Integers in ``[0, high)``.

        Returns
        -------
        (n, *shape) int64
        """
        return np.minimum((self.uniform(*shape) * high).astype(np.int64), high - 1)

    def sign(self, *shape: int) -> np.ndarray:
        """Random signs, -1.0 or +1.0.

        Returns
        -------
        (n, *shape) float64
        """
        return np.where(self.uniform(*shape) < 0.5, -1.0, 1.0)

    def generator(self, i: int) -> np.random.Generator:
        """A numpy Generator for row ``i`` alone (seeded by its key; for row TFs)."""
        return np.random.default_rng(int(self.keys[i]))
