"""``augment_table(read="files")``: the write tasks read the Delta table's Parquet files
themselves; the output equals Spark's own scan, row for row."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from augment_helpers import TEXTS, blobs
from pyspark import cloudpickle

from wsup_spark.augment import vectorized_tf
from wsup_spark.augment.direct import FileScan, conform_batch, pack_units, plan_scan
from wsup_spark.augment.images import IMAGE_TFS
from wsup_spark.augment.policy import Policy
from wsup_spark.augment.spark import augment_table, encode_uint8_images
from wsup_spark.augment.text import number_sub, random_delete, random_swap, typo
from wsup_spark.errors import ConfigError, DataError, WriteError

TEXT_TFS4 = [random_swap, random_delete, number_sub, typo]

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the TF below runs on workers


@vectorized_tf()  # type: ignore[untyped-decorator]
def scale_vec(xs: np.ndarray, rand: Any, strength: np.ndarray) -> np.ndarray:
    """Flat vectors (n, d) scaled by a per-row factor in [1, 1 + strength]."""
    return xs * (1 + strength[:, None] * rand.uniform()[:, None])


def test_pack_units_balances_bytes_deterministically() -> None:
    sizes = [10, 1, 1, 1, 7, 3, 2]
    groups = pack_units(sizes, 2)
    assert sorted(i for g in groups for i in g) == list(range(len(sizes)))
    loads = [sum(sizes[i] for i in g) for g in groups]
    assert sorted(loads) == [12, 13]
    assert pack_units(sizes, 2) == groups
    assert len(pack_units(sizes, 50)) == len(sizes)
    assert pack_units([], 4) == []
    with pytest.raises(ConfigError, match="tasks=0"):
        pack_units(sizes, 0)


def test_plan_scan_splits_row_groups_and_reads_each_row_once(tmp_path: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tbl = pa.table({"id": pa.array(range(20), pa.int64()), "text": [f"t{i}" for i in range(20)]})
    f = tmp_path / "one.parquet"
    pq.write_table(tbl, f, row_group_size=5)
    plan = plan_scan([f"file://{f}"], [f.stat().st_size], 2)
    assert len(plan) == 2 and all(u.row_groups is not None for g in plan for u in g)
    assert sorted(g for t in plan for u in t for g in u.row_groups or ()) == [0, 1, 2, 3]
    schema = pa.schema([("text", pa.string()), ("id", pa.int64()), ("extra", pa.float64())])
    scan = FileScan(tuple(tuple(t) for t in plan), schema, batch_rows=3, fn=lambda b: b)
    got = [b for t in range(len(plan)) for b in scan.read(t)]
    assert all(b.schema.equals(schema) for b in got)
    ids = sorted(i for b in got for i in b.column("id").to_pylist())
    assert ids == list(range(20))
    assert all(b.column("extra").null_count == b.num_rows for b in got)
    # a file with fewer tasks than files keeps whole files
    assert [[u.row_groups for u in t] for t in plan_scan(["a", "b", "c"], [3, 2, 1], 2)] == [
        [None],
        [None, None],
    ]


def test_conform_batch_names_the_column_that_cannot_cast() -> None:
    import pyarrow as pa

    b = pa.RecordBatch.from_pydict({"id": ["x"]})
    with pytest.raises(DataError, match="column 'id' of f.parquet"):
        conform_batch(b, pa.schema([("id", pa.int64())]), "f.parquet")


def _image_table(path: str, parts: int = 3) -> np.ndarray:
    """A Delta table of binary 8x8 images in ``parts`` appends (files); the last append adds a
    column (schema evolution: the earlier files lack it). Returns the uint8 images."""
    import pyarrow as pa
    from deltalake import write_deltalake

    u8 = encode_uint8_images(blobs(30, seed=3))
    for p, rows in enumerate(np.array_split(np.arange(30), parts)):
        cols: dict[str, Any] = {
            "id": pa.array(rows + 100, pa.int64()),
            "image": pa.array([u8[r].tobytes() for r in rows], pa.binary()),
            "probs": pa.array([[0.3, 0.7]] * len(rows), pa.list_(pa.float64())),
            "run_id": ["label-run-1"] * len(rows),
        }
        if p == parts - 1:
            cols["note"] = [f"n{r}" for r in rows]
        write_deltalake(path, pa.table(cols), mode="append", schema_mode="merge")
    return u8


@pytest.mark.spark
def test_files_read_equals_spark_read_images(spark: Any, tmp_path: Any) -> None:
    from wsup_spark.io import read_arrow

    src = str(tmp_path / "train")
    _image_table(src)
    pol = Policy("trivial", tuple(t.name for t in IMAGE_TFS))
    out = {}
    for read in ("files", "spark"):
        path = str(tmp_path / f"aug-{read}")
        res = augment_table(spark, src, path, pol, IMAGE_TFS, column="image", seed=5,
                            run_id="aug-1", n_copies=2, image_shape=(8, 8), read=read,
                            writer="delta-rs")  # fmt: skip
        assert res.num_rows == 90
        out[read] = read_arrow(path).to_pandas().sort_values(["id", "aug_copy"])
    a, b = out["files"], out["spark"]
    assert list(a.columns) == list(b.columns)
    assert list(a.columns)[:5] == ["id", "image", "probs", "source_run_id", "note"]
    for c in a.columns:
        va, vb = a[c].tolist(), b[c].tolist()
        if c == "probs":
            va, vb = [list(v) for v in va], [list(v) for v in vb]
        assert va == vb, c
    assert set(a["run_id"]) == {"aug-1"} and set(a["source_run_id"]) == {"label-run-1"}
    assert a["note"].isna().sum() == 60  # the 20 rows of the first two files, 3 rows each


@pytest.mark.spark
def test_files_read_equals_spark_read_texts_at_a_version(spark: Any, tmp_path: Any) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from wsup_spark.io import read_arrow

    src = str(tmp_path / "train")
    for v in range(2):  # version 0: TEXTS; version 1 appends them again with other ids
        write_deltalake(src, pa.table({"id": pa.array(range(10 * v, 10 * v + 5), pa.int64()),
                                       "text": TEXTS}), mode="append")  # fmt: skip
    pol = Policy("random", tuple(t.name for t in TEXT_TFS4))
    got = {}
    for read in ("files", "spark"):
        path = str(tmp_path / f"aug-{read}")
        augment_table(spark, src, path, pol, TEXT_TFS4, column="text", seed=2, run_id="r",
                      version=0, n_copies=3, read=read, writer="delta-rs")  # fmt: skip
        got[read] = read_arrow(path).to_pandas().sort_values(["id", "aug_copy"])
    assert got["files"]["id"].tolist() == [i for i in range(5) for _ in range(4)]
    assert got["files"].to_dict("list") == got["spark"].to_dict("list")


@pytest.mark.spark
def test_files_read_array_column_width_from_the_first_row(spark: Any, tmp_path: Any) -> None:
    """No image_shape: the vector width comes from one row of Spark's scan, the rows from the
    files; a float64 array column comes out as array<float> either way."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from wsup_spark.io import read_arrow

    src = str(tmp_path / "train")
    x = blobs(9, seed=1).reshape(9, -1).astype(np.float64)
    write_deltalake(src, pa.table({"id": pa.array(range(9), pa.int64()),
                                   "image": pa.array(x.tolist(), pa.list_(pa.float64()))}))
    pol = Policy("apply_one", ("scale_vec",))
    got = {}
    for read in ("files", "spark"):
        path = str(tmp_path / f"aug-{read}")
        augment_table(spark, src, path, pol, [scale_vec], column="image", seed=3, run_id="r",
                      n_copies=1, read=read, writer="delta-rs")  # fmt: skip
        tbl = read_arrow(path)
        assert str(tbl.schema.field("image").type) in ("list<element: float>",
                                                       "list<item: float>")  # fmt: skip
        got[read] = tbl.to_pandas().sort_values(["id", "aug_copy"])
    a, b = got["files"], got["spark"]
    assert np.array_equal(np.stack(a["image"].to_numpy()), np.stack(b["image"].to_numpy()))
    assert a["aug_tfs"].tolist() == b["aug_tfs"].tolist() and len(a) == 18
    assert not np.array_equal(np.stack(a["image"].to_numpy())[1::2], x.astype(np.float32))


