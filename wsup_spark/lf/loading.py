"""Load LFs from the import paths a config names (and only from those)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from wsup_spark.errors import ConfigError
from wsup_spark.lf.base import LabelingFunction, check_unique_names


def load_lfs(paths: Sequence[str], exclude: Sequence[str] = ()) -> list[LabelingFunction]:
    """Import LFs named by ``pkg.mod`` (its ``LFS`` attribute) or ``pkg.mod:ATTR``.

    ``ATTR`` may be a list/tuple of LFs or one LF. ``exclude`` drops LFs by name (every name must
    exist, so a typo is an error rather than a no-op).
    """
    lfs: list[LabelingFunction] = []
    for path in paths:
        mod_name, _, attr = str(path).partition(":")
        attr = attr or "LFS"
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as e:
            raise ConfigError(
                f"cannot import LF module {mod_name!r} (from lfs.modules entry {path!r}): {e}. "
                "Check the spelling and that the module is on PYTHONPATH (or --py-files)"
            ) from e
        try:
            obj: Any = getattr(mod, attr)
        except AttributeError:
            raise ConfigError(
                f"module {mod_name!r} has no attribute {attr!r}; name the LF list as "
                f"'{mod_name}:NAME'"
            ) from None
        items = [obj] if isinstance(obj, LabelingFunction) else list(obj)
        for i, lf in enumerate(items):
            if not isinstance(lf, LabelingFunction):
                raise ConfigError(
                    f"{path}[{i}] is {type(lf).__name__}, not a LabelingFunction; decorate it "
                    "with @labeling_function() or @vectorized_lf()"
                )
        lfs.extend(items)
    names = {lf.name for lf in lfs}
    unknown = sorted(set(exclude) - names)
    if unknown:
        raise ConfigError(f"lfs.exclude names unknown LF(s) {unknown}; known: {sorted(names)}")
    return check_unique_names([lf for lf in lfs if lf.name not in set(exclude)])
