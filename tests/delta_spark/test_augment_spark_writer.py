"""``wsup augment`` on real Delta jars: with Spark's Delta writer the input is read by Spark's
Delta reader; the rows equal the delta-rs writer's with the write tasks reading the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("delta", reason="delta-spark is not installed (scripts/delta_spark/setup.sh)")

import pyarrow as pa
from deltalake import write_deltalake

from wsup_spark.augment.policy import Policy
from wsup_spark.augment.spark import augment_table
from wsup_spark.augment.text import number_sub, random_delete, random_swap, typo
from wsup_spark.errors import ConfigError
from wsup_spark.io import read_arrow

TFS = [random_swap, random_delete, number_sub, typo]
#: comments with numbers, names and several words: every TF can apply
TEXTS = [f"video {i} of Anna got {10 * i + 3} views in {i + 1} days, subscribe" for i in range(5)]


def test_augment_with_sparks_delta_writer_equals_the_file_read(
    spark: Any, tmp_path: Path
) -> None:
    src = str(tmp_path / "train")
    for v in range(2):  # two files; the job reads version 1 (both)
        write_deltalake(src, pa.table({"id": pa.array(range(10 * v, 10 * v + 5), pa.int64()),
                                       "text": TEXTS, "probs": [[0.4, 0.6]] * 5,
                                       "run_id": ["label-1"] * 5}), mode="append")  # fmt: skip
    pol = Policy("random", tuple(t.name for t in TFS))
    kw: dict[str, Any] = dict(column="text", seed=7, run_id="aug-1", n_copies=2)
    res = augment_table(spark, src, str(tmp_path / "a"), pol, TFS, **kw)  # auto: Spark's writer
    assert (res.writer, res.num_rows) == ("spark", 30)
    ref = augment_table(spark, src, str(tmp_path / "b"), pol, TFS, writer="delta-rs",
                        read="files", **kw)  # fmt: skip
    assert (ref.writer, ref.num_rows) == ("delta-rs", 30)
    a, b = (read_arrow(str(tmp_path / p)).to_pandas().sort_values(["id", "aug_copy"])
            for p in ("a", "b"))  # fmt: skip
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        va, vb = a[c].tolist(), b[c].tolist()
        if c == "probs":
            va, vb = [list(v) for v in va], [list(v) for v in vb]
        assert va == vb, c
    assert set(a["source_run_id"]) == {"label-1"} and set(a["run_id"]) == {"aug-1"}
    hist = spark.sql(f"DESCRIBE HISTORY delta.`{tmp_path / 'a'}`").collect()
    meta = json.loads(hist[0]["userMetadata"])
    assert meta["augment"]["policy_hash"] == pol.hash and meta["run_id"] == "aug-1"
    with pytest.raises(ConfigError, match="'spark' Delta writer is used"):
        augment_table(spark, src, str(tmp_path / "c"), pol, TFS, read="files", **kw)
