"""Spark application == in-memory application; Delta write with lineage, idempotent by run id."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from augment_helpers import TEXTS, blobs

from wsup_spark.augment.apply import augment_arrays, augment_rows
from wsup_spark.augment.images import IMAGE_TFS
from wsup_spark.augment.policy import Policy
from wsup_spark.augment.spark import (
    augment_dataframe,
    augment_transform,
    decode_uint8_images,
    encode_uint8_images,
    write_augmented,
)
from wsup_spark.augment.text import number_sub, random_delete, random_swap, typo
from wsup_spark.errors import DataError

pytestmark = pytest.mark.spark


def test_images_spark_equals_in_memory_and_carries_columns(spark: Any) -> None:
    x = blobs(60)
    ids = np.arange(1000, 1060)
    rows = [(int(i), x[j].reshape(-1).tolist(), [0.25, 0.75]) for j, i in enumerate(ids)]
    df = spark.createDataFrame(rows, "id long, image array<float>, probs array<double>")
    pol = Policy("trivial", tuple(t.name for t in IMAGE_TFS))
    out = augment_dataframe(df.repartition(3), pol, IMAGE_TFS, column="image", seed=7,
                            n_copies=2, image_shape=(8, 8)).toPandas()  # fmt: skip
    out = out.sort_values(["id", "aug_copy"]).reset_index(drop=True)
    mem = augment_arrays(x, pol, IMAGE_TFS, seed=7, ids=ids, n_copies=2)
    got = np.stack([np.asarray(v) for v in out["image"]]).reshape(-1, 8, 8)
    assert np.array_equal(got, mem.values)
    assert out["aug_tfs"].tolist() == mem.lineage
    assert out["aug_copy"].tolist() == mem.copy.tolist()
    assert set(out["aug_policy"]) == {pol.hash}
    assert all(list(p) == [0.25, 0.75] for p in out["probs"])


def test_text_write_delta_idempotent(spark: Any, tmp_path: Any) -> None:
    from wsup_spark.io import commit_history, read_arrow

    tfs = [random_swap, random_delete, number_sub, typo]
    pol = Policy("random", tuple(t.name for t in tfs), seq_len=2, strength=0.8)
    df = spark.createDataFrame([(i, t) for i, t in enumerate(TEXTS)], "id long, text string")
    path = str(tmp_path / "aug")
    for _ in range(2):  # rerun of the same run id replaces its rows
        res = write_augmented(df.repartition(2), path, pol, tfs, column="text", seed=3,
                              run_id="aug-1", n_copies=3)  # fmt: skip
    assert res.num_rows == len(TEXTS) * 4
    tbl = read_arrow(path).to_pandas().sort_values(["id", "aug_copy"])
    assert len(tbl) == len(TEXTS) * 4
    mem = augment_rows(TEXTS, pol, tfs, seed=3, n_copies=3)
    assert tbl["text"].tolist() == mem.values and tbl["aug_tfs"].tolist() == mem.lineage
    meta = commit_history(path)[-1]["metadata"]["augment"]
    assert meta["policy_hash"] == pol.hash and Policy.from_dict(meta["policy"]) == pol


def _binary_df(spark: Any, u8: np.ndarray, ids: np.ndarray) -> Any:
    rows = [(int(i), bytes(u8[j].tobytes()), [0.25, 0.75]) for j, i in enumerate(ids)]
    return spark.createDataFrame(rows, "id long, image binary, probs array<double>")


def _sorted_pandas(df: Any) -> Any:
    return df.toPandas().sort_values(["id", "aug_copy"]).reset_index(drop=True)

def _one_partition_tiny_batches(
    spark: Any, monkeypatch: Any, df: Any, pol: Policy, kw: dict[str, Any], batch_rows: int
) -> Any:
    """``augment_dataframe`` again on one partition, Arrow batches of ``batch_rows`` rows and
    kernel chunks of one row (sorted pandas)."""
    import wsup_spark.augment.spark as aug_spark

    monkeypatch.setattr(aug_spark, "CHUNK_BYTES", 1)
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    old = spark.conf.get(key)
    spark.conf.set(key, str(batch_rows))
    try:
        return _sorted_pandas(augment_dataframe(df.coalesce(1), pol, IMAGE_TFS, **kw))
    finally:
        spark.conf.set(key, old)



def test_binary_images_spark_equals_in_memory_any_batching(spark: Any, monkeypatch: Any) -> None:
    """A binary (uint8) image column: read as pixels / 255, written back as uint8 bytes, equal to
    the in-memory application, and the same rows whatever the partitioning, the Arrow batch size
    and the kernel's chunking."""

    u8 = encode_uint8_images(blobs(45))
    ids = np.arange(500, 545)
    df = _binary_df(spark, u8, ids)
    pol = Policy("trivial", tuple(t.name for t in IMAGE_TFS))
    kw: dict[str, Any] = dict(column="image", seed=11, n_copies=2, image_shape=(8, 8))
    aug = augment_dataframe(df.repartition(3), pol, IMAGE_TFS, **kw)
    assert aug.schema["image"].dataType.simpleString() == "binary"
    out = _sorted_pandas(aug)
    mem = augment_arrays(decode_uint8_images(u8), pol, IMAGE_TFS, seed=11, ids=ids, n_copies=2)
    want = encode_uint8_images(mem.values)
    assert all(isinstance(v, (bytes, bytearray)) and len(v) == 64 for v in out["image"])
    got = np.stack([np.frombuffer(v, np.uint8) for v in out["image"]]).reshape(-1, 8, 8)
    assert np.array_equal(got, want)
    assert np.array_equal(got[::3], u8)  # originals unchanged, byte for byte
    assert not np.array_equal(got[1::3], u8)  # the copies are augmented
    assert out["aug_tfs"].tolist() == mem.lineage
    assert out["aug_copy"].tolist() == mem.copy.tolist()
    assert set(out["aug_policy"]) == {pol.hash}
    assert all(list(p) == [0.25, 0.75] for p in out["probs"])
    # one partition, Arrow batches of 7 rows, kernel chunks of 1 row: the same rows
    again = _one_partition_tiny_batches(spark, monkeypatch, df, pol, kw, batch_rows=7)
    assert again["image"].tolist() == out["image"].tolist()
    assert again["aug_tfs"].tolist() == out["aug_tfs"].tolist()
    # another seed changes the copies, not the originals
    other = _sorted_pandas(augment_dataframe(df, pol, IMAGE_TFS, **{**kw, "seed": 12}))
    assert other["image"].tolist()[::3] == out["image"].tolist()[::3]
    assert other["image"].tolist() != out["image"].tolist()


