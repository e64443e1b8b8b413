"""Labeling functions: row LFs, vectorized (batch) LFs, and the objects both become.

A labeling function (LF) votes a class id in ``0..k-1`` or abstains with :data:`ABSTAIN` (-1).

Two kinds:

* **row LFs** (``@labeling_function``) receive one :class:`Record` (a dict with attribute access,
  holding the corpus columns) and return an ``int``. Easy to write; cost one Python call per row.
* **vectorized LFs** (``@vectorized_lf``) receive a whole batch — a ``pandas.DataFrame`` (default)
  or a ``pyarrow.RecordBatch`` (``batch_format="arrow"``) — and return an integer array of length
  n. This is the fast path: pyarrow.compute or pandas ``.str`` run at C speed.

This module imports only the standard library and numpy; pandas/pyarrow are imported lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from wsup_spark.errors import LFError

ABSTAIN: int = -1
"""The vote of an LF that does not label a row."""

BatchFormat = Literal["pandas", "arrow"]


class Record:
    """One corpus row handed to a row LF: ``x.text`` and ``x["text"]`` both work.

    Fields live in the instance ``__dict__``, so attribute access is a plain (fast) lookup.
    ``Record(mapping, **changes)`` builds a (modified) copy, e.g. in a preprocessor.
    """

    def __init__(self, data: Any = (), **kwargs: Any) -> None:
        self.__dict__.update(data, **kwargs)

    @classmethod
    def wrap(cls, d: dict[str, Any]) -> Record:
        """Adopt ``d`` as the record's fields without copying (the hot path)."""
        r = cls.__new__(cls)
        r.__dict__ = d
        return r

    def __getattr__(self, key: str) -> Any:  # only called when the field is missing
        raise AttributeError(
            f"record has no column {key!r}; available columns: {sorted(self.__dict__)}"
        )

    def __getitem__(self, key: str) -> Any:
        try:
            return self.__dict__[key]
        except KeyError:
            raise KeyError(
                f"record has no column {key!r}; available columns: {sorted(self.__dict__)}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self.__dict__

    def __iter__(self) -> Any:
        return iter(self.__dict__)

    def __len__(self) -> int:
        return len(self.__dict__)

    def keys(self) -> Any:
        """Column names."""
        return self.__dict__.keys()

    def items(self) -> Any:
        """(column, value) pairs."""
        return self.__dict__.items()

    def get(self, key: str, default: Any = None) -> Any:
        """Value of ``key`` or ``default``."""
        return self.__dict__.get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return self.__dict__ == other.__dict__
        return self.__dict__ == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Record({self.__dict__!r})"


_MISSING_FIELD = Record.__getattr__
_fast_lock = threading.Lock()
_fast_depth = 0


@contextlib.contextmanager
def fast_field_access() -> Iterator[None]:
    """Within the block, ``record.field`` costs what it costs on a plain object.

    A class with ``__getattr__`` (:class:`Record`'s, for its "record has no column" message)
    keeps CPython from specialising attribute loads on its instances: ``x.text`` then costs
    ~30 ns more, about 15% of a cheap row LF. The applier's fast pass runs inside this block,
    which removes ``Record.__getattr__`` and puts it back when the last block exits
    (re-entrant, thread-safe). While any block is open, a missing field of any record still
    raises ``AttributeError``, with Python's own message instead of the list of columns; the
    applier re-runs a failing LF row by row outside the block, so its errors keep the record's
    message.
    """
    global _fast_depth
    with _fast_lock:
        if _fast_depth == 0:
            del Record.__getattr__
        _fast_depth += 1
    try:
        yield
    finally:
        with _fast_lock:
            _fast_depth -= 1
            if _fast_depth == 0:
                Record.__getattr__ = _MISSING_FIELD  # type: ignore[method-assign]


Preprocessor = Callable[[Record], Record]


@dataclass(frozen=True, eq=False)
class LabelingFunction:
    """A named labeling function.

    Parameters
    ----------
    name
        Unique name; used as the LF's column in analysis and in the votes table metadata.
    func
        Row LF: ``func(record, **resources) -> int``. Batch LF: ``func(batch, **resources) ->``
        integer array-like of shape (n,).
    kind
        ``"row"`` or ``"batch"``.
    resources
        Keyword arguments passed to every call (knowledge bases, thresholds...). Shipped to
        executors once per task together with the LF object.
    pre
        Row LFs only: preprocessors ``Record -> Record`` applied before ``func``.
    columns
        Corpus columns the LF reads. ``None`` means all columns. Used to validate configs early and
        to hand batch LFs only what they need.
    batch_format
        Batch LFs only: ``"pandas"`` (DataFrame) or ``"arrow"`` (RecordBatch).
    """

    name: str
    func: Callable[..., Any]
    kind: Literal["row", "batch"] = "row"
    resources: Mapping[str, Any] = field(default_factory=dict)
    pre: tuple[Preprocessor, ...] = ()
    columns: tuple[str, ...] | None = None
    batch_format: BatchFormat = "pandas"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise LFError(f"LF name must be a non-empty string, got {self.name!r}")
        if not callable(self.func):
            raise LFError(f"LF {self.name!r}: func must be callable, got {type(self.func)!r}")
        if self.kind not in ("row", "batch"):
            raise LFError(f"LF {self.name!r}: kind must be 'row' or 'batch', got {self.kind!r}")
        if self.batch_format not in ("pandas", "arrow"):
            raise LFError(
                f"LF {self.name!r}: batch_format must be 'pandas' or 'arrow', "
                f"got {self.batch_format!r}"
            )

    def __call__(self, x: Any) -> Any:
        """Apply to one record (row LF) or one batch (batch LF)."""
        if self.kind == "row":
            for p in self.pre:
                x = p(x)
            return self.func(x, **self.resources)
        return self.func(x, **self.resources)

    def __repr__(self) -> str:
        return f"LabelingFunction(name={self.name!r}, kind={self.kind!r})"

    @property
    def fingerprint(self) -> str:
        """A short, stable hash of what decides the LF's votes: name, kind, columns, batch
        format, the function's source with its closure values (template parameters) and the
        globals it reads, its preprocessors and its resources (:mod:`wsup_spark.lf.fingerprint`;
        no object ids, so every process agrees).

        Recorded per LF column in the votes table's commits; incremental runs recompute exactly
        the LFs whose fingerprint changed.
        """
        from wsup_spark.lf.fingerprint import code_digest, value_digest

        parts = [self.name, self.kind, repr(self.columns), self.batch_format,
                 code_digest(self.func), *(code_digest(p) for p in self.pre),
                 value_digest(dict(self.resources))]  # fmt: skip
        return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:12]


