"""Delta writer/reader on a real local SparkSession; tables checked with deltalake's reader."""

from __future__ import annotations

import datetime as dt_
import json
import math
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark import cloudpickle

from wsup_spark.errors import ConfigError, DataError, WriteError
from wsup_spark.io.base import jsonable, normalize_table_uri, run_tag
from wsup_spark.io.delta import (
    commit_history,
    read_arrow,
    read_table,
    table_files,
    table_version,
    write_table,
)
from wsup_spark.io.delta_rs import _validate
from wsup_spark.io.file_stats import FileStats

# Test-module classes and functions travel to Python workers by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.spark


class RowSumTap:
    """Counts rows and sums ids of the batches it sees."""

    def __init__(self) -> None:
        self.n = 0
        self.s = 0

    def update(self, batch: pa.RecordBatch) -> None:
        self.n += batch.num_rows
        self.s += sum(batch.column("id").to_pylist())

    def finish(self) -> bytes:
        return json.dumps([self.n, self.s]).encode()


def labels_df(spark, n: int, parts: int = 3, offset: int = 0, tag: str = "r"):
    """id long, votes array<tinyint>, probs array<double>, label string, over ``parts``."""
    from pyspark.sql import functions as F

    return spark.range(offset, offset + n, numPartitions=parts).select(
        F.col("id"),
        F.array((F.col("id") % 3 - 1).cast("tinyint"), F.lit(None).cast("tinyint")).alias("votes"),
        F.array((F.col("id") % 10) / 10.0, F.lit(1.0)).alias("probs"),
        F.when(F.col("id") % 7 == 0, None)
        .otherwise(F.concat(F.lit(tag), F.col("id")))
        .alias("label"),
    )


def delta_rows(path: str, version: int | None = None) -> int:
    """Row count from the Delta log alone (numRecords of the version's add actions)."""
    actions = pa.table(DeltaTable(path, version=version).get_add_actions(flatten=True))
    return int(sum(actions.column("num_records").to_pylist()))


def data_files(path: str) -> set[str]:
    return {f for f in os.listdir(path) if f.endswith(".parquet")}


def test_create_append_overwrite_versions_and_history(spark, tmp_path):
    path = str(tmp_path / "labels")
    r0 = write_table(labels_df(spark, 30), path, run_id="run-0", metadata={"stage": "labels"})
    assert (r0.version, r0.num_rows, r0.num_files, r0.writer) == (0, 30, 3, "delta-rs")
    assert r0.taps is None and r0.path == path
    r1 = write_table(labels_df(spark, 20, parts=2, offset=100), path, run_id="run-1")
    assert (r1.version, r1.num_rows, r1.num_files) == (1, 20, 2)
    assert (DeltaTable(path).version(), delta_rows(path), delta_rows(path, 0)) == (1, 50, 30)
    assert table_version(path) == 1
    assert sorted(os.path.basename(u) for u in table_files(path)) == sorted(r0.files + r1.files)

    r2 = write_table(labels_df(spark, 5, parts=1), path, run_id="run-2", mode="overwrite")
    assert (r2.version, delta_rows(path), read_arrow(path).num_rows) == (2, 5, 5)
    assert read_arrow(path, version=1).num_rows == 50  # time travel still works

    hist = commit_history(path)
    assert [h["version"] for h in hist] == [0, 1, 2]
    assert [h["run_id"] for h in hist] == ["run-0", "run-1", "run-2"]
    assert hist[0]["metadata"] == {"stage": "labels", "run_id": "run-0", "writer": "delta-rs"}
    assert hist[0]["operation"] == "CREATE TABLE" and hist[2]["operation"] == "WRITE"
    raw = DeltaTable(path).history()  # what any Delta reader sees
    assert {h["wsup_run_id"] for h in raw} == {"run-0", "run-1", "run-2"}
    assert json.loads(raw[0]["userMetadata"])["run_id"] == "run-2"


