"""Augmentation policies: which TF sequence each augmented copy of a row gets, as plain JSON data.

A :class:`Policy` names its TFs (by TF name) and samples, for a batch of row keys, an (n, L)
matrix of TF indices (-1 = no-op at that step) and an (n, L) matrix of strengths. Sampling uses
the counter-based draws of :mod:`wsup_spark.augment.randomness`, so it is deterministic given
(seed, row id, copy) and independent of batching.

Kinds
-----
``none``       no augmentation (L = 0).
``apply_one``  TF ``tf_index`` at ``strength``.
``apply_all``  every TF in order at ``strength``.
``random``     ``seq_len`` TFs drawn uniformly (with replacement) at ``strength``.
``trivial``    TrivialAugment (Müller & Hutter 2021): one uniform TF at a uniform strength bin
               ``b / (bins - 1)``, ``b`` in 0..bins-1.
``meanfield``  ``seq_len`` independent draws of an *action* from ``probs``; action 0 is the
               identity, action ``1 + i * len(levels) + j`` is TF i at strength ``levels[j]``.
``sequence``   the same actions drawn from a GRU over the previous action (TANDA's sequence
               model); weights in ``gru`` (numpy forward here, trained in torch by
               :mod:`wsup_spark.augment.learn`).

``strength=None`` means each TF's ``default_strength`` (encoded as -1 in the strength matrix).
Only numpy and the standard library.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wsup_spark.augment.randomness import POLICY_STREAM, BatchRandom, mix
from wsup_spark.errors import ConfigError

__all__ = ["GRU_KEYS", "POLICY_KINDS", "Policy", "action_table", "gru_numpy_step", "n_actions"]

POLICY_KINDS = ("none", "apply_one", "apply_all", "random", "trivial", "meanfield", "sequence")
#: Arrays of a ``sequence`` policy: emb (A+1, E) (row A = start token), w_ih (3H, E), w_hh (3H, H),
#: b_ih (3H,), b_hh (3H,), w_out (A, H), b_out (A,); gates in torch's GRUCell order (r, z, n).
GRU_KEYS = ("emb", "w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out")
DEFAULT_LEVELS = (1.0 / 3.0, 2.0 / 3.0, 1.0)
FORMAT_VERSION = 1


def n_actions(n_tfs: int, n_levels: int) -> int:
    """Size of the action vocabulary of learned policies: identity + every (TF, level)."""
    return 1 + n_tfs * n_levels


def action_table(n_tfs: int, levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """TF index and strength of every action.

    Returns
    -------
    tf_of : (A,) int64
        -1 for the identity action 0.
    strength_of : (A,) float64
        -1 for the identity.
    """
    nl = len(levels)
    a = np.arange(n_actions(n_tfs, nl)) - 1
    tf_of = np.where(a < 0, -1, a // max(nl, 1))
    strength_of = np.where(a < 0, -1.0, np.asarray(levels, np.float64)[np.maximum(a, 0) % nl])
    return tf_of.astype(np.int64), strength_of


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))  # type: ignore[no-any-return]


def gru_numpy_step(
    w: Mapping[str, np.ndarray], prev: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One step of the sequence policy's GRU, as torch's ``GRUCell`` computes it.

    Parameters
    ----------
    w : the arrays of :data:`GRU_KEYS`
    prev : (n,) int64
        Previous action (A for the start token).
    h : (n, H) float64

    Returns
    -------
    logits : (n, A) float64
    h : (n, H) float64
    """
    x = w["emb"][prev]
    gi = x @ w["w_ih"].T + w["b_ih"]
    gh = h @ w["w_hh"].T + w["b_hh"]
    hs = h.shape[1]
    r = _sigmoid(gi[:, :hs] + gh[:, :hs])
    z = _sigmoid(gi[:, hs : 2 * hs] + gh[:, hs : 2 * hs])
    n = np.tanh(gi[:, 2 * hs :] + r * gh[:, 2 * hs :])
    h = (1.0 - z) * n + z * h
    return h @ w["w_out"].T + w["b_out"], h