def labeling_function(
    name: str | None = None,
    resources: Mapping[str, Any] | None = None,
    pre: Sequence[Preprocessor] | None = None,
    columns: Sequence[str] | None = None,
) -> Callable[[Callable[..., int]], LabelingFunction]:
    """Decorator turning ``f(record, **resources) -> int`` into a row :class:`LabelingFunction`.

    Examples
    --------
    >>> @labeling_function()
    ... def lf_short(x):
    ...     return 0 if len(x.text.split()) < 15 else ABSTAIN
    >>> lf_short(Record(text="No acute findings."))
    0
    """

    def wrap(f: Callable[..., int]) -> LabelingFunction:
        return LabelingFunction(
            name=name or f.__name__,
            func=f,
            kind="row",
            resources=dict(resources or {}),
            pre=tuple(pre or ()),
            columns=tuple(columns) if columns is not None else None,
        )

    return wrap


def vectorized_lf(
    name: str | None = None,
    columns: Sequence[str] | None = None,
    resources: Mapping[str, Any] | None = None,
    batch_format: BatchFormat = "pandas",
) -> Callable[[Callable[..., Any]], LabelingFunction]:
    """Decorator for a batch LF ``f(batch, **resources) -> int array (n,)``.

    Examples
    --------
    >>> import pandas as pd
    >>> @vectorized_lf(columns=["text"])
    ... def lf_pneumo(df):
    ...     return np.where(df["text"].str.contains("pneumo", case=False), 1, ABSTAIN)
    >>> lf_pneumo(pd.DataFrame({"text": ["Pneumothorax.", "Clear."]})).tolist()
    [1, -1]
    """

    def wrap(f: Callable[..., Any]) -> LabelingFunction:
        return LabelingFunction(
            name=name or f.__name__,
            func=f,
            kind="batch",
            resources=dict(resources or {}),
            columns=tuple(columns) if columns is not None else None,
            batch_format=batch_format,
        )

    return wrap


def check_unique_names(lfs: Iterable[LabelingFunction]) -> list[LabelingFunction]:
    """Return ``lfs`` as a list after checking that every element is an LF and names are unique."""
    out = list(lfs)
    if not out:
        raise LFError("no labeling functions given: pass at least one LF")
    seen: dict[str, int] = {}
    for i, lf in enumerate(out):
        if not isinstance(lf, LabelingFunction):
            raise LFError(
                f"element {i} is {type(lf).__name__}, not a LabelingFunction: decorate it with "
                "@labeling_function() or @vectorized_lf()"
            )
        if lf.name in seen:
            raise LFError(
                f"duplicate LF name {lf.name!r} (positions {seen[lf.name]} and {i}): "
                "LF names must be unique; pass name=... to the decorator"
            )
        seen[lf.name] = i
    return out