def test_schema_round_trip_and_read_back(spark, tmp_path):
    path = str(tmp_path / "votes")
    df = labels_df(spark, 40, parts=4)
    write_table(df, path, run_id="r")
    fields = json.loads(DeltaTable(path).schema().to_json())["fields"]
    assert [(f["name"], f["type"]) for f in fields] == [
        ("id", "long"),
        ("votes", {"type": "array", "elementType": "byte", "containsNull": True}),
        ("probs", {"type": "array", "elementType": "double", "containsNull": True}),
        ("label", "string"),
    ]
    tbl = read_arrow(path)
    assert tbl.schema.types == [
        pa.int64(),
        pa.list_(pa.int8()),
        pa.list_(pa.float64()),
        pa.string(),
    ]
    expected = sorted(tuple(r) for r in df.collect())
    back = read_table(spark, path)
    assert [(f.name, f.dataType) for f in back.schema] == [(f.name, f.dataType) for f in df.schema]
    assert sorted(tuple(r) for r in back.collect()) == expected
    rows = sorted(zip(*(tbl.column(c).to_pylist() for c in tbl.column_names), strict=True))
    assert [(a, b, c, d) for a, b, c, d in rows] == [
        (r[0], list(r[1]), list(r[2]), r[3]) for r in expected
    ]
    # Delta stats: record counts, null counts and id bounds per file
    actions = pa.table(DeltaTable(path).get_add_actions(flatten=True)).to_pylist()
    assert sum(a["num_records"] for a in actions) == 40
    assert min(a["min.id"] for a in actions) == 0 and max(a["max.id"] for a in actions) == 39
    assert sum(a["null_count.label"] for a in actions) == 6  # ids 0, 7, ..., 35


def test_other_spark_types_round_trip(spark, tmp_path):
    from pyspark.sql import functions as F

    df = spark.range(6, numPartitions=2).select(
        "id",
        F.timestamp_seconds("id").alias("ts"),
        F.to_timestamp_ntz(F.lit("2024-01-01 10:00:00")).alias("ntz"),
        F.date_add(F.to_date(F.lit("2024-02-03")), F.col("id").cast("int")).alias("d"),
        F.lit(1.5).cast("decimal(10,2)").alias("dec"),
        F.struct(F.col("id").cast("int").alias("a"), F.lit("x").alias("b")).alias("st"),
        F.create_map(F.lit("k"), F.col("id") / 2).alias("mp"),
        (F.col("id") % 2 == 0).alias("flag"),
    )
    path = str(tmp_path / "t")
    write_table(df, path, run_id="r")
    assert "timestampNtz" in (DeltaTable(path).protocol().reader_features or [])
    back = read_table(spark, path)
    assert back.schema.simpleString() == df.schema.simpleString()  # all nullable in Delta
    assert sorted(back.collect()) == sorted(df.collect())
    actions = pa.table(DeltaTable(path).get_add_actions(flatten=True)).to_pylist()
    assert sorted(str(a["min.d"]) for a in actions) == ["2024-02-03", "2024-02-06"]


def test_failed_job_commits_nothing_and_removes_its_files(spark, tmp_path):
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    path = str(tmp_path / "t")
    write_table(labels_df(spark, 20, parts=2), path, run_id="good")
    before_files = data_files(path)

    def fail_in_last_partition(x):
        from pyspark import TaskContext

        if TaskContext.get().partitionId() == 3:
            time.sleep(1.0)  # let the other partitions finish writing their files first
            raise ValueError("boom in partition 3")
        return x

    boom = F.udf(fail_in_last_partition, LongType())
    bad = labels_df(spark, 40, parts=4, offset=1000).withColumn("id", boom("id"))
    with pytest.raises(
        WriteError, match=r"stays at version 0.*ValueError: boom in partition 3"
    ) as e:
        write_table(bad, path, run_id="bad")
    removed = int(str(e.value).split("removed ")[1].split(" ")[0])
    assert removed >= 1  # partitions 0-2 had written files before partition 3 failed
    assert DeltaTable(path).version() == 0 and delta_rows(path) == 20
    assert data_files(path) == before_files  # nothing left behind
    assert sorted(read_arrow(path).column("id").to_pylist()) == list(range(20))
    assert DeltaTable(path).transaction_version("wsup_spark:bad") is None


def test_rerun_same_run_id_replaces_its_rows(spark, tmp_path):
    path = str(tmp_path / "t")
    write_table(labels_df(spark, 30, tag="a"), path, run_id="daily")
    write_table(labels_df(spark, 10, parts=1, offset=500, tag="b"), path, run_id="other")
    again = write_table(labels_df(spark, 25, parts=2, tag="c"), path, run_id="daily")
    assert again.version == 2 and len(again.removed_files) == 3
    assert delta_rows(path) == 35
    labels = read_arrow(path).column("label").to_pylist()
    assert sum(1 for s in labels if s and s.startswith("a")) == 0  # first attempt fully replaced
    assert sum(1 for s in labels if s and s.startswith("c")) == 25 - 4  # ids 0,7,14,21 are null
    assert sum(1 for s in labels if s and s.startswith("b")) == 9  # 504 is null
    dtab = DeltaTable(path)
    assert dtab.transaction_version("wsup_spark:daily") is not None
    current = {os.path.basename(u) for u in dtab.file_uris()}
    assert set(again.files) <= current and not set(again.removed_files) & current
    assert len(commit_history(path)) == 3


