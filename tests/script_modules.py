"""Scripts, jobs and notebooks imported as modules by the tests (they live outside any package).

``tests/`` is on ``sys.path`` for every test (pytest's default prepend import mode puts the
folder of ``tests/conftest.py`` there), so any test imports this as ``from script_modules import
load_script``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relpath: str, name: str | None = None) -> ModuleType:
    """Execute ``REPO / relpath`` as a fresh module named ``name`` (default: the file's stem)."""
    path = REPO / relpath
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path} as a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