def lf_set_hash(lfs: Sequence[LabelingFunction]) -> str:
    """Hash of the ordered LF set (names and fingerprints); stored with every votes row."""
    h = hashlib.sha1("\n".join(f"{lf.name}:{lf.fingerprint}" for lf in lfs).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class LFSet:
    """An ordered set of LFs voting one task with ``cardinality`` classes.

    What the stages need to know about the LFs in one object: their order (the votes array
    follows it), names, fingerprints and the set's hash (stored with every votes row).

    Examples
    --------
    >>> lf = LabelingFunction("always_one", lambda x: 1)
    >>> s = LFSet.of([lf], cardinality=2)
    >>> (s.m, s.k, s.names)
    (1, 2, ('always_one',))
    """

    lfs: tuple[LabelingFunction, ...]
    cardinality: int

    @classmethod
    def of(cls, lfs: Iterable[LabelingFunction], cardinality: int) -> LFSet:
        """Check the LFs (unique names, real LFs) and the cardinality, and build the set."""
        vote_dtype(int(cardinality))  # validates k >= 2
        return cls(tuple(check_unique_names(lfs)), int(cardinality))

    @property
    def m(self) -> int:
        """Number of LFs."""
        return len(self.lfs)

    @property
    def k(self) -> int:
        """Number of classes (the cardinality)."""
        return self.cardinality

    @property
    def names(self) -> tuple[str, ...]:
        """LF names in vote order."""
        return tuple(lf.name for lf in self.lfs)

    @property
    def fingerprints(self) -> list[str]:
        """Each LF's fingerprint, in vote order."""
        return [lf.fingerprint for lf in self.lfs]

    @property
    def hash(self) -> str:
        """:func:`lf_set_hash` of the set."""
        return lf_set_hash(self.lfs)


def vote_dtype(cardinality: int) -> np.dtype[Any]:
    """Smallest signed integer dtype holding votes in ``-1..cardinality-1`` (int8 for k ≤ 127)."""
    if cardinality < 2:
        raise LFError(f"cardinality must be >= 2, got {cardinality}")
    return np.dtype(np.int8) if cardinality <= 127 else np.dtype(np.int16)


def validate_votes(
    lf_name: str, votes: Any, n: int, cardinality: int, ids: Sequence[Any] | None = None
) -> np.ndarray:
    """Check and convert one LF's batch output to an int64 array of shape (n,).

    Raises :class:`LFError` naming the LF, the bad value and the row id when a vote is not an
    integer in ``-1..cardinality-1`` or the length is wrong.
    """
    try:
        arr = np.asarray(votes)
        if arr.dtype.kind in "US" and not isinstance(votes, np.ndarray):
            # a list mixing ints and a string: numpy would turn every int into a string too
            arr = np.asarray(votes, dtype=object)
    except Exception as e:  # pragma: no cover - exotic objects
        raise LFError(f"LF {lf_name!r} returned {type(votes).__name__}, not an array: {e}") from e
    if arr.shape != (n,):
        raise LFError(
            f"LF {lf_name!r} returned shape {arr.shape} for a batch of {n} rows; a batch LF must "
            "return one vote per row"
        )
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        # accept object arrays of ints (e.g. from pandas .map) but not strings/bools
        if arr.dtype.kind == "O" and all(_is_int(v) for v in arr):
            arr = arr.astype(np.int64)
        else:
            bad = _first_non_integer(arr)
            value = _plain(arr[bad])
            kind = type(value).__name__ if arr.dtype.kind == "O" else f"output dtype {arr.dtype}"
            raise LFError(
                f"LF {lf_name!r} returned non-integer vote {value!r} ({kind}) for row id "
                f"{_row_id(ids, bad)}; return a class id in 0..{cardinality - 1} or -1"
            )
    if arr.dtype.kind == "f":
        nonint = ~np.isfinite(arr) | (arr != np.round(arr))
        if nonint.any():
            bad = int(np.flatnonzero(nonint)[0])
            raise LFError(
                f"LF {lf_name!r} returned non-integer vote {_plain(arr[bad])!r} for row id "
                f"{_row_id(ids, bad)}; return a class id in 0..{cardinality - 1} or -1"
            )
    out = arr.astype(np.int64, copy=False)
    oob = (out < ABSTAIN) | (out >= cardinality)
    if oob.any():
        bad = int(np.flatnonzero(oob)[0])
        raise LFError(
            f"LF {lf_name!r} voted {int(out[bad])} for row id {_row_id(ids, bad)}, outside "
            f"-1..{cardinality - 1}: votes must be a class id below cardinality={cardinality} or "
            "ABSTAIN (-1); check the LF or the configured cardinality"
        )
    return out


def _first_non_integer(arr: np.ndarray) -> int:
    """Position of the first vote that is not an integer (of a string array, where numpy made
    every value a string, the first that does not even spell one: ``np.where(c, "neg", -1)``)."""
    if arr.dtype.kind in "US":
        for i, v in enumerate(arr):
            try:
                int(v)
            except ValueError:
                return i
        return 0
    return next((i for i, v in enumerate(arr) if not _is_int(v)), 0)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _row_id(ids: Sequence[Any] | None, i: int) -> Any:
    return repr(ids[i]) if ids is not None else f"<position {i} in batch>"
