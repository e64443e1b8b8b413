"""Vectorised n-gram hashing against a per-token pure-Python reference."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from wsup_spark.endmodel.hashing import (
    _SEED_CHAR,
    _SEED_WNGRAM,
    _SEED_WORD,
    hash_ints,
    hash_ngrams,
    hash_strings,
)

M64 = (1 << 64) - 1
P = 0x100000001B3


def mix(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & M64
    return h ^ (h >> 33)


def poly(b: bytes) -> int:
    h = 0
    for x in b:
        h = (h * P + x + 1) & M64
    return h ^ len(b)


def reference(text, buckets, word_ngrams, minn, maxn):
    """One row's sorted ids, token by token in Python."""
    t = (text or "").lower()
    t = re.sub(r"[!-/:-@\[-`{-~]", " ", t)  # ASCII punctuation and symbols
    toks = t.split()
    th = [mix(poly(w.encode()) ^ int(_SEED_WORD)) for w in toks]
    out = list(th)
    for g in range(2, word_ngrams + 1):
        for j in range(len(th) - g + 1):
            acc = th[j]
            for s in range(1, g):
                acc = mix(((acc * P) & M64) ^ th[j + s])
            out.append(mix(acc ^ int(_SEED_WNGRAM)))
    for w in toks if maxn else []:
        b = f"<{w}>".encode()
        for n in range(minn, maxn + 1):
            for i in range(len(b) - n + 1):
                acc = 0
                for x in b[i : i + n]:
                    acc = (acc * P + x + 1) & M64
                out.append(mix(acc ^ ((int(_SEED_CHAR) + n) & M64)))
    return sorted(h % buckets for h in out)


TEXTS = [
    "Great movie, LOVED it!!",
    "",
    None,
    "   leading and trailing   ",
    "ünïcödé wörds — and “quotes” 東京 tokyo",
    "a a a a",
    "x",
    "tab\tseparated\nlines",
]


@pytest.mark.parametrize("word_ngrams,chars", [(1, (0, 0)), (2, (0, 0)), (3, (2, 4))])
def test_matches_python_reference(word_ngrams, chars):
    h = hash_ngrams(pa.array(TEXTS), 1009, word_ngrams, chars)
    ids, offs = h.flat()
    assert offs.shape == (len(TEXTS) + 1,) and ids.dtype == np.int64
    for i, t in enumerate(TEXTS):
        got = sorted(ids[offs[i] : offs[i + 1]].tolist())
        assert got == reference(t, 1009, word_ngrams, *chars), t


def test_char_ngrams_are_factored_per_distinct_token():
    h = hash_ngrams(["b a b", "a"], 1000, word_ngrams=1, char_ngrams=(3, 3))
    assert h.token_row.tolist() == [0, 0, 0, 1]
    assert h.token_word[0] == h.token_word[2] and h.token_word[1] == h.token_word[3]
    assert len(h.char_offsets) == 3  # two distinct tokens, each "<x>": one 3-gram


def test_hashes_are_stable_and_in_range():
    # pinned values: the ids of a trained model depend on them, so they must never change
    assert hash_strings(pa.array(["abc"]))[0] == hash_strings(pa.array(["x", "abc"]))[1]
    assert int(hash_ints(np.array([42]))[0]) == int(hash_ints(np.array([7, 42]))[1])
    h = hash_ngrams(["hello world"], 10)
    assert h.ids.min() >= 0 and h.ids.max() < 10
    assert hash_ngrams(["hello world"], 2**20).ids.tolist() == [65655, 351378, 966036]
