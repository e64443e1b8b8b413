"""Text TFs: WordNet synonym swap, random word swap/delete, number and entity substitution, typos.

Row TFs over one string. Each returns ``None`` when it cannot change the text (no word with a
synonym, no number, a single word), so the lineage only names TFs that did something. Strength
in [0, 1] scales how much of the text changes (fractions in each docstring).

``synonym_swap`` reads English WordNet 3.0 through nltk, loaded once per worker process. Prepare
it offline with ``bash scripts/augment/setup_wordnet.sh`` (Debian's ``wordnet-base`` and
``wordnet-sense-index`` packages + the ``lexnames`` file nltk needs); without it the TF raises a
:class:`~wsup_spark.augment.base.TFError` naming that script.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from wsup_spark.augment.base import TFError, TransformationFunction, transformation_function

__all__ = [
    "TEXT_TFS",
    "WORDNET_FIX",
    "SynonymLexicon",
    "entity_sub",
    "load_wordnet",
    "number_sub",
    "random_delete",
    "random_swap",
    "synonym_swap",
    "text_change",
    "typo",
    "wordnet_available",
]

WORDNET_FIX = (
    "prepare English WordNet for nltk offline with `bash scripts/augment/setup_wordnet.sh` "
    "(installs Debian's wordnet-base and wordnet-sense-index and writes "
    "nltk_data/corpora/wordnet), "
    "or point NLTK_DATA at an nltk_data folder that has corpora/wordnet"
)

_TOKENS = re.compile(r"\S+|\s+")
_WORD = re.compile(r"^([^A-Za-z]*)([A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z])([^A-Za-z]*)$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]

#: Built-in replacement entities for ``entity_sub`` (override with its ``entities`` resource).
DEFAULT_ENTITIES: tuple[str, ...] = (
    "Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Maria", "Omar",
    "London", "Paris", "Tokyo", "Berlin", "Madrid", "Boston", "Chicago", "Sydney", "Toronto",
    "Google", "Apple", "Microsoft", "Amazon", "Samsung", "Sony",
)  # fmt: skip


def wordnet_available() -> bool:
    """Whether nltk and its WordNet corpus can be loaded here."""
    try:
        load_wordnet()
    except TFError:
        return False
    return True


def load_wordnet() -> Any:
    """nltk's WordNet reader (loaded), or :class:`TFError` naming the fix."""
    try:
        from nltk.corpus import wordnet as wn
    except ImportError as e:
        raise TFError(f"TF 'synonym_swap' needs nltk (pip install nltk); then {WORDNET_FIX}") from e
    try:
        wn.ensure_loaded()
    except LookupError as e:
        raise TFError(f"TF 'synonym_swap': English WordNet is not installed: {WORDNET_FIX}") from e
    return wn


class SynonymLexicon:
    """Single-word WordNet synonyms of a lower-case word, memoised per process.

    Parameters
    ----------
    wn : nltk WordNet corpus reader (see :func:`load_wordnet`)
    """

    def __init__(self, wn: Any) -> None:
        self._wn = wn
        self._memo: dict[str, tuple[str, ...]] = {}

    def __call__(self, word: str) -> tuple[str, ...]:
        """Sorted synonyms of ``word`` (itself excluded; multi-word lemmas excluded)."""
        w = word.lower()
        hit = self._memo.get(w)
        if hit is None:
            names = {
                lemma.name().lower()
                for syn in self._wn.synsets(w)
                for lemma in syn.lemmas()
                if "_" not in lemma.name()
            }
            names.discard(w)
            hit = tuple(sorted(names))
            self._memo[w] = hit
        return hit


def _load_lexicon() -> SynonymLexicon:
    return SynonymLexicon(load_wordnet())


def _match_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def _n_changes(strength: float, n: int, frac: float) -> int:
    return max(1, int(strength * frac * n + 0.5))


#: Words not worth swapping for a synonym.
_STOP = frozenset(
    "a an the and or but if of in on at to for with by from is are was were be been am i you he "
    "she it we they me him her us them my your his its our their this that these those not no do "
    "does did have has had will would can could should".split()
)


@transformation_function(default_strength=0.5, loaders={"lexicon": _load_lexicon}, kind="text")
def synonym_swap(
    x: str, rng: np.random.Generator, strength: float, lexicon: SynonymLexicon
) -> str | None:
    """Replace up to strength·30% of the words (at least one) with a WordNet synonym."""
    toks = _TOKENS.findall(x)
    cands: list[tuple[int, str, str, str, tuple[str, ...]]] = []
    for i, t in enumerate(toks):
        m = _WORD.match(t)
        if m is None or m.group(2).lower() in _STOP or len(m.group(2)) < 3:
            continue
        syns = lexicon(m.group(2))
        if syns:
            cands.append((i, m.group(1), m.group(2), m.group(3), syns))
    if not cands:
        return None
    k = min(len(cands), _n_changes(strength, len(cands), 0.3))
    for j in rng.choice(len(cands), size=k, replace=False):
        i, pre, word, post, syns = cands[int(j)]
        toks[i] = pre + _match_case(str(syns[int(rng.integers(len(syns)))]), word) + post
    return "".join(toks)