def _inverse_cdf(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from each row of probabilities ``p`` (n, A) with uniforms ``u`` (n,)."""
    c = np.cumsum(p, axis=-1)
    c = c / c[..., -1:]
    out: np.ndarray = np.minimum((u[:, None] >= c).sum(axis=-1), p.shape[-1] - 1)
    return out


@dataclass(frozen=True, eq=False)
class Policy:
    """An augmentation policy (see the module docstring for the kinds and fields).

    Attributes
    ----------
    kind : str
    tfs : tuple of str
        TF names; sampled indices refer to this order.
    seq_len : int
    strength : float or None
    tf_index : int
    bins : int
    levels : tuple of float
    probs : tuple of float
        ``meanfield``: (A,) action probabilities, A = 1 + len(tfs) * len(levels).
    gru : dict of str to nested lists
        ``sequence``: the :data:`GRU_KEYS` arrays.
    meta : dict
        Free-form provenance (training config, history); not part of :attr:`hash`.
    """

    kind: str
    tfs: tuple[str, ...]
    seq_len: int = 1
    strength: float | None = None
    tf_index: int = 0
    bins: int = 31
    levels: tuple[float, ...] = DEFAULT_LEVELS
    probs: tuple[float, ...] = ()
    gru: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tfs", tuple(str(t) for t in self.tfs))
        object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        object.__setattr__(self, "probs", tuple(float(v) for v in self.probs))
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the field when the policy is inconsistent."""
        if self.kind not in POLICY_KINDS:
            raise ConfigError(f"policy kind={self.kind!r}; use one of {list(POLICY_KINDS)}")
        if len(set(self.tfs)) != len(self.tfs):
            raise ConfigError(f"policy tfs {list(self.tfs)} repeat a name; TF names are unique")
        if self.kind != "none" and not self.tfs:
            raise ConfigError(f"policy kind={self.kind!r} needs at least one TF in tfs")
        if self.seq_len < 1:
            raise ConfigError(f"policy seq_len={self.seq_len}; use 1 or more")
        if self.strength is not None and not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"policy strength={self.strength} is outside [0, 1]")
        if self.kind == "apply_one" and not 0 <= self.tf_index < len(self.tfs):
            raise ConfigError(f"policy tf_index={self.tf_index} for {len(self.tfs)} TFs")
        if self.kind == "trivial" and self.bins < 2:
            raise ConfigError(f"policy bins={self.bins}; TrivialAugment needs 2 or more")
        if any(not 0.0 <= v <= 1.0 for v in self.levels) or not self.levels:
            raise ConfigError(f"policy levels={list(self.levels)} must be non-empty, in [0, 1]")
        a = self.n_actions
        if self.kind == "meanfield":
            p = np.asarray(self.probs)
            if p.shape != (a,) or (p < 0).any() or not np.isclose(p.sum(), 1.0, atol=1e-6):
                raise ConfigError(
                    f"meanfield policy probs has {p.shape[0]} entries summing to {p.sum():.4g}; "
                    f"need {a} (identity + {len(self.tfs)} TFs x {len(self.levels)} levels) "
                    "non-negative, summing to 1"
                )
        if self.kind == "sequence":
            missing = [k for k in GRU_KEYS if k not in self.gru]
            if missing:
                raise ConfigError(f"sequence policy gru lacks arrays {missing}")
            w = self.gru_arrays()
            if w["w_out"].shape[0] != a or w["emb"].shape[0] != a + 1:
                raise ConfigError(
                    f"sequence policy gru has {w['w_out'].shape[0]} actions; {a} expected "
                    f"(identity + {len(self.tfs)} TFs x {len(self.levels)} levels)"
                )

    @property
    def n_actions(self) -> int:
        """Action vocabulary size of the learned kinds."""
        return n_actions(len(self.tfs), len(self.levels))

    @property
    def length(self) -> int:
        """L: the number of steps sampled per copy."""
        if self.kind == "none":
            return 0
        if self.kind in ("apply_one", "trivial"):
            return 1
        if self.kind == "apply_all":
            return len(self.tfs)
        return self.seq_len

    def gru_arrays(self) -> dict[str, np.ndarray]:
        """The ``sequence`` policy's weights as float64 arrays."""
        return {k: np.asarray(self.gru[k], np.float64) for k in GRU_KEYS}

    # ------------------------------------------------------------------ sampling
    def sample(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TF indices and strengths for rows with these keys.

        Parameters
        ----------
        keys : (n,) uint64
            Row keys (:func:`~wsup_spark.augment.randomness.row_keys`).

        Returns
        -------
        ops : (n, L) int64
            Index into :attr:`tfs` per step; -1 = no-op.
        strengths : (n, L) float64
            In [0, 1]; -1 = the TF's default strength.
        """
        keys = np.asarray(keys, np.uint64).reshape(-1)
        n, L = len(keys), self.length
        rand = BatchRandom(mix(keys, POLICY_STREAM))
        fixed = -1.0 if self.strength is None else float(self.strength)
        strengths = np.full((n, L), fixed)
        if self.kind == "none":
            ops = np.zeros((n, 0), np.int64)
        elif self.kind == "apply_one":
            ops = np.full((n, 1), self.tf_index, np.int64)
        elif self.kind == "apply_all":
            ops = np.broadcast_to(np.arange(L, dtype=np.int64), (n, L)).copy()
        elif self.kind == "random":
            ops = rand.integers(len(self.tfs), L)
        elif self.kind == "trivial":
            ops = rand.integers(len(self.tfs), 1)
            strengths = rand.integers(self.bins, 1) / float(self.bins - 1)
        else:
            actions = self.sample_actions(rand, n)
            tf_of, strength_of = action_table(len(self.tfs), self.levels)
            ops, strengths = tf_of[actions], strength_of[actions]
        return ops.astype(np.int64), strengths.astype(np.float64)

    def sample_actions(self, rand: BatchRandom, n: int) -> np.ndarray:
        """Actions of the learned kinds.

        Returns
        -------
        (n, L) int64 in ``[0, n_actions)``
        """
        L = self.length
        u = rand.uniform(L)
        if self.kind == "meanfield":
            p = np.broadcast_to(np.asarray(self.probs), (n, self.n_actions))
            return np.stack([_inverse_cdf(p, u[:, t]) for t in range(L)], 1).reshape(n, L)
        if self.kind != "sequence":
            raise ConfigError(f"policy kind {self.kind!r} has no actions")
        w = self.gru_arrays()
        h = np.zeros((n, w["w_hh"].shape[1]))
        prev = np.full(n, self.n_actions, np.int64)
        out = np.empty((n, L), np.int64)
        for t in range(L):
            logits, h = gru_numpy_step(w, prev, h)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            prev = _inverse_cdf(p, u[:, t])
            out[:, t] = prev
        return out

    def action_probs(self, n_samples: int = 4096, seed: int = 0) -> np.ndarray:
        """Marginal frequency of each action over sampled sequences (a summary for reports).

        Returns
        -------
        (A,) float64
        """
        rand = BatchRandom(mix(np.arange(n_samples, dtype=np.uint64), seed, POLICY_STREAM))
        acts = self.sample_actions(rand, n_samples)
        return np.bincount(acts.reshape(-1), minlength=self.n_actions) / acts.size

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (``from_dict`` inverts it)."""
        d: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "tfs": list(self.tfs),
            "seq_len": self.seq_len,
            "strength": self.strength,
            "tf_index": self.tf_index,
            "bins": self.bins,
            "levels": list(self.levels),
            "probs": list(self.probs),
            "gru": {k: np.asarray(v, np.float64).tolist() for k, v in self.gru.items()},
            "meta": dict(self.meta),
        }
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Policy:
        """Build from :meth:`to_dict`'s output (unknown keys are an error)."""
        known = {"format", "kind", "tfs", "seq_len", "strength", "tf_index", "bins", "levels",
                 "probs", "gru", "meta"}  # fmt: skip
        extra = sorted(set(d) - known)
        if extra:
            raise ConfigError(f"policy JSON has unknown keys {extra}; known: {sorted(known)}")
        if "kind" not in d or "tfs" not in d:
            raise ConfigError("policy JSON needs at least 'kind' and 'tfs'")
        if int(d.get("format", FORMAT_VERSION)) > FORMAT_VERSION:
            raise ConfigError(
                f"policy JSON format {d['format']} is newer than this wsup_spark reads "
                f"({FORMAT_VERSION}); upgrade wsup_spark"
            )
        return cls(
            kind=str(d["kind"]),
            tfs=tuple(d["tfs"]),
            seq_len=int(d.get("seq_len", 1)),
            strength=None if d.get("strength") is None else float(d["strength"]),
            tf_index=int(d.get("tf_index", 0)),
            bins=int(d.get("bins", 31)),
            levels=tuple(d.get("levels", DEFAULT_LEVELS)),
            probs=tuple(d.get("probs", ())),
            gru=dict(d.get("gru") or {}),
            meta=dict(d.get("meta") or {}),
        )

    def to_json(self, indent: int | None = None) -> str:
        """JSON text of :meth:`to_dict` (keys sorted)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        """Inverse of :meth:`to_json`."""
        try:
            d = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"policy JSON does not parse: {e}") from e
        if not isinstance(d, dict):
            raise ConfigError(f"policy JSON must be an object, got {type(d).__name__}")
        return cls.from_dict(d)

    def save(self, path: str | Path) -> None:
        """Write the policy as JSON to ``path``."""
        Path(path).write_text(self.to_json(indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a policy saved by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"policy file {str(p)!r} does not exist")
        return cls.from_json(p.read_text())

    @property
    def hash(self) -> str:
        """16 hex digits of SHA-256 over the behaviour-defining fields (not ``meta``)."""
        d = self.to_dict()
        d.pop("meta")
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Policy({self.kind!r}, tfs={list(self.tfs)}, L={self.length}, hash={self.hash})"