def test_array_images_any_batching(spark: Any, monkeypatch: Any) -> None:
    """The array<float> path gives the same rows for any partitioning and Arrow batch size."""

    x = blobs(30, seed=2)
    rows = [(int(i), x[i].reshape(-1).tolist()) for i in range(30)]
    df = spark.createDataFrame(rows, "id long, image array<double>")
    pol = Policy("random", tuple(t.name for t in IMAGE_TFS), seq_len=2)
    kw: dict[str, Any] = dict(column="image", seed=5, n_copies=3, image_shape=(8, 8))
    out = _sorted_pandas(augment_dataframe(df.repartition(4), pol, IMAGE_TFS, **kw))
    again = _one_partition_tiny_batches(spark, monkeypatch, df, pol, kw, batch_rows=4)
    got = np.stack([np.asarray(v) for v in out["image"]])
    assert np.array_equal(got, np.stack([np.asarray(v) for v in again["image"]]))
    mem = augment_arrays(x, pol, IMAGE_TFS, seed=5, n_copies=3)
    assert np.array_equal(got.reshape(-1, 8, 8), mem.values)


def test_image_rows_of_the_wrong_size_name_the_column(spark: Any) -> None:
    import pyarrow as pa

    pol = Policy("trivial", tuple(t.name for t in IMAGE_TFS))
    df = spark.createDataFrame([(0, bytes(64))], "id long, image binary")
    fn = augment_transform(df, pol, IMAGE_TFS, column="image", seed=0, image_shape=(8, 8)).fn
    bad = pa.record_batch({"id": pa.array([0, 1], pa.int64()),
                           "image": pa.array([bytes(64), bytes(63)], pa.binary())})  # fmt: skip
    with pytest.raises(DataError, match=r"column 'image': row 1 .* 63 bytes, expected 64"):
        list(fn(iter([bad])))
    df = spark.createDataFrame([(0, [0.0] * 64)], "id long, image array<float>")
    fn = augment_transform(df, pol, IMAGE_TFS, column="image", seed=0, image_shape=(8, 8)).fn
    # 128 values in all, but not 64 a row: an error, not a silent reshape
    floats = pa.list_(pa.float32())
    ragged = pa.record_batch({"id": pa.array([0, 1], pa.int64()),
                              "image": pa.array([[0.0] * 63, [0.0] * 65], floats)})  # fmt: skip
    with pytest.raises(DataError, match=r"column 'image': row 0 .* 63 values, expected 64"):
        list(fn(iter([ragged])))
    with pytest.raises(DataError, match="null"):
        null = pa.record_batch({"id": pa.array([0], pa.int64()), "image": pa.array([None], floats)})
        list(fn(iter([null])))


def test_binary_write_delta_keeps_binary(spark: Any, tmp_path: Any) -> None:
    from wsup_spark.io import read_arrow

    u8 = encode_uint8_images(blobs(12, seed=4))
    df = _binary_df(spark, u8, np.arange(12))
    pol = Policy("trivial", tuple(t.name for t in IMAGE_TFS))
    path = str(tmp_path / "aug")
    res = write_augmented(df.repartition(2), path, pol, IMAGE_TFS, column="image", seed=1,
                          run_id="bin-1", n_copies=1, image_shape=(8, 8),
                          writer="delta-rs")  # fmt: skip
    assert res.num_rows == 24
    tbl = read_arrow(path)
    assert str(tbl.schema.field("image").type) in ("binary", "large_binary")
    out = tbl.to_pandas().sort_values(["id", "aug_copy"])
    mem = augment_arrays(decode_uint8_images(u8), pol, IMAGE_TFS, seed=1, n_copies=1)
    got = np.stack([np.frombuffer(v, np.uint8) for v in out["image"]]).reshape(-1, 8, 8)
    assert np.array_equal(got, encode_uint8_images(mem.values))
