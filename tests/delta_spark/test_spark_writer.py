"""``write_table(writer="spark")`` on real Delta jars: commits, reruns, failures, time travel, and
tables shared with the delta-rs writer (in the same session)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("delta", reason="delta-spark is not installed (scripts/delta_spark/setup.sh)")

from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from wsup_spark.errors import DataError, WriteError
from wsup_spark.io import commit_history, read_arrow, read_table, table_version, write_table

#: The Delta ``txn`` appId both writers record per run (the on-disk marker, not an API).
APP_PREFIX = "wsup_spark:"


def _rows(spark: Any, n: int, run_id: str, start: int = 0) -> Any:
    return spark.range(start, start + n, numPartitions=2).select(
        F.col("id"),
        F.concat(F.lit("text "), F.col("id").cast("string")).alias("text"),
        F.lit(run_id).alias("run_id"),
    )


def _history(spark: Any, path: Path) -> list[Any]:
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").collect()


def _count_by_run(spark: Any, path: Path) -> dict[str, int]:
    df = spark.read.format("delta").load(str(path)).groupBy("run_id").count()
    return {r["run_id"]: r["count"] for r in df.collect()}


def test_commit_records_run_metadata_and_txn(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "t"
    res = write_table(_rows(spark, 10, "r1"), str(path), run_id="r1", mode="overwrite",
                      metadata={"stage": "votes", "n": 3}, writer="spark")  # fmt: skip
    assert (res.writer, res.version, res.num_rows, res.taps) == ("spark", 0, 10, None)
    assert res.num_files >= 1
    (commit,) = _history(spark, path)
    meta = json.loads(commit["userMetadata"])
    assert meta == {"stage": "votes", "n": 3, "run_id": "r1", "writer": "spark"}
    engine = commit["engineInfo"]
    assert engine.startswith("Apache-Spark/") and "Delta-Lake/" in engine
    (info,) = commit_history(str(path))  # deltalake's view of the same commit
    assert info["run_id"] == "r1" and info["metadata"] == meta
    assert DeltaTable(str(path)).transaction_version(APP_PREFIX + "r1") is not None


def test_rerun_append_replaces_the_runs_rows_and_txn_grows(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(_rows(spark, 10, "r1"), path, run_id="r1", mode="append", writer="spark")
    write_table(_rows(spark, 5, "r2", 100), path, run_id="r2", mode="append", writer="spark")
    txn1 = DeltaTable(path).transaction_version(APP_PREFIX + "r1")
    res = write_table(_rows(spark, 7, "r1", 200), path, run_id="r1", mode="append", writer="spark")
    res2 = write_table(_rows(spark, 7, "r1", 200), path, run_id="r1", mode="append", writer="spark")
    assert (res.version, res2.version) == (2, 3)  # back-to-back reruns: neither skipped by txn
    assert res.num_rows == 7
    assert _count_by_run(spark, tmp_path / "t") == {"r1": 7, "r2": 5}
    ids = sorted(r["id"] for r in read_table(spark, path).where("run_id = 'r1'").collect())
    assert ids == list(range(200, 207))  # the rerun's rows, not the first attempt's
    txn2 = DeltaTable(path).transaction_version(APP_PREFIX + "r1")
    assert txn1 is not None and txn2 is not None and txn2 > txn1
    assert read_table(spark, path, version=1).count() == 15  # time travel to before the rerun
    assert read_arrow(path).num_rows == 12  # deltalake reads the replaceWhere commits too


def test_failed_job_keeps_the_previous_version(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(_rows(spark, 20, "r1"), path, run_id="r1", mode="overwrite", writer="spark")

    def boom(i: int) -> int:
        if i == 115:
            raise ValueError("row 115 is bad")
        return i

    bad = _rows(spark, 20, "r2", 100).withColumn("id", F.udf(lambda i: boom(i), LongType())("id"))
    with pytest.raises(WriteError, match=r"nothing was committed.*row 115 is bad"):
        write_table(bad, path, run_id="r2", mode="append", writer="spark")
    assert table_version(path) == 0 and len(_history(spark, tmp_path / "t")) == 1
    assert read_arrow(path).num_rows == 20 and read_table(spark, path).count() == 20
    fresh = str(tmp_path / "fresh")
    with pytest.raises(WriteError, match="did not exist"):
        write_table(bad, fresh, run_id="r2", mode="overwrite", writer="spark")
    assert not DeltaTable.is_deltatable(fresh)


def test_append_with_another_schema_is_refused_before_writing(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(_rows(spark, 4, "r1"), path, run_id="r1", mode="overwrite", writer="spark")
    other = _rows(spark, 4, "r2").withColumn("id", F.col("id").cast("int"))
    with pytest.raises(DataError, match=r"id: bigint in the table, int given"):
        write_table(other, path, run_id="r2", mode="append", writer="spark")
    extra = _rows(spark, 4, "r2").withColumn("score", F.lit(0.5))
    with pytest.raises(DataError, match="extra score"):
        write_table(extra, path, run_id="r2", mode="append", writer="spark")
    assert table_version(path) == 0
    res = write_table(extra, path, run_id="r2", mode="overwrite", writer="spark")
    assert res.version == 1 and read_table(spark, path).columns == ["id", "text", "run_id", "score"]


def test_time_travel_version_and_timestamp_as_of_by_run_id(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "t"
    for i, n in enumerate((3, 4, 5)):
        write_table(_rows(spark, n, f"r{i}", 10 * i), str(path), run_id=f"r{i}", mode="append",
                    writer="spark")  # fmt: skip
    by_run = {c["run_id"]: c for c in commit_history(str(path))}
    v1 = by_run["r1"]["version"]
    sql = f"SELECT count(*) AS n FROM delta.`{path}` VERSION AS OF {v1}"
    assert spark.sql(sql).collect()[0]["n"] == 7
    ts = _history(spark, path)[v1]["timestamp"]
    sql = f"SELECT count(*) AS n FROM delta.`{path}` TIMESTAMP AS OF '{ts}'"
    assert spark.sql(sql).collect()[0]["n"] == 7
    assert read_table(spark, str(path), version=0).count() == 3
    assert read_arrow(str(path), version=v1).num_rows == 7


def test_tables_are_shared_between_the_writers(spark: Any, tmp_path: Path) -> None:
    rs_first, spark_first = str(tmp_path / "rs_first"), str(tmp_path / "spark_first")
    write_table(_rows(spark, 6, "a"), rs_first, run_id="a", mode="append", writer="delta-rs")
    write_table(_rows(spark, 4, "b", 50), rs_first, run_id="b", mode="append", writer="spark")
    write_table(_rows(spark, 6, "a"), spark_first, run_id="a", mode="append", writer="spark")
    write_table(_rows(spark, 4, "b", 50), spark_first, run_id="b", mode="append",
                writer="delta-rs")  # fmt: skip
    for path in (rs_first, spark_first):
        assert _count_by_run(spark, Path(path)) == {"a": 6, "b": 4}  # Spark's Delta reader
        arrow = read_arrow(path)  # deltalake resolves the files, pyarrow reads them
        assert arrow.num_rows == 10 and arrow.column_names == ["id", "text", "run_id"]
        assert sorted(arrow.column("id").to_pylist()) == [*range(6), *range(50, 54)]
        assert table_version(path) == 1
        writers = [c["metadata"]["writer"] for c in commit_history(path)]
        assert sorted(writers) == ["delta-rs", "spark"]
    # a Spark rerun of a run the delta-rs writer wrote replaces its rows (replaceWhere on run_id)
    write_table(_rows(spark, 2, "a", 90), rs_first, run_id="a", mode="append", writer="spark")
    assert _count_by_run(spark, Path(rs_first)) == {"a": 2, "b": 4}
    assert read_arrow(rs_first).num_rows == 6


def test_delta_rs_rerun_of_a_run_spark_wrote_replaces_its_rows(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(_rows(spark, 6, "a"), path, run_id="a", mode="append", writer="spark")
    write_table(_rows(spark, 2, "a", 90), path, run_id="a", mode="append", writer="delta-rs")
    assert _count_by_run(spark, Path(path)) == {"a": 2}


def test_merge_and_optimize_zorder_keep_the_table_readable(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "labels"
    write_table(_rows(spark, 40, "r1"), str(path), run_id="r1", mode="overwrite", writer="spark")
    _rows(spark, 10, "r2", 35).createOrReplaceTempView("relabeled")  # ids 35..44: 5 old, 5 new
    spark.sql(
        f"MERGE INTO delta.`{path}` t USING relabeled s ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )
    assert _count_by_run(spark, path) == {"r1": 35, "r2": 10}
    spark.sql(f"OPTIMIZE delta.`{path}` ZORDER BY (id)")
    ops = [r["operation"] for r in _history(spark, path)]
    assert len(ops) == 3 and ops[1:] == ["MERGE", "OPTIMIZE"]
    arrow = read_arrow(str(path))  # deltalake + pyarrow see the merged, compacted table
    assert arrow.num_rows == 45 and sorted(arrow.column("id").to_pylist()) == list(range(45))
    assert len(DeltaTable(str(path)).file_uris()) == 1
