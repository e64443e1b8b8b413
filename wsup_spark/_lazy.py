"""Lazy package exports: a package's public names imported from their modules on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` that imports ``names[name]`` on first use.

    Keeps ``import package`` cheap (no pyspark/torch/pyarrow until a name that needs one is used).

    Examples
    --------
    >>> get = lazy_getattr("pkg", {"sqrt": "math"})
    >>> get("sqrt")(4.0)
    2.0
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
