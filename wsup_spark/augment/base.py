"""Transformation functions (TFs): row TFs, vectorized (batch) TFs, and the object both become.

A TF encodes an invariance the user knows (rotate a little, swap a synonym): it maps one example
to a new example of the same class, or returns ``None`` when it does not apply (no number to
replace, nothing to swap); the example is then left as it was and the TF is not recorded in its
lineage.

* **row TFs** (``@transformation_function``) receive one example ``x`` — the value of the
  augmented column: an image array (h, w) or a text string — and return the new one.
* **vectorized TFs** (``@vectorized_tf``) receive a batch: an (n, ...) array or a list of n
  strings, and return the new batch (same length), or ``(new_batch, applied)`` with ``applied`` an
  (n,) bool mask.

A TF's function declares what it needs by parameter name, all keyword-only or positional after
``x``: ``rng`` (row TFs: a ``numpy.random.Generator`` seeded by the row's key), ``rand``
(vectorized TFs: a :class:`~wsup_spark.augment.randomness.BatchRandom`), ``strength`` (row TFs: a
float in [0, 1]; vectorized TFs: an (n,) float64 array, one strength per row), and any resource
name. Static ``resources`` are passed as they are; ``loaders`` are zero-argument callables run
once per worker process on first use (a synonym lexicon, a model), cached for the process.

Only the standard library and numpy.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wsup_spark.augment.randomness import BatchRandom
from wsup_spark.errors import ConfigError, WsupError

__all__ = [
    "TFError",
    "TransformationFunction",
    "check_unique_tfs",
    "transformation_function",
    "vectorized_tf",
]


class TFError(WsupError, ValueError):
    """A transformation function is malformed, raised, or returned something invalid."""


#: Resources loaded by ``loaders``, once per process: (tf name, resource name) -> value.
_RESOURCE_CACHE: dict[tuple[str, str], Any] = {}

_RESERVED = ("x", "rng", "rand", "strength")


def _load_resource(tf_name: str, res_name: str, loader: Callable[[], Any]) -> Any:
    key = (tf_name, res_name)
    if key not in _RESOURCE_CACHE:
        try:
            _RESOURCE_CACHE[key] = loader()
        except WsupError:
            raise
        except Exception as e:
            raise TFError(
                f"TF {tf_name!r}: loading resource {res_name!r} failed: {type(e).__name__}: {e}"
            ) from e
    return _RESOURCE_CACHE[key]


def clear_resource_cache() -> None:
    """Forget every loaded resource (tests; reloading a changed lexicon)."""
    _RESOURCE_CACHE.clear()


@dataclass(frozen=True, eq=False)
class TransformationFunction:
    """A named transformation function.

    Parameters
    ----------
    name
        Unique name; recorded in each augmented row's lineage and in policies.
    func
        Row TF ``func(x, [rng], [strength], **resources) -> x' | None``; vectorized TF
        ``func(xs, [rand], [strength], **resources) -> xs' | (xs', applied)``.
    vectorized
        Whether ``func`` takes a batch.
    default_strength
        Strength in [0, 1] used when a policy gives none.
    resources
        Keyword arguments passed to every call as they are (shipped with the TF).
    loaders
        Keyword arguments computed once per worker process by calling the loader.
    kind
        What the TF transforms: ``"image"``, ``"text"`` or ``"any"`` (informative).
    """

    name: str
    func: Callable[..., Any]
    vectorized: bool = False
    default_strength: float = 0.5
    resources: Mapping[str, Any] = field(default_factory=dict)
    loaders: Mapping[str, Callable[[], Any]] = field(default_factory=dict)
    kind: str = "any"

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str) or "|" in self.name or "@" in self.name:
            raise ConfigError(
                f"TF name {self.name!r} must be a non-empty string without '|' or '@' (they "
                "separate steps in the lineage column)"
            )
        if not 0.0 <= float(self.default_strength) <= 1.0:
            raise ConfigError(
                f"TF {self.name!r}: default_strength={self.default_strength} is outside [0, 1]"
            )
        names = set(self.resources) | set(self.loaders)
        clash = sorted((set(self.resources) & set(self.loaders)) | (names & set(_RESERVED)))
        if clash:
            raise ConfigError(
                f"TF {self.name!r}: resource names {clash} are given twice or clash with the "
                f"reserved parameters {list(_RESERVED)}; rename them"
            )

    @property
    def _params(self) -> set[str]:
        try:
            return set(inspect.signature(self.func).parameters)
        except (TypeError, ValueError):  # builtins without a signature
            return set()

    def _kwargs(self, random_name: str, random: Any, strength: Any) -> dict[str, Any]:
        params = self._params
        kw: dict[str, Any] = {}
        if random_name in params:
            kw[random_name] = random
        if "strength" in params:
            kw["strength"] = strength
        for k, v in self.resources.items():
            kw[k] = v
        for k, loader in self.loaders.items():
            kw[k] = _load_resource(self.name, k, loader)
        return kw

    def __call__(
        self, x: Any, *, seed: int | np.random.Generator = 0, strength: float | None = None
    ) -> Any:
        """Transform one example (``None`` = not applicable).

        Parameters
        ----------
        x : one example (image array (h, w), text string, ...)
        seed : int or numpy Generator
            Randomness for this call.
        strength : float in [0, 1], optional
            Defaults to ``default_strength``.
        """
        s = self.default_strength if strength is None else float(strength)
        if self.vectorized:
            keys = np.array([seed if isinstance(seed, int) else 0], np.uint64)
            if isinstance(seed, np.random.Generator):
                keys = seed.integers(0, 2**63, size=1, dtype=np.int64).view(np.uint64)
            batch = np.asarray(x)[None] if not isinstance(x, str) else [x]
            out, applied = self.apply_batch(batch, keys, np.array([s]))
            return out[0] if applied[0] else None
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return self._call_row(x, rng, s)

    def _call_row(self, x: Any, rng: np.random.Generator, strength: float) -> Any:
        try:
            return self.func(x, **self._kwargs("rng", rng, strength))
        except WsupError:
            raise
        except Exception as e:
            raise TFError(
                f"TF {self.name!r} raised {type(e).__name__}: {e} (on an example of type "
                f"{type(x).__name__}); fix the TF or return None when it does not apply"
            ) from e

    def apply_batch(
        self, xs: Any, keys: np.ndarray, strength: np.ndarray
    ) -> tuple[Any, np.ndarray]:
        """Apply the TF to every row of a batch.

        Parameters
        ----------
        xs : (n, ...) ndarray or list of n examples
        keys : (n,) uint64
            Per-row random keys (see :mod:`wsup_spark.augment.randomness`).
        strength : (n,) float64
            Per-row strengths in [0, 1].

        Returns
        -------
        out : same container type as ``xs``, n rows
            Rows the TF did not apply to are returned unchanged.
        applied : (n,) bool
        """
        n = len(xs)
        if len(keys) != n or len(strength) != n:
            raise TFError(
                f"TF {self.name!r}: {n} rows but {len(keys)} keys and {len(strength)} strengths"
            )
        if self.vectorized:
            return self._apply_vectorized(xs, keys, strength)
        return self._apply_rows(xs, keys, strength)

    def _apply_rows(self, xs: Any, keys: np.ndarray, strength: np.ndarray) -> tuple[Any, Any]:
        rand = BatchRandom(keys)
        applied = np.zeros(len(xs), bool)
        outs: list[Any] = []
        for i in range(len(xs)):
            y = self._call_row(xs[i], rand.generator(i), float(strength[i]))
            if y is None:
                outs.append(xs[i])
            else:
                applied[i] = True
                outs.append(y)
        if isinstance(xs, np.ndarray):
            bad = [i for i, o in enumerate(outs) if np.shape(o) != xs.shape[1:]]
            if bad:
                raise TFError(
                    f"TF {self.name!r} returned an example of another shape than its input "
                    f"{xs.shape[1:]}: {np.shape(outs[bad[0]])}; array TFs must keep the "
                    "example's shape"
                )
            if not outs:
                return xs.copy(), applied
            return np.stack([np.asarray(o, dtype=xs.dtype) for o in outs]), applied
        return outs, applied

    def _apply_vectorized(self, xs: Any, keys: np.ndarray, strength: np.ndarray) -> tuple[Any, Any]:
        n = len(xs)
        try:
            res = self.func(xs, **self._kwargs("rand", BatchRandom(keys), strength))
        except WsupError:
            raise
        except Exception as e:
            raise TFError(
                f"vectorized TF {self.name!r} raised {type(e).__name__}: {e} (on a batch of {n})"
            ) from e
        if isinstance(res, tuple) and len(res) == 2:
            out, applied = res
            applied = np.asarray(applied, bool).reshape(-1)
        else:
            out, applied = res, np.ones(n, bool)
        if out is None or len(out) != n or len(applied) != n:
            got = None if out is None else len(out)
            raise TFError(
                f"vectorized TF {self.name!r} returned {got} rows (applied mask: {len(applied)}) "
                f"for a batch of {n}; return the whole batch, unchanged rows included"
            )
        if isinstance(xs, np.ndarray):
            out = np.asarray(out)
            if out.shape != xs.shape:
                raise TFError(
                    f"vectorized TF {self.name!r} returned shape {out.shape} for a batch of shape "
                    f"{xs.shape}; array TFs must keep the batch's shape"
                )
            out = out.astype(xs.dtype, copy=False)
            if not applied.all():
                out = np.where(applied.reshape((n,) + (1,) * (xs.ndim - 1)), out, xs)
        else:
            out = [o if a else x for o, a, x in zip(out, applied, xs, strict=True)]
        return out, applied

    @property
    def version(self) -> str:
        """Short hash of the TF's name, source code and static resources' repr."""
        try:
            src = inspect.getsource(self.func)
        except (OSError, TypeError):
            src = getattr(self.func, "__qualname__", repr(self.func))
        res = repr(sorted((k, repr(v)[:200]) for k, v in self.resources.items()))
        text = f"{self.name}|{self.vectorized}|{src}|{res}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        kind = "vectorized" if self.vectorized else "row"
        return f"TransformationFunction({self.name!r}, {kind}, kind={self.kind!r})"


def _decorator(
    name: str | None,
    vectorized: bool,
    default_strength: float,
    resources: Mapping[str, Any] | None,
    loaders: Mapping[str, Callable[[], Any]] | None,
    kind: str,
) -> Callable[[Callable[..., Any]], TransformationFunction]:
    def wrap(f: Callable[..., Any]) -> TransformationFunction:
        return TransformationFunction(
            name=name or f.__name__,
            func=f,
            vectorized=vectorized,
            default_strength=default_strength,
            resources=dict(resources or {}),
            loaders=dict(loaders or {}),
            kind=kind,
        )

    return wrap


def transformation_function(
    name: str | None = None,
    *,
    default_strength: float = 0.5,
    resources: Mapping[str, Any] | None = None,
    loaders: Mapping[str, Callable[[], Any]] | None = None,
    kind: str = "any",
) -> Callable[[Callable[..., Any]], TransformationFunction]:
    """Decorator turning ``f(x, [rng], [strength], **resources) -> x' | None`` into a row TF.

    Examples
    --------
    >>> @transformation_function()
    ... def shout(x, strength):
    ...     return x.upper() if strength > 0.3 else None
    >>> shout("hi", strength=0.9), shout("hi", strength=0.1)
    ('HI', None)
    """
    return _decorator(name, False, default_strength, resources, loaders, kind)


def vectorized_tf(
    name: str | None = None,
    *,
    default_strength: float = 0.5,
    resources: Mapping[str, Any] | None = None,
    loaders: Mapping[str, Callable[[], Any]] | None = None,
    kind: str = "any",
) -> Callable[[Callable[..., Any]], TransformationFunction]:
    """Decorator for a batch TF ``f(xs, [rand], [strength], **resources) -> xs'`` (or
    ``(xs', applied)``); ``xs`` is an (n, ...) array or a list of n examples and ``strength`` an
    (n,) array.

    Examples
    --------
    >>> @vectorized_tf()
    ... def brighten(xs, strength):
    ...     return xs + strength[:, None]
    >>> brighten(np.zeros(2), strength=0.5).tolist()
    [0.5, 0.5]
    """
    return _decorator(name, True, default_strength, resources, loaders, kind)


def check_unique_tfs(tfs: Sequence[TransformationFunction]) -> list[TransformationFunction]:
    """``tfs`` as a list, or :class:`ConfigError` naming a duplicate name or a non-TF."""
    seen: set[str] = set()
    for tf in tfs:
        if not isinstance(tf, TransformationFunction):
            raise ConfigError(
                f"{tf!r} is not a TransformationFunction; decorate it with "
                "@transformation_function or @vectorized_tf"
            )
        if tf.name in seen:
            raise ConfigError(f"two TFs are named {tf.name!r}; TF names must be unique")
        seen.add(tf.name)
    return list(tfs)
