"""Delta/Parquet sinks and sources.

Public API (imported lazily, so ``import wsup_spark.io`` pulls in neither pyarrow nor pyspark)::

    from wsup_spark.io import (write_table, read_table, read_arrow, table_version, table_files,
                               commit_history, WriteResult, Tap)
"""

from __future__ import annotations

from wsup_spark._lazy import lazy_getattr

_LAZY = {
    "Tap": "wsup_spark.io.base",
    "WriteResult": "wsup_spark.io.base",
    "commit_history": "wsup_spark.io.delta",
    "read_arrow": "wsup_spark.io.delta",
    "read_table": "wsup_spark.io.delta",
    "table_files": "wsup_spark.io.delta",
    "table_version": "wsup_spark.io.delta",
    "write_table": "wsup_spark.io.delta",
}


__getattr__ = lazy_getattr("wsup_spark.io", _LAZY)


__all__ = sorted(_LAZY)
