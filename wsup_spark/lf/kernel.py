"""Apply a list of LFs to one Arrow record batch → an (n, m) vote matrix.

This is the per-partition kernel shared by the Spark applier (``wsup_spark.spark.apply``) and the
in-memory applier (:func:`apply_lfs_local`). pyarrow/pandas are imported lazily.

Error policy (``on_error``):

* ``"raise"`` (default): the first failure raises :class:`~wsup_spark.errors.LFError` naming
  the LF, the row id and the original exception or bad value.
* ``"abstain"``: a failing call or an invalid vote becomes ABSTAIN and is counted per LF in the
  ``errors`` dict passed in (the Spark layer turns these counts into accumulators and reports them).
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import threading
import time
from collections.abc import Iterator, MutableMapping, Sequence
from itertools import repeat
from typing import Any, Literal

import numpy as np

from wsup_spark.errors import DataError, LFError
from wsup_spark.lf.base import (
    ABSTAIN,
    LabelingFunction,
    Record,
    _is_int,
    check_unique_names,
    fast_field_access,
    validate_votes,
    vote_dtype,
)

OnError = Literal["raise", "abstain"]

#: A batch's time budget under the slow-LF guard is ``max(n, MIN_BUDGET_ROWS) * max_ms_per_row``.
MIN_BUDGET_ROWS = 100


#: What an LF may raise that counts as the LF failing: every Exception, and ``sys.exit()`` /
#: ``KeyboardInterrupt`` raised from LF code (they would otherwise end the Python worker and
#: surface as a bare ``SystemExit: 3`` without the LF or the row).
LF_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit, KeyboardInterrupt)


class _Deadline(BaseException):
    """Raised inside a running LF when its batch's time budget is spent.

    A BaseException, so an LF's own ``except Exception`` and the ``on_error="abstain"`` policy
    cannot swallow it.
    """


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with :class:`_Deadline` after ``seconds`` (SIGALRM timer).

    Only where a real-time interval timer is available (POSIX) and in the main thread (Spark's
    Python workers run UDFs there); elsewhere the block runs uninterrupted and the guard acts
    after it. Pure-Python loops and ``re`` matching are interrupted; a C call that never checks
    signals is interrupted when it returns.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Deadline

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 1e-3))  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def required_columns(lfs: Sequence[LabelingFunction]) -> set[str] | None:
    """Union of the columns the LFs declare; ``None`` when some LF reads every column."""
    cols: set[str] = set()
    for lf in lfs:
        if lf.columns is None:
            return None
        cols.update(lf.columns)
    return cols


def check_columns(
    lfs: Sequence[LabelingFunction], available: Sequence[str], hidden: Sequence[str] = ()
) -> None:
    """Raise :class:`DataError` when an LF declares a column the corpus does not have, or one
    of the ``hidden`` columns (the gold label: for evaluation only, never shown to LFs)."""
    have = set(available) - set(hidden)
    for lf in lfs:
        peeks = [c for c in (lf.columns or ()) if c in set(hidden)]
        if peeks:
            raise DataError(
                f"LF {lf.name!r} reads column(s) {peeks}, the gold label: it is for evaluation "
                "only and hidden from LFs (an LF that reads it would make the label model look "
                "perfect). Remove it from the LF's columns="
            )
        missing = [c for c in (lf.columns or ()) if c not in have]
        if missing:
            raise DataError(
                f"LF {lf.name!r} reads column(s) {missing} that the corpus does not have; "
                f"available columns: {sorted(have)}. Fix the LF's columns= or the source config"
            )


def apply_lfs_to_batch(
    batch: Any,
    lfs: Sequence[LabelingFunction],
    cardinality: int,
    id_col: str,
    on_error: OnError = "raise",
    errors: MutableMapping[str, int] | None = None,
    seconds: MutableMapping[str, float] | None = None,
    max_ms_per_row: float | None = None,
    hidden: Sequence[str] = (),
) -> np.ndarray:
    """Run every LF over one batch.

    Parameters
    ----------
    batch : pyarrow.RecordBatch
        n rows of the corpus, including ``id_col``.
    lfs : sequence of LabelingFunction
        m LFs, in output column order.
    cardinality : int
        k; votes must lie in ``-1..k-1``.
    id_col : str
        Column used to name rows in error messages.
    on_error : {"raise", "abstain"}
        See the module docstring.
    errors : dict, optional
        Per-LF failure counts, incremented in place under ``on_error="abstain"``.
    seconds : dict, optional
        Per-LF wall time, accumulated in place.
    max_ms_per_row : float, optional
        A slow-LF guard: an LF whose mean time on this batch exceeds it raises :class:`LFError`
        (whatever ``on_error`` says: a slow LF is a code problem, not a data problem). A running
        LF is interrupted once it has spent ``max(n, 100) * max_ms_per_row`` ms on the batch (an
        LF that hangs fails the run instead of stalling it; see :func:`_deadline`).
    hidden : sequence of str
        Columns of ``batch`` the LFs must not see (the gold label carried into the votes).

    Returns
    -------
    L : (n, m) int8 (int16 when k > 127)
    """
    if on_error not in ("raise", "abstain"):
        raise LFError(f"on_error must be 'raise' or 'abstain', got {on_error!r}")
    n = batch.num_rows
    m = len(lfs)
    out = np.full((n, m), ABSTAIN, dtype=vote_dtype(cardinality))
    if n == 0:
        return out
    id_array = batch.column(id_col)
    if id_array.null_count:
        raise DataError(
            f"id column {id_col!r} has {id_array.null_count} null value(s) in a batch of {n} rows; "
            "every row needs a stable non-null id (filter them out or fix source.id_col)"
        )
    ids = _RowIds(id_array)  # Python ids only for records and error messages
    if hidden:
        batch = batch.select([c for c in batch.schema.names if c not in set(hidden)])
    # Build the shared inputs first, so each LF's timing is its own work.
    records: list[Record] = []
    row_lfs = [f for f in lfs if f.kind == "row"]
    if row_lfs:
        records = _records(batch, required_columns(row_lfs), id_col, ids.tolist())
    pandas_cache: dict[tuple[str, ...] | None, Any] = {}
    for lf in lfs:
        if lf.kind == "batch" and lf.batch_format == "pandas":
            key = tuple(lf.columns) if lf.columns is not None else None
            if key not in pandas_cache:
                pandas_cache[key] = (batch if key is None else batch.select(list(key))).to_pandas()
    budget = None if max_ms_per_row is None else max(n, MIN_BUDGET_ROWS) * max_ms_per_row / 1000
    _run_lfs(lfs, batch, records, ids, out, cardinality, on_error, errors, seconds, max_ms_per_row,
             budget, pandas_cache)  # fmt: skip
    return out


class _RowIds(Sequence[Any]):
    """A batch's row ids as Python values, converted on first use (a batch of vectorized LFs
    that all succeed never needs them)."""

    def __init__(self, array: Any) -> None:
        self._array = array
        self._list: list[Any] | None = None

    def tolist(self) -> list[Any]:
        """Every id, as ``Array.to_pylist`` gives them."""
        if self._list is None:
            self._list = self._array.to_pylist()
        return self._list

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, i: Any) -> Any:
        return self.tolist()[i]


def _run_lfs(
    lfs: Sequence[LabelingFunction],
    batch: Any,
    records: list[Record],
    ids: Sequence[Any],
    out: np.ndarray,
    cardinality: int,
    on_error: OnError,
    errors: MutableMapping[str, int] | None,
    seconds: MutableMapping[str, float] | None,
    max_ms_per_row: float | None,
    budget: float | None,
    pandas_cache: dict[tuple[str, ...] | None, Any],
) -> None:
    """Run each LF over the batch into its column of ``out`` (see :func:`apply_lfs_to_batch`)."""
    n = out.shape[0]
    for j, lf in enumerate(lfs):
        t0 = time.perf_counter()
        try:
            with _deadline(budget):
                if lf.kind == "row":
                    votes = _run_row_lf(lf, records, ids, cardinality, on_error, errors)
                else:
                    votes = _run_batch_lf(lf, batch, ids, cardinality, on_error, errors,
                                          pandas_cache)  # fmt: skip
        except _Deadline:
            raise LFError(
                f"LF {lf.name!r} was stopped after {time.perf_counter() - t0:.2f} s on a batch of "
                f"{n} rows (first row id {ids[0]!r}): over lfs.max_ms_per_row={max_ms_per_row} "
                f"(budget {budget:.2f} s for this batch). Vectorize it (@vectorized_lf / "
                "templates), cache its resources, fix a loop that never ends, or raise the limit"
            ) from None
        out[:, j] = votes
        dt = time.perf_counter() - t0
        if seconds is not None:
            seconds[lf.name] = seconds.get(lf.name, 0.0) + dt
        if max_ms_per_row is not None and n >= MIN_BUDGET_ROWS and 1000 * dt / n > max_ms_per_row:
            raise LFError(
                f"LF {lf.name!r} took {1000 * dt / n:.3f} ms/row on a batch of {n} rows (first row "
                f"id {ids[0]!r}), over lfs.max_ms_per_row={max_ms_per_row}: vectorize it "
                "(@vectorized_lf / templates), cache its resources, or raise the limit"
            )


def _records(batch: Any, cols: set[str] | None, id_col: str, ids: list[Any]) -> list[Record]:
    """One :class:`Record` per row holding ``cols`` and the id (every column when ``cols`` is
    None), in the order ``RecordBatch.select(sorted(...)).to_pylist()`` gives.

    Each column is converted to Python objects once (``Array.to_pylist``, the id column's list is
    reused) and the records are built in one tight loop: per row one object and one dict, no
    per-row conversion calls.
    """
    src = batch if cols is None else batch.select(sorted(cols | {id_col}))
    # interned keys: an LF's ``x.text`` finds its field by identity (a specialised attribute load)
    names = [sys.intern(c) for c in src.schema.names]
    try:
        values = [ids if c == id_col else src.column(i).to_pylist() for i, c in enumerate(names)]
    except UnicodeDecodeError as e:
        raise _decode_error(src, ids, e) from e
    # No user code runs while the records are built: pausing the cyclic GC here only skips the
    # collections that n fresh objects would trigger (and that would find nothing).
    with _gc_paused():
        records = list(map(object.__new__, repeat(Record, len(ids))))
        if len(names) == 1:
            (k0,) = names
            for r, v0 in zip(records, values[0], strict=True):
                r.__dict__ = {k0: v0}
        elif len(names) == 2:
            k0, k1 = names
            for r, v0, v1 in zip(records, values[0], values[1], strict=True):
                r.__dict__ = {k0: v0, k1: v1}
        elif len(names) == 3:
            k0, k1, k2 = names
            for r, v0, v1, v2 in zip(records, *values, strict=True):
                r.__dict__ = {k0: v0, k1: v1, k2: v2}
        else:
            for r, row in zip(records, zip(*values, strict=True), strict=True):
                r.__dict__ = dict(zip(names, row, strict=True))
    return records


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector for a block that runs no user code."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _decode_error(batch: Any, ids: Sequence[Any], err: UnicodeDecodeError) -> DataError:
    """A :class:`DataError` naming the string column and the row id whose bytes are not UTF-8."""
    import pyarrow as pa

    for name in batch.schema.names:
        col = batch.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue
        raw = col.cast(pa.large_binary() if pa.types.is_large_string(col.type) else pa.binary())
        for i, value in enumerate(raw.to_pylist()):
            if value is None:
                continue
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                return DataError(
                    f"column {name!r} of row id {ids[i]!r} holds bytes that are not UTF-8 text "
                    f"({value[:40]!r}…: {err.reason}); fix the source, or decode it before the LFs "
                    "(e.g. read it as binary and decode with errors='replace')"
                )
    return DataError(f"a text column is not valid UTF-8: {err}")


def _run_row_lf(
    lf: LabelingFunction,
    records: list[Record],
    ids: Sequence[Any],
    k: int,
    on_error: OnError,
    errors: MutableMapping[str, int] | None,
) -> np.ndarray:
    try:
        with fast_field_access():  # a failing LF re-runs below with the record's own messages
            if lf.pre:
                raw = [lf(r) for r in records]
            elif lf.resources:
                f, res = lf.func, lf.resources
                raw = [f(r, **res) for r in records]
            else:
                raw = list(map(lf.func, records))
        return validate_votes(lf.name, raw, len(records), k, ids)
    except LF_FAILURES as first:
        if on_error == "raise" and isinstance(first, LFError):
            raise
    votes = np.full(len(records), ABSTAIN, np.int64)
    for i, r in enumerate(records):
        try:
            v = lf(r)
        except LF_FAILURES as e:
            if on_error == "raise":
                raise LFError(
                    f"LF {lf.name!r} raised {type(e).__name__}: {e} on row id {ids[i]!r}; fix "
                    "the LF or set lfs.on_error: abstain to count such failures as abstains"
                ) from e
            _count(errors, lf.name)
            continue
        if not _is_int(v) or not (ABSTAIN <= int(v) < k):
            if on_error == "raise":
                validate_votes(lf.name, np.asarray([v], dtype=object), 1, k, [ids[i]])
            _count(errors, lf.name)
            continue
        votes[i] = int(v)
    return votes


def _run_batch_lf(
    lf: LabelingFunction,
    batch: Any,
    ids: Sequence[Any],
    k: int,
    on_error: OnError,
    errors: MutableMapping[str, int] | None,
    pandas_cache: dict[tuple[str, ...] | None, Any],
) -> np.ndarray:
    n = batch.num_rows
    cols = lf.columns
    try:
        if lf.batch_format == "arrow":
            data = batch if cols is None else batch.select(list(cols))
        else:
            key = tuple(cols) if cols is not None else None
            if key not in pandas_cache:
                src = batch if cols is None else batch.select(list(cols))
                pandas_cache[key] = src.to_pandas()
            data = pandas_cache[key]
        raw = lf(data)
    except LF_FAILURES as e:
        if on_error == "raise" and isinstance(e, LFError):
            raise  # an LF's own error (a template's) already names the LF and the problem
        if on_error == "raise":
            raise LFError(
                f"batch LF {lf.name!r} raised {type(e).__name__}: {e} on a batch of {n} rows "
                f"(first row id {ids[0]!r}); fix the LF or set lfs.on_error: abstain"
            ) from e
        _count(errors, lf.name, n)
        return np.full(n, ABSTAIN, np.int64)
    if hasattr(raw, "to_numpy"):
        raw = raw.to_numpy(zero_copy_only=False) if _is_arrow(raw) else raw.to_numpy()
    if on_error == "raise":
        return validate_votes(lf.name, raw, n, k, ids)
    try:
        return validate_votes(lf.name, raw, n, k, ids)
    except LFError:
        arr = np.asarray(raw, dtype=object).reshape(-1)
        if arr.shape != (n,):
            _count(errors, lf.name, n)
            return np.full(n, ABSTAIN, np.int64)
        ok = np.array([_is_int(v) and ABSTAIN <= int(v) < k for v in arr], dtype=bool)
        _count(errors, lf.name, int((~ok).sum()))
        return np.where(ok, arr, ABSTAIN).astype(np.int64)


def _is_arrow(x: Any) -> bool:
    return type(x).__module__.startswith("pyarrow")


def _count(errors: MutableMapping[str, int] | None, name: str, by: int = 1) -> None:
    if errors is not None and by:
        errors[name] = errors.get(name, 0) + by


def apply_lfs_local(
    data: Any,
    lfs: Sequence[LabelingFunction],
    cardinality: int,
    id_col: str | None = None,
    on_error: OnError = "raise",
    batch_size: int = 65_536,
) -> np.ndarray:
    """Apply LFs to an in-memory table (pandas DataFrame or pyarrow Table) → (n, m) votes.

    Useful in notebooks and tests; the Spark path uses the same kernel per partition.
    """
    import pyarrow as pa

    lfs = check_unique_names(lfs)
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    if id_col is None:
        id_col = "__row__"
        table = table.append_column(id_col, pa.array(np.arange(table.num_rows)))
    check_columns(lfs, table.column_names)
    parts = [
        apply_lfs_to_batch(b, lfs, cardinality, id_col, on_error)
        for b in table.to_batches(max_chunksize=batch_size)
    ]
    if not parts:
        return np.empty((0, len(lfs)), dtype=vote_dtype(cardinality))
    return np.concatenate(parts, axis=0)
