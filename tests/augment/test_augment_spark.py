"""Spark application == in-memory application; Delta write with lineage, idempotent by run id."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from augment_helpers import TEXTS, blobs

from wsup_spark.augment.apply import augment_arrays, augment_rows
from wsup_spark.augment.images import IMAGE_TFS
from wsup_spark.augment.policy import Policy
from wsup_spark.augment.spark import augment_dataframe, write_augmented
from wsup_spark.augment.text import number_sub, random_delete, random_swap, typo

pytestmark = pytest.mark.spark


def test_images_spark_equals_in_memory_and_carries_columns(spark: Any) -> None:
    x = blobs(60)
    ids = np.arange(1000, 1060)
    rows = [(int(i), x[j].reshape(-1).tolist(), [0.25, 0.75]) for j, i in enumerate(ids)]
    df = spark.createDataFrame(rows, "id long, image array<float>, probs array<double>")
    pol = Policy("trivial", [t.name for t in IMAGE_TFS])
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
    pol = Policy("random", [t.name for t in tfs], seq_len=2, strength=0.8)
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