def test_taps_one_per_non_empty_partition(spark, tmp_path):
    from pyspark.sql import functions as F

    df = labels_df(spark, 40, parts=4).where(F.col("id") >= 10)  # partition 0 is now empty
    assert df.rdd.getNumPartitions() == 4
    res = write_table(df, str(tmp_path / "t"), run_id="r", tap_factory=RowSumTap)
    assert res.taps is not None and len(res.taps) == 3 == res.num_files
    parts = [json.loads(t) for t in res.taps]
    assert [n for n, _ in parts] == [10, 10, 10]
    assert sum(s for _, s in parts) == sum(range(10, 40))


def _double_ids(batches):
    for b in batches:
        ids = b.column("id")
        yield pa.RecordBatch.from_arrays([ids, pa.compute.multiply(ids, 2)], names=["id", "twice"])


def test_fused_transform_writes_what_mapinarrow_would(spark, tmp_path):
    """A BatchTransform runs inside the write tasks: same rows and schema as writing
    ``df.mapInArrow(fn, schema)``, taps see the transformed batches, one Spark stage."""
    from wsup_spark.io.base import BatchTransform

    df = labels_df(spark, 50, parts=3).select("id")
    from pyspark.sql.types import LongType, StructField, StructType

    schema = StructType([StructField("id", LongType()), StructField("twice", LongType())])
    t = BatchTransform(_double_ids, schema)
    fused = write_table(df, str(tmp_path / "f"), run_id="r", transform=t, tap_factory=RowSumTap)
    plain = write_table(df.mapInArrow(t.fn, t.schema), str(tmp_path / "p"), run_id="r")
    a, b = (read_arrow(str(tmp_path / x)).sort_by("id") for x in ("f", "p"))
    assert a.equals(b) and a.column_names == ["id", "twice"] and fused.num_rows == 50
    assert a.column("twice").to_pylist() == [2 * i for i in range(50)] and plain.num_files == 3
    assert sum(json.loads(x)[0] for x in fused.taps) == 50


def test_empty_dataframe_creates_an_empty_table(spark, tmp_path):
    path = str(tmp_path / "empty")
    res = write_table(labels_df(spark, 0, parts=2), path, run_id="r", tap_factory=RowSumTap)
    assert (res.version, res.num_rows, res.num_files, res.taps) == (0, 0, 0, [])
    assert DeltaTable(path).file_uris() == [] and read_arrow(path).num_rows == 0
    back = read_table(spark, path)
    assert back.count() == 0 and back.columns == ["id", "votes", "probs", "label"]


def test_schema_checks_and_overwrite_changes_schema(spark, tmp_path):
    from pyspark.sql import functions as F

    path = str(tmp_path / "t")
    write_table(labels_df(spark, 10, parts=1), path, run_id="r0")
    other = spark.range(5).select(F.col("id").cast("int").alias("id"), F.lit("x").alias("z"))
    with pytest.raises(DataError, match=r"only in the DataFrame: \[z\].*id: table int64"):
        write_table(other, path, run_id="r1")
    assert DeltaTable(path).version() == 0 and len(data_files(path)) == 1  # refused before writing
    res = write_table(other, path, run_id="r1", mode="overwrite")
    assert res.version == 1
    assert [f.name for f in read_arrow(path).schema] == ["id", "z"]
    assert read_arrow(path).schema.field("id").type == pa.int32()


def test_argument_errors(spark, tmp_path):
    df = spark.range(3)
    path = str(tmp_path / "t")
    with pytest.raises(ConfigError, match="mode='upsert'"):
        write_table(df, path, run_id="r", mode="upsert")
    with pytest.raises(ConfigError, match="writer='hive'"):
        write_table(df, path, run_id="r", writer="hive")
    with pytest.raises(ConfigError, match="run_id must be"):
        write_table(df, path, run_id="")
    with pytest.raises(ConfigError, match="tap_factory is not supported"):
        write_table(df, path, run_id="r", writer="spark", tap_factory=RowSumTap)
    with pytest.raises(ConfigError, match=r"metadata\['bad'\] is a object"):
        write_table(df, path, run_id="r", metadata={"bad": object()})
    with pytest.raises(DataError, match="may not contain"):
        write_table(df.withColumnRenamed("id", "my id"), path, run_id="r")
    with pytest.raises(DataError, match="case-insensitive"):
        write_table(df.selectExpr("id", "id AS ID"), path, run_id="r")
    with pytest.raises(DataError, match="not a Delta table"):
        read_arrow(str(tmp_path / "nope"))
    assert not os.path.exists(path)


