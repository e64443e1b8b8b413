"""Run the doctests of the math core (the examples in the docstrings are checked)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["baselines", "model", "moments", "shrinkage", "stats"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    mod = importlib.import_module(f"wsup_spark.labelmodel.{name}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