@pytest.mark.spark
def test_files_read_refuses_what_it_cannot_read(spark: Any, tmp_path: Any) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    src = str(tmp_path / "parted")
    write_deltalake(src, pa.table({"id": pa.array(range(5), pa.int64()), "text": TEXTS,
                                   "part": ["a", "a", "b", "b", "b"]}),
                    partition_by=["part"])  # fmt: skip
    pol = Policy("random", tuple(t.name for t in TEXT_TFS4))
    kw: dict[str, Any] = dict(column="text", seed=0, run_id="r", n_copies=1)
    with pytest.raises(DataError, match="read='files' cannot read .* partitioned by"):
        augment_table(spark, src, str(tmp_path / "o1"), pol, TEXT_TFS4, read="files",
                      writer="delta-rs", **kw)  # fmt: skip
    with pytest.raises(ConfigError, match="'spark' Delta writer is used"):
        augment_table(spark, src, str(tmp_path / "o2"), pol, TEXT_TFS4, read="files",
                      writer="spark", **kw)  # fmt: skip
    with pytest.raises(ConfigError, match="read='fast'"):
        augment_table(spark, src, str(tmp_path / "o3"), pol, TEXT_TFS4, read="fast", **kw)
    # auto falls back to Spark's scan, which needs Delta's Spark reader for a partitioned table
    # (none is configured here): the error is the Spark path's, not the file read's
    with pytest.raises(DataError, match="Read it with a Delta-configured Spark session") as e:
        augment_table(spark, src, str(tmp_path / "o4"), pol, TEXT_TFS4, writer="delta-rs", **kw)
    assert "read='files'" not in str(e.value)


