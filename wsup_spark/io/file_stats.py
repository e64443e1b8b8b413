"""Delta per-file statistics (``numRecords``, ``nullCount``, ``minValues``, ``maxValues``).

Readers skip files using these statistics, so a wrong bound silently drops rows. Only bounds that
are exact and cheap are written: integers, floats without NaN, dates, and strings of at most
:data:`MAX_STRING_STAT_LENGTH` characters. Timestamps, decimals, booleans and binary get a null
count only; nested columns (lists, structs, maps) get nothing. A missing bound only means a reader
cannot skip the file on that column.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

MAX_STRING_STAT_LENGTH = 32


def _kind(t: pa.DataType) -> str | None:
    """'int' | 'float' | 'str' | 'date' for min/max columns, 'count' for null count only."""
    if pa.types.is_nested(t):
        return None
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    if pa.types.is_date32(t):
        return "date"
    return "count"


class FileStats:
    """Accumulates Delta statistics over the record batches written into one data file.

    Parameters
    ----------
    schema : pyarrow.Schema
        Schema of the batches passed to :meth:`update`.

    Examples
    --------
    >>> b = pa.record_batch({"id": pa.array([3, 1, None]), "s": pa.array(["b", "a", "c"])})
    >>> st = FileStats(b.schema)
    >>> st.update(b)
    >>> json.loads(st.to_json())["minValues"]
    {'id': 1, 's': 'a'}
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.num_records = 0
        self._cols: list[tuple[int, str, str]] = []
        for i, f in enumerate(schema):
            kind = _kind(f.type)
            if kind is not None:
                self._cols.append((i, f.name, kind))
        self._nulls: dict[str, int] = {name: 0 for _, name, _ in self._cols}
        self._min: dict[str, Any] = {}
        self._max: dict[str, Any] = {}
        self._no_bounds: set[str] = set()

    def update(self, batch: pa.RecordBatch) -> None:
        """Add one batch's rows to the statistics."""
        self.num_records += batch.num_rows
        for i, name, kind in self._cols:
            col = batch.column(i)
            self._nulls[name] += col.null_count
            if kind == "count" or name in self._no_bounds or col.null_count == len(col):
                continue
            if kind == "float" and pc.any(pc.is_nan(col)).as_py():
                self._no_bounds.add(name)  # Spark orders NaN above every number
                continue
            mm = pc.min_max(col)
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if kind == "float" and not (math.isfinite(lo) and math.isfinite(hi)):
                self._no_bounds.add(name)
                continue
            if name in self._min:
                lo, hi = min(lo, self._min[name]), max(hi, self._max[name])
            self._min[name], self._max[name] = lo, hi

    def to_dict(self) -> dict[str, Any]:
        """The statistics as the dict Delta stores (JSON-ready)."""
        mins: dict[str, Any] = {}
        maxs: dict[str, Any] = {}
        kinds = {name: kind for _, name, kind in self._cols}
        for name, lo in self._min.items():
            if name in self._no_bounds:
                continue
            hi = self._max[name]
            if kinds[name] == "str" and max(len(lo), len(hi)) > MAX_STRING_STAT_LENGTH:
                continue
            if kinds[name] == "date":
                lo, hi = lo.isoformat(), hi.isoformat()
            mins[name], maxs[name] = lo, hi
        out: dict[str, Any] = {"numRecords": self.num_records}
        if self._nulls:
            out["nullCount"] = dict(self._nulls)
        if mins:
            out["minValues"], out["maxValues"] = mins, maxs
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as the JSON string of a Delta ``add`` action's ``stats`` field."""
        return json.dumps(self.to_dict(), allow_nan=False, separators=(",", ":"))
