"""Hashed word, word n-gram and character n-gram ids for a string column (fastText-style).

Everything is vectorised over Arrow buffers with numpy; no Python runs per row or per token.

Cost model (measured on this 2-core machine, see ``scripts/bench_endmodel.py``): for a batch of
``n`` texts with ``T`` tokens of which ``U`` are distinct,

1. lower-case, punctuation → space, whitespace split: Arrow kernels, O(bytes) — the dominant cost;
2. ``dictionary_encode`` of the tokens: one C++ hash-table pass, O(T);
3. a 64-bit polynomial hash of each *distinct* token's bytes (numpy, O(bytes of the U distinct
   tokens)) followed by a murmur3 finaliser, then a gather to the T tokens;
4. word n-grams: rolling combination of adjacent token hashes, O(T · (word_ngrams - 1));
5. character n-grams of ``"<token>"`` for n in ``[minn, maxn]``: computed once per distinct token,
   then expanded per token — O(T · n-grams per token) output, which is also what the
   ``EmbeddingBag`` then pays; char n-grams multiply the ids per row by ~10–20.

Ids are ``hash % buckets``; word, word n-gram and char n-gram hashes use different seeds, so they
share one embedding table without colliding systematically. Character n-grams are over UTF-8
bytes (identical to characters for ASCII text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_P = np.uint64(0x100000001B3)  # FNV-64 prime, the polynomial base
_SEED_WORD = np.uint64(0x9E3779B97F4A7C15)
_SEED_WNGRAM = np.uint64(0xC2B2AE3D27D4EB4F)
_SEED_CHAR = np.uint64(0x165667B19E3779F9)
_SEED_ID = np.uint64(0x27D4EB2F165667C5)
_PUNCT_LUT = np.arange(256, dtype=np.uint8)
_PUNCT_LUT[[ord(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"]] = ord(" ")


def mix64(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser (avalanche), elementwise, wrapping.

    Parameters
    ----------
    h : (n,) uint64

    Returns
    -------
    (n,) uint64

    Examples
    --------
    >>> int(mix64(np.array([0], dtype=np.uint64))[0])
    0
    >>> bool(mix64(np.array([1], dtype=np.uint64))[0] != 1)
    True
    """
    h = np.asarray(h, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
    return h


def string_buffers(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy views of an Arrow (large_)string array without nulls.

    Returns
    -------
    data : (bytes,) uint8, the concatenated UTF-8 bytes of the strings
    offsets : (n + 1,) int64, string i is ``data[offsets[i]:offsets[i + 1]]``
    """
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = arr.fill_null("")
    n = len(arr)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offs = np.frombuffer(
        bufs[1], dtype=width, count=n + 1, offset=arr.offset * np.dtype(width).itemsize
    )
    offs = offs.astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    data = data[offs[0] : offs[-1]]
    return data, offs - offs[0]


def _poly_hash(data: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """Σ_j (b_j + 1) · P^(len-1-j) over each string's bytes (mod 2^64), then ⊕ length."""
    n = len(offs) - 1
    lens = np.diff(offs)
    out = np.zeros(n, np.uint64)
    if n == 0 or len(data) == 0:
        return out ^ lens.astype(np.uint64)
    maxlen = int(lens.max())
    powers = np.ones(maxlen + 1, np.uint64)
    with np.errstate(over="ignore"):
        for i in range(1, maxlen + 1):
            powers[i] = powers[i - 1] * _P
        owner = np.repeat(np.arange(n), lens)
        from_end = offs[1:][owner] - 1 - np.arange(len(data))
        contrib = (data.astype(np.uint64) + np.uint64(1)) * powers[from_end]
    nonempty = lens > 0
    out[nonempty] = np.add.reduceat(contrib, offs[:-1][nonempty])
    return out ^ lens.astype(np.uint64)


def hash_strings(arr: Any, seed: np.uint64 = _SEED_ID) -> np.ndarray:
    """Stable 64-bit hash of every string of an Arrow string array (nulls hash like ``""``).

    Stable across processes, machines and versions of this package's dependencies (it does not use
    Python's salted ``hash``): used for string row ids and the held-out split.

    Returns
    -------
    (n,) uint64
    """
    data, offs = string_buffers(arr)
    return mix64(_poly_hash(data, offs) ^ seed)


def hash_ints(values: np.ndarray, seed: np.uint64 = _SEED_ID) -> np.ndarray:
    """Stable 64-bit hash of integers. ``values`` : (n,) int → (n,) uint64."""
    return mix64(np.asarray(values).astype(np.int64).view(np.uint64) ^ seed)


def ragged_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat gather index of the ragged slices ``[starts[i], starts[i] + lengths[i])``.

    Examples
    --------
    >>> ragged_index(np.array([5, 0]), np.array([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (ends - lengths), lengths)
    return np.asarray(np.arange(total, dtype=np.int64) + shift)


def _char_ngrams(
    data: np.ndarray, offs: np.ndarray, minn: int, maxn: int
) -> tuple[np.ndarray, np.ndarray]:
    """Byte n-gram hashes of each of ``u`` strings → (hashes (m,) uint64, offsets (u + 1,))."""
    u = len(offs) - 1
    lens = np.diff(offs)
    owner = np.repeat(np.arange(u), lens)
    end = offs[1:][owner]  # exclusive end of the string each byte belongs to
    pos = np.arange(len(data))
    b = data.astype(np.uint64) + np.uint64(1)
    hs, ws = [], []
    for n in range(minn, maxn + 1):
        ok = pos + n <= end
        starts = pos[ok]
        acc = np.zeros(len(starts), np.uint64)
        with np.errstate(over="ignore"):
            for t in range(n):
                acc = acc * _P + b[starts + t]
        hs.append(mix64(acc ^ (_SEED_CHAR + np.uint64(n))))
        ws.append(owner[ok])
    h = np.concatenate(hs) if hs else np.zeros(0, np.uint64)
    w = np.concatenate(ws) if ws else np.zeros(0, np.int64)
    order = np.argsort(w, kind="stable")
    counts = np.bincount(w, minlength=u)
    return h[order], np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _merge_by_row(
    parts: list[tuple[np.ndarray, np.ndarray]], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interleave (row_of (m,), values (m,)) parts, each sorted by row, into one row-major ragged.

    Returns (values (Σm,), offsets (n + 1,)).
    """
    counts = [np.bincount(r, minlength=n) for r, _ in parts]
    total = np.sum(counts, axis=0) if counts else np.zeros(n, np.int64)
    offsets = np.concatenate([[0], np.cumsum(total)]).astype(np.int64)
    out = np.empty(int(offsets[-1]), np.uint64)
    before = np.zeros(n, np.int64)
    for (rows, vals), c in zip(parts, counts, strict=True):
        first = np.concatenate([[0], np.cumsum(c)[:-1]])
        rank = np.arange(len(rows)) - first[rows]
        out[offsets[rows] + before[rows] + rank] = vals
        before += c
    return out, offsets


@dataclass(frozen=True)
class HashedText:
    """Hashed n-gram ids of ``n`` texts, in the layout :class:`~.models.HashedTextEncoder` reads.

    Word and word n-gram ids form one bag per text. Character n-grams are *factored*: they are
    computed once per distinct token of the batch (``u`` of them) and referenced by each of the
    ``t`` token occurrences, so their cost grows with the distinct tokens, not with the text length.

    Attributes
    ----------
    ids : (w,) int64, word and word n-gram ids in ``[0, buckets)``
    offsets : (n + 1,) int64, text i's bag is ``ids[offsets[i]:offsets[i + 1]]``
    char_ids : (c,) int64, char n-gram ids of the distinct tokens
    char_offsets : (u + 1,) int64, distinct token j's char n-grams are
        ``char_ids[char_offsets[j]:char_offsets[j + 1]]``
    token_word : (t,) int64, the distinct-token index of each token occurrence
    token_row : (t,) int64, the text each token occurrence belongs to (non-decreasing)

    The ``char_*``/``token_*`` arrays are empty when character n-grams are off.
    """

    ids: np.ndarray
    offsets: np.ndarray
    char_ids: np.ndarray
    char_offsets: np.ndarray
    token_word: np.ndarray
    token_row: np.ndarray

    @property
    def n(self) -> int:
        """Number of texts."""
        return len(self.offsets) - 1

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """All ids of each text as one bag (words, word n-grams, then every token's char n-grams).

        Returns
        -------
        ids : (m,) int64 and offsets : (n + 1,) int64 — the plain ``EmbeddingBag`` layout for models
        that want a single bag; its mean equals the factored encoder's output.
        """
        n = self.n
        if len(self.token_word) == 0:
            return self.ids, self.offsets
        words = (np.repeat(np.arange(n), np.diff(self.offsets)), self.ids.astype(np.uint64))
        lengths = np.diff(self.char_offsets)[self.token_word]
        chars = self.char_ids[ragged_index(self.char_offsets[:-1][self.token_word], lengths)]
        parts = [words, (np.repeat(self.token_row, lengths), chars.astype(np.uint64))]
        ids, offsets = _merge_by_row(parts, n)
        return ids.astype(np.int64), offsets


def normalise(arr: Any, lowercase: bool = True, strip_punct: bool = True) -> Any:
    """Lower-case (Unicode) and turn ASCII punctuation/symbols into spaces (byte lookup table).

    Parameters
    ----------
    arr : Arrow string array (nulls become ``""``)

    Returns
    -------
    Arrow string array of the same length
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pc.fill_null(arr, "")
    if lowercase:
        arr = pc.utf8_lower(arr)
    if not strip_punct:
        return arr
    data, offs = string_buffers(arr)
    # ASCII bytes only (UTF-8 continuation bytes are >= 0x80). Arrow kernels may read whole
    # 64-byte words, so the new data buffer gets Arrow's zeroed padding.
    out = np.zeros(len(data) + 64, np.uint8)
    np.take(_PUNCT_LUT, data, out=out[: len(data)])
    large = pa.types.is_large_string(arr.type)
    offsets = np.zeros(len(offs) + 16, np.int64 if large else np.int32)
    offsets[: len(offs)] = offs
    cls = pa.LargeStringArray if large else pa.StringArray
    return cls.from_buffers(len(arr), pa.py_buffer(offsets), pa.py_buffer(out))


def hash_ngrams(
    texts: Any,
    buckets: int,
    word_ngrams: int = 2,
    char_ngrams: tuple[int, int] = (0, 0),
    lowercase: bool = True,
    strip_punct: bool = True,
) -> HashedText:
    """Hashed word, word n-gram and (factored) character n-gram ids per text.

    Parameters
    ----------
    texts : Arrow string array / chunked array, or a sequence of str (nulls count as empty)
    buckets : size of the id space (the embedding table's rows)
    word_ngrams : longest word n-gram (1 = words only, 2 = words + bigrams; fastText's -wordNgrams)
    char_ngrams : (minn, maxn) byte n-grams of ``"<token>"``; (0, 0) turns them off (fastText's
        -minn/-maxn)
    lowercase, strip_punct : normalisation before whitespace tokenisation, see :func:`normalise`

    Returns
    -------
    HashedText (shapes documented there)

    Examples
    --------
    >>> h = hash_ngrams(["a b", "", "A!"], buckets=1000)
    >>> h.offsets.tolist()  # "a b": a, b, "a b"; "": nothing; "A!" -> "a": a
    [0, 3, 3, 4]
    >>> bool(h.ids[0] == h.ids[3])
    True
    >>> h = hash_ngrams(["ab ab"], buckets=1000, word_ngrams=1, char_ngrams=(3, 3))
    >>> h.char_offsets.tolist(), h.token_word.tolist()  # "<ab>": "<ab", "ab>"; both tokens share it
    ([0, 2], [0, 0])
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    toks = pc.utf8_split_whitespace(normalise(arr, lowercase, strip_punct))
    row_offs = np.asarray(toks.offsets).astype(np.int64)
    row_of = np.repeat(np.arange(n), np.diff(row_offs))
    enc = pc.dictionary_encode(toks.flatten())
    word_idx = np.asarray(enc.indices).astype(np.int64)
    ddata, doffs = string_buffers(enc.dictionary)
    keep = np.diff(doffs)[word_idx] > 0  # the split leaves "" at leading/trailing whitespace
    if not keep.all():
        row_of, word_idx = row_of[keep], word_idx[keep]
    tok_h = mix64(_poly_hash(ddata, doffs) ^ _SEED_WORD)[word_idx]
    parts = [(row_of, tok_h)]
    for g in range(2, word_ngrams + 1):
        m = len(tok_h) - g + 1
        if m <= 0:
            break
        same = row_of[g - 1 :] == row_of[:m]
        acc = tok_h[:m]
        with np.errstate(over="ignore"):
            for t in range(1, g):
                acc = mix64((acc * _P) ^ tok_h[t : m + t])
        parts.append((row_of[:m][same], mix64(acc[same] ^ _SEED_WNGRAM)))
    h, offsets = _merge_by_row(parts, n) if len(parts) > 1 else (tok_h, _offsets(row_of, n))
    ids = (h % np.uint64(buckets)).astype(np.int64)
    empty = np.zeros(0, np.int64)
    minn, maxn = char_ngrams
    if maxn <= 0 or len(word_idx) == 0:
        return HashedText(ids, offsets, empty, np.zeros(1, np.int64), empty, empty)
    used, token_word = np.unique(word_idx, return_inverse=True)
    marked = pc.binary_join_element_wise("<", enc.dictionary.take(pa.array(used)), ">", "")
    mdata, moffs = string_buffers(marked)
    ch, choffs = _char_ngrams(mdata, moffs, max(minn, 1), maxn)
    char_ids = (ch % np.uint64(buckets)).astype(np.int64)
    return HashedText(ids, offsets, char_ids, choffs, token_word.astype(np.int64), row_of)


def _offsets(row_of: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.bincount(row_of, minlength=n))]).astype(np.int64)
