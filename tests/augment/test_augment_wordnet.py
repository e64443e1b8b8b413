"""WordNet synonym swap: a clear error naming the fix when WordNet is absent; works when present."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = """
import nltk
nltk.data.path[:] = [{path!r}]
from wsup_spark.augment.text import synonym_swap
try:
    synonym_swap("a quick test")
except Exception as e:
    print(type(e).__name__, e)
"""


def test_missing_wordnet_names_the_fix(tmp_path) -> None:
    pytest.importorskip("nltk")
    out = subprocess.run([sys.executable, "-c", CODE.format(path=str(tmp_path))],
                         capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    assert out.startswith("TFError") and "setup_wordnet.sh" in out and "synonym_swap" in out


@pytest.mark.slow
def test_synonym_swap_with_wordnet() -> None:
    from wsup_spark.augment.text import synonym_swap, wordnet_available

    if not wordnet_available():
        if os.environ.get("CI") == "true":  # scripts/test.sh prepares it; CI must run this test
            pytest.fail("WordNet is not available to nltk under CI=true: setup_wordnet.sh failed?")
        pytest.skip("WordNet not installed: bash scripts/augment/setup_wordnet.sh")
    s = "the quick brown dog runs home"
    out = synonym_swap(s, seed=0, strength=1.0)
    assert out is not None and out != s and len(out.split()) == len(s.split())
    assert synonym_swap(s, seed=0, strength=1.0) == out
