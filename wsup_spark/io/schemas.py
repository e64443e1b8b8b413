"""Schema conversions between Spark, Arrow and Delta for the Delta writers and readers.

Delta tables written here have every column nullable, as Spark's own Delta writer does: a
DataFrame's nullability flags change with harmless rewrites (a join, a literal column), and a
table whose schema flips on them would refuse appends for no reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from wsup_spark.errors import DataError

logger = logging.getLogger(__name__)


#: Characters Delta forbids in column names unless the table uses column mapping.
INVALID_NAME_CHARS = " ,;{}()\n\t="


def check_column_names(names: Sequence[str], table: str) -> None:
    """Refuse column names Delta cannot store (without column mapping) or that collide.

    >>> check_column_names(["id", "votes"], "t")
    >>> check_column_names(["id", "my col"], "t")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wsup_spark.errors.DataError: column 'my col' cannot be written to Delta table t: ...
    """
    seen: dict[str, str] = {}
    for name in names:
        bad = sorted({c for c in name if c in INVALID_NAME_CHARS})
        if bad:
            raise DataError(
                f"column {name!r} cannot be written to Delta table {table}: Delta column names "
                f"may not contain {bad!r}; rename it (df.withColumnRenamed)"
            )
        low = name.lower()
        if low in seen:
            raise DataError(
                f"columns {seen[low]!r} and {name!r} collide in Delta table {table} (Delta "
                "column names are case-insensitive); rename or drop one"
            )
        seen[low] = name


def spark_to_arrow_schema(spark_schema: Any, timezone: str = "UTC") -> pa.Schema:
    """Arrow schema of a Spark ``StructType`` (timestamps as ``timestamp[us, tz]``).

    Parameters
    ----------
    spark_schema : pyspark.sql.types.StructType
        ``df.schema``.
    timezone : str
        Time zone written into timestamp types; Delta stores instants, so any zone works.
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    try:
        return to_arrow_schema(spark_schema, timezone=timezone)
    except TypeError:  # pyspark < 4 has no timezone argument
        return to_arrow_schema(spark_schema)


def arrow_to_spark_schema(schema: pa.Schema) -> Any:
    """Spark ``StructType`` of an Arrow schema (the reverse of :func:`spark_to_arrow_schema`)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def nullable_type(t: pa.DataType) -> pa.DataType:
    """``t`` with every nested field (list items, struct fields, map values) nullable."""
    if pa.types.is_large_list(t):
        return pa.large_list(_nullable_field(t.value_field))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(_nullable_field(t.value_field), t.list_size)
    if pa.types.is_list(t):
        return pa.list_(_nullable_field(t.value_field))
    if pa.types.is_map(t):
        return pa.map_(t.key_type, nullable_type(t.item_type))
    if pa.types.is_struct(t):
        return pa.struct([_nullable_field(t.field(i)) for i in range(t.num_fields)])
    return t


def _nullable_field(f: pa.Field) -> pa.Field:
    return pa.field(f.name, nullable_type(f.type), nullable=True)


def nullable_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every field, at every depth, nullable and no schema metadata."""
    return pa.schema([_nullable_field(f) for f in schema])


def delta_schema(schema: pa.Schema) -> Any:
    """``deltalake.Schema`` of an Arrow schema (large/view types map to the same Delta type)."""
    from deltalake import Schema

    return Schema.from_arrow(schema)


def delta_schema_json(schema: Any) -> str:
    """Canonical JSON of a ``deltalake.Schema`` or an Arrow schema, for equality checks."""
    if isinstance(schema, pa.Schema):
        schema = delta_schema(schema)
    return str(schema.to_json())


def table_arrow_schema(dt: Any) -> pa.Schema:
    """Arrow schema of a ``deltalake.DeltaTable`` (plain, not large, string/list types)."""
    return pa.schema(dt.schema().to_arrow())


def describe_schema_difference(table: pa.Schema, data: pa.Schema) -> str:
    """One line naming the columns that differ between a table's and a DataFrame's schema.

    >>> a = pa.schema([("id", pa.int64()), ("x", pa.float64())])
    >>> b = pa.schema([("id", pa.int64()), ("x", pa.float32()), ("y", pa.string())])
    >>> describe_schema_difference(a, b)
    'only in the DataFrame: [y]; type differs: [x: table double, DataFrame float]'
    """
    t = {f.name: f.type for f in table}
    d = {f.name: f.type for f in data}
    parts = []
    only_t = [n for n in t if n not in d]
    only_d = [n for n in d if n not in t]
    if only_t:
        parts.append(f"only in the table: [{', '.join(only_t)}]")
    if only_d:
        parts.append(f"only in the DataFrame: [{', '.join(only_d)}]")
    differ = [
        f"{n}: table {t[n]}, DataFrame {d[n]}"
        for n in t
        if n in d
        and delta_schema_json(pa.schema([(n, t[n])])) != delta_schema_json(pa.schema([(n, d[n])]))
    ]
    if differ:
        parts.append(f"type differs: [{'; '.join(differ)}]")
    if not parts and list(t) != list(d):
        parts.append(f"column order differs: table {list(t)}, DataFrame {list(d)}")
    return "; ".join(parts) or "no difference"