def test_commit_metadata_values_are_json(spark, tmp_path):
    import numpy as np

    path = str(tmp_path / "t")
    meta = {"metrics": {"acc": np.float64(0.5), "f1": float("nan")}, "lfs": ["a", "b"], "k": 2}
    write_table(spark.range(4, numPartitions=1), path, run_id="r", metadata=meta)
    (entry,) = commit_history(path)
    assert entry["metadata"]["metrics"] == {"acc": 0.5, "f1": None}
    assert entry["metadata"]["lfs"] == ["a", "b"] and entry["metadata"]["k"] == 2
    with pytest.raises(DataError, match="cannot load version 5"):
        read_table(spark, path, version=5)


# ----------------------------------------------------------------------------- no Spark needed


def test_validate_refuses_missing_or_foreign_files(tmp_path):
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64())}), tmp_path / "f.parquet")
    schema = pa.schema([pa.field("id", pa.int64())])
    row = {"path": "f.parquet", "size": os.path.getsize(tmp_path / "f.parquet"), "num_rows": 2,
           "partition_id": 0}  # fmt: skip
    _validate(str(tmp_path), [row], schema)  # fine
    with pytest.raises(WriteError, match="missing"):
        _validate(str(tmp_path), [{**row, "path": "gone.parquet"}], schema)
    with pytest.raises(WriteError, match="bytes"):
        _validate(str(tmp_path), [{**row, "size": 1}], schema)
    with pytest.raises(WriteError, match="schema"):
        _validate(str(tmp_path), [row], pa.schema([pa.field("id", pa.string())]))


def test_file_stats_bounds_are_safe():
    b = pa.record_batch(
        {
            "i": pa.array([5, None, -2], pa.int8()),
            "f": pa.array([1.0, math.nan, 2.0]),
            "g": pa.array([0.5, None, 1.5]),
            "s": pa.array(["b", "a" * 40, "c"]),
            "t": pa.array(["y", "x", None]),
            "d": pa.array([dt_.date(2024, 1, 2), dt_.date(2023, 5, 1), None]),
            "v": pa.array([[1], None, [2]], pa.list_(pa.int8())),
        }
    )
    st = FileStats(b.schema)
    st.update(b)
    st.update(b.slice(0, 1))
    d = json.loads(st.to_json())
    assert d["numRecords"] == 4
    assert d["nullCount"] == {"i": 1, "f": 0, "g": 1, "s": 0, "t": 1, "d": 1}
    assert d["minValues"] == {"i": -2, "g": 0.5, "t": "x", "d": "2023-05-01"}
    assert d["maxValues"] == {"i": 5, "g": 1.5, "t": "y", "d": "2024-01-02"}


def test_helpers():
    assert normalize_table_uri("file:///a/b/") == "/a/b"
    assert normalize_table_uri("gs://b/t/") == "gs://b/t"
    assert run_tag("a/b") != run_tag("a_b")
    assert jsonable((1, float("inf"))) == [1, None]


def _with_run(df, run_id: str):
    from pyspark.sql import functions as F

    return df.withColumn("run_id", F.lit(run_id))


def test_rerun_finds_a_runs_files_by_run_id_statistics_after_compaction(spark, tmp_path):
    """Files another writer made (compaction, Spark's Delta writer) carry no run tag in their
    name: a run's files are found by the run_id column's min/max; a file mixing runs is refused."""
    path = str(tmp_path / "t")
    write_table(_with_run(labels_df(spark, 30, tag="a"), "a"), path, run_id="a", mode="append")
    DeltaTable(path).optimize.compact()  # one file named by delta-rs, run_id min = max = "a"
    assert not any(
        f.startswith("part-" + run_tag("a"))
        for f in data_files(path)
        if f in {os.path.basename(u) for u in DeltaTable(path).file_uris()}
    )
    write_table(_with_run(labels_df(spark, 5, tag="c"), "a"), path, run_id="a", mode="append")
    assert delta_rows(path) == 5, "the compacted file of run a was replaced, not kept"
    write_table(_with_run(labels_df(spark, 4, offset=100, tag="b"), "b"), path, run_id="b",
                mode="append")  # fmt: skip
    DeltaTable(path).optimize.compact()  # now one file holds runs a and b
    version = DeltaTable(path).version()
    with pytest.raises(DataError, match=r"holds rows of several runs \('a' \.\. 'b'\)"):
        write_table(_with_run(labels_df(spark, 3, tag="d"), "a"), path, run_id="a",
                    mode="append")  # fmt: skip
    assert DeltaTable(path).version() == version and delta_rows(path) == 9


def test_a_deleted_data_file_is_one_clear_error(spark, tmp_path):
    path = str(tmp_path / "t")
    write_table(labels_df(spark, 30), path, run_id="r")
    victim = sorted(data_files(path))[0]
    os.remove(os.path.join(path, victim))
    for read in (lambda: read_table(spark, path), lambda: read_arrow(path)):
        with pytest.raises(DataError, match=rf"version 0 references 1 data file.*{victim}"):
            read()
