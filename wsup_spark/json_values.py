"""Plain JSON values from numpy: the one place NaN becomes null (and back).

Commit metadata, run artifacts and model parameters are strict JSON (no NaN/Infinity literals),
so every float that may be undefined goes through :func:`jsonable` / :func:`nan_to_none`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from wsup_spark.errors import ConfigError


def jsonable(value: Any, where: str = "metadata") -> Any:
    """``value`` as plain JSON types: numpy scalars/arrays → Python, NaN/±inf → None.

    >>> jsonable({"acc": np.float64("nan"), "n": np.int64(3), "w": np.array([1.5])})
    {'acc': None, 'n': 3, 'w': [1.5]}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist(), where)
    raise ConfigError(
        f"{where} is a {type(value).__name__} ({value!r:.80}), which is not JSON-serialisable; "
        "commit metadata takes str, int, float, bool, None, lists and dicts of those"
    )


def nan_to_none(a: Iterable[float] | np.ndarray | None) -> list[float | None] | None:
    """A float vector as a JSON list, non-finite entries as None (None stays None).

    >>> nan_to_none(np.array([0.5, np.nan]))
    [0.5, None]
    """
    if a is None:
        return None
    return [float(x) if np.isfinite(x) else None for x in np.asarray(a, dtype=float).ravel()]


def none_to_nan(a: Iterable[float | None]) -> np.ndarray:
    """Inverse of :func:`nan_to_none`: a float64 array with NaN where the list has None.

    >>> none_to_nan([0.5, None]).tolist()
    [0.5, nan]
    """
    return np.array([np.nan if x is None else x for x in a], float)