@pytest.mark.spark
def test_files_read_bad_row_fails_naming_the_column_and_commits_nothing(
    spark: Any, tmp_path: Any
) -> None:
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    src = str(tmp_path / "train")
    imgs = [bytes(64)] * 4 + [bytes(63)]
    write_deltalake(src, pa.table({"id": pa.array(range(5), pa.int64()),
                                   "image": pa.array(imgs, pa.binary())}))  # fmt: skip
    out = str(tmp_path / "aug")
    pol = Policy("trivial", tuple(t.name for t in IMAGE_TFS))
    with pytest.raises(WriteError, match="column 'image': row 4 of a batch holds 63 bytes"):
        augment_table(spark, src, out, pol, IMAGE_TFS, column="image", seed=0, run_id="r",
                      image_shape=(8, 8), read="files", writer="delta-rs")  # fmt: skip
    assert not DeltaTable.is_deltatable(out)


def test_job_config_read_key() -> None:
    from wsup_spark.augment.job import AugmentJobConfig

    base = {"input": "a", "output": "b", "column": "text", "policy": "none"}
    assert AugmentJobConfig.from_dict(base).read == "auto"
    cfg = AugmentJobConfig.from_dict({**base, "read": "spark"})
    assert cfg.read == "spark"
    # how the input is read does not change the rows: same default run id
    assert cfg.fingerprint() == AugmentJobConfig.from_dict(base).fingerprint()
    with pytest.raises(ConfigError, match="read='fast'; use auto, files or spark"):
        AugmentJobConfig.from_dict({**base, "read": "fast"})