@transformation_function(default_strength=0.5, kind="text")
def random_swap(x: str, rng: np.random.Generator, strength: float) -> str | None:
    """Swap strength·20% word pairs (at least one); needs two words."""
    toks = _TOKENS.findall(x)
    words = [i for i, t in enumerate(toks) if not t.isspace()]
    if len(words) < 2:
        return None
    for _ in range(_n_changes(strength, len(words), 0.2)):
        a, b = rng.choice(len(words), size=2, replace=False)
        ia, ib = words[int(a)], words[int(b)]
        toks[ia], toks[ib] = toks[ib], toks[ia]
    return "".join(toks)


@transformation_function(default_strength=0.5, kind="text")
def random_delete(x: str, rng: np.random.Generator, strength: float) -> str | None:
    """Delete each word with probability strength·30% (at least one word stays)."""
    words = x.split()
    if len(words) < 2:
        return None
    keep = rng.random(len(words)) >= 0.3 * strength
    if not keep.any():
        keep[int(rng.integers(len(words)))] = True
    if keep.all():
        keep[int(rng.integers(len(words)))] = False
    return " ".join(w for w, k in zip(words, keep, strict=True) if k)


@transformation_function(default_strength=0.5, kind="text")
def number_sub(x: str, rng: np.random.Generator, strength: float) -> str | None:
    """Replace each number with another of the same number of digits (up to ±strength·100% of
    its value for multi-digit numbers)."""
    if _NUMBER.search(x) is None:
        return None

    def repl(m: re.Match[str]) -> str:
        s = m.group(0)
        digits = [c for c in s if c.isdigit()]
        new = [str(int(rng.integers(1 if i == 0 and len(digits) > 1 else 0, 10)))
               for i in range(len(digits))]  # fmt: skip
        if len(digits) > 1 and strength < 1.0:  # keep the leading digits at low strength
            keep = int((1.0 - strength) * (len(digits) - 1) + 0.5)
            new[:keep] = digits[:keep]
        it = iter(new)
        return "".join(next(it) if c.isdigit() else c for c in s)

    out = _NUMBER.sub(repl, x)
    return out if out != x else None


@transformation_function(
    default_strength=0.5, resources={"entities": DEFAULT_ENTITIES}, kind="text"
)
def entity_sub(
    x: str, rng: np.random.Generator, strength: float, entities: tuple[str, ...]
) -> str | None:
    """Replace capitalised words that do not start a sentence (a proper-noun heuristic) with
    entities from the ``entities`` resource; at least one, up to strength·100% of them."""
    toks = _TOKENS.findall(x)
    cands = []
    start = True
    for i, t in enumerate(toks):
        if t.isspace():
            continue
        m = _WORD.match(t)
        if m is not None and not start and m.group(2)[:1].isupper() and not m.group(1):
            cands.append(i)
        start = t[-1:] in ".!?"
    if not cands or not entities:
        return None
    k = min(len(cands), _n_changes(strength, len(cands), 1.0))
    for j in rng.choice(len(cands), size=k, replace=False):
        m = _WORD.match(toks[cands[int(j)]])
        assert m is not None
        toks[cands[int(j)]] = m.group(1) + entities[int(rng.integers(len(entities)))] + m.group(3)
    return "".join(toks)


def _neighbour(c: str, rng: np.random.Generator) -> str:
    low = c.lower()
    for row in _KEYBOARD:
        j = row.find(low)
        if j >= 0:
            opts = [row[k] for k in (j - 1, j + 1) if 0 <= k < len(row)]
            new = opts[int(rng.integers(len(opts)))]
            return new.upper() if c.isupper() else new
    return c


@transformation_function(default_strength=0.5, kind="text")
def typo(x: str, rng: np.random.Generator, strength: float) -> str | None:
    """Keyboard typos: each letter is, with probability strength·6%, swapped with the next,
    dropped, or replaced by a keyboard neighbour (at least one typo)."""
    chars = list(x)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    if not letters:
        return None
    hit = rng.random(len(letters)) < 0.06 * strength
    if not hit.any():
        hit[int(rng.integers(len(letters)))] = True
    drop: set[int] = set()
    for i in (letters[j] for j in np.flatnonzero(hit)):
        op = int(rng.integers(3))
        if op == 0 and i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == 1 and len(letters) > 1:
            drop.add(i)
        else:
            chars[i] = _neighbour(chars[i], rng)
    out = "".join(c for i, c in enumerate(chars) if i not in drop)
    return out if out != x else None


def text_change(originals: Sequence[str], transformed: Sequence[str]) -> np.ndarray:
    """Share of characters changed per pair, ``1 - difflib.SequenceMatcher.ratio()`` in [0, 1]:
    the ``distance=`` of :func:`~wsup_spark.augment.learn.learn_policy` for texts (its
    near-identity penalty applies below ``identity_threshold``, 0.05 by default: one typo in a
    90-character text is a change of about 0.01).

    >>> text_change(["free money now", "same"], ["free cash now", "same"]).round(2).tolist()
    [0.33, 0.0]
    """
    if len(originals) != len(transformed):
        raise ValueError(f"{len(originals)} originals, {len(transformed)} transformed texts")
    return np.array(
        [1.0 - difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
         for a, b in zip(originals, transformed, strict=True)],
        np.float64,
    )  # fmt: skip


#: The text TFs, in a stable order (``synonym_swap`` needs WordNet).
TEXT_TFS: tuple[TransformationFunction, ...] = (
    synonym_swap, random_swap, random_delete, number_sub, entity_sub, typo,
)  # fmt: skip
