"""``wsup augment`` / jobs/augment.py: config, policy by name or JSON file, Delta in → Delta out."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import yaml
from augment_helpers import TEXTS, blobs

from wsup_spark import ConfigError
from wsup_spark.augment.apply import augment_arrays, augment_rows
from wsup_spark.augment.images import IMAGE_TFS
from wsup_spark.augment.job import AugmentJobConfig, load_augment_config, resolve_job_tfs
from wsup_spark.augment.policy import Policy
from wsup_spark.augment.text import number_sub, random_delete, random_swap, typo

TEXT_TFS4 = [random_swap, random_delete, number_sub, typo]


def _text_table(path: str) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    probs = [[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.5, 0.5], [0.6, 0.4]]
    # like the pipeline's training table: probs and the labeling run's run_id
    tbl = pa.table({"id": pa.array(range(10, 15), pa.int64()), "text": TEXTS,
                    "probs": pa.array(probs, pa.list_(pa.float64())),
                    "run_id": ["label-run-1"] * 5})  # fmt: skip
    write_deltalake(path, tbl)


def _write_cfg(tmp_path: Any, **kw: Any) -> str:
    cfg = {"input": str(tmp_path / "train"), "output": str(tmp_path / "aug"), "column": "text",
           "policy": "random", "tfs": [t.name for t in TEXT_TFS4], "copies": 2, "seed": 4,
           **kw}  # fmt: skip
    p = tmp_path / "augment.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def test_config_errors_and_overrides(tmp_path: Any) -> None:
    path = _write_cfg(tmp_path)
    cfg = load_augment_config(path, ["copies=5", "policy=trivial"])
    assert cfg.copies == 5 and cfg.policy == "trivial"
    policy, tfs = resolve_job_tfs(cfg)
    assert policy.kind == "trivial" and [t.name for t in tfs] == [t.name for t in TEXT_TFS4]
    assert (
        cfg.fingerprint()
        == load_augment_config(path, ["copies=5", "policy=trivial", "writer=spark"]).fingerprint()
    )
    assert cfg.fingerprint() != load_augment_config(path, ["seed=5"]).fingerprint()
    with pytest.raises(ConfigError, match="unknown augment config key"):
        load_augment_config(path, ["copise=3"])
    with pytest.raises(ConfigError, match="not in the library"):
        resolve_job_tfs(load_augment_config(path, ["tfs=[bogus]"]))
    with pytest.raises(ConfigError, match="needs tfs"):
        AugmentJobConfig.from_dict({"input": "a", "output": "b", "column": "c"})
    with pytest.raises(ConfigError, match="neither one of"):
        resolve_job_tfs(load_augment_config(path, ["policy=learned"]))
    with pytest.raises(ConfigError, match="does not exist"):
        load_augment_config(tmp_path / "nope.yaml")


def test_policy_file_and_imported_tfs(tmp_path: Any) -> None:
    pol = Policy("apply_one", ["rotate", "typo"], tf_index=1)
    pol.save(tmp_path / "p.json")
    cfg = AugmentJobConfig.from_dict({"input": "a", "output": "b", "column": "text",
                                      "policy": str(tmp_path / "p.json")})  # fmt: skip
    got, tfs = resolve_job_tfs(cfg)
    assert got == pol and [t.name for t in tfs] == ["rotate", "typo"]
    cfg = AugmentJobConfig.from_dict({"input": "a", "output": "b", "column": "text",
                                      "policy": "apply_all",
                                      "tfs": ["wsup_spark.augment.images:IMAGE_TFS"]})  # fmt: skip
    assert [t.name for t in resolve_job_tfs(cfg)[1]] == [t.name for t in IMAGE_TFS]


@pytest.mark.spark
def test_cli_augments_a_delta_table_idempotently(spark: Any, tmp_path: Any, capsys: Any) -> None:
    from wsup_spark.cli import main
    from wsup_spark.io import commit_history, read_arrow

    _text_table(str(tmp_path / "train"))
    cfg = _write_cfg(tmp_path, mode="append")
    assert main(["augment", "--config", cfg]) == 0
    capsys.readouterr()
    assert main(["augment", "--config", cfg]) == 0  # same config, same run id: rows replaced
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == len(TEXTS) * 3 and summary["run_id"].startswith("augment-")
    out = read_arrow(str(tmp_path / "aug")).to_pandas().sort_values(["id", "aug_copy"])
    assert len(out) == len(TEXTS) * 3
    pol = Policy("random", [t.name for t in TEXT_TFS4], seq_len=2)
    mem = augment_rows(TEXTS, pol, TEXT_TFS4, seed=4, ids=np.arange(10, 15), n_copies=2)
    assert out["text"].tolist() == mem.values and out["aug_tfs"].tolist() == mem.lineage
    assert [list(p) for p in out["probs"]][:3] == [[0.2, 0.8]] * 3  # probs carried along
    assert set(out["source_run_id"]) == {"label-run-1"}  # the labeling run, kept as lineage
    assert set(out["run_id"]) == {summary["run_id"]}
    meta = commit_history(str(tmp_path / "aug"))[-1]["metadata"]
    assert meta["augment"]["policy_hash"] == pol.hash == summary["policy_hash"]
    # another run id appends beside it
    assert main(["augment", "--config", cfg, "--set", "run_id=second"]) == 0
    both = read_arrow(str(tmp_path / "aug")).to_pandas()
    assert both["run_id"].value_counts().to_dict() == {summary["run_id"]: 15, "second": 15}


@pytest.mark.spark
def test_job_with_learned_policy_file_on_images(spark: Any, tmp_path: Any) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from wsup_spark.augment.job import run_augment
    from wsup_spark.io import read_arrow

    x = blobs(20)
    probs = np.random.default_rng(0).dirichlet(np.ones(1 + 2 * 3))
    pol = Policy("meanfield", ["shift", "blur"], seq_len=2, probs=tuple(probs))
    pol.save(tmp_path / "learned.json")
    flat = pa.array([r.reshape(-1).tolist() for r in x], pa.list_(pa.float32()))
    write_deltalake(str(tmp_path / "imgs"), pa.table({"id": np.arange(20), "image": flat}))
    cfg = AugmentJobConfig.from_dict({
        "input": str(tmp_path / "imgs"), "output": str(tmp_path / "imgs_aug"), "column": "image",
        "policy": str(tmp_path / "learned.json"), "copies": 3, "seed": 1, "image_shape": [8, 8],
    })  # fmt: skip
    res = run_augment(cfg, spark)
    assert res["rows"] == 80 and res["policy"] == "meanfield"
    out = read_arrow(str(tmp_path / "imgs_aug")).to_pandas().sort_values(["id", "aug_copy"])
    mem = augment_arrays(x, pol, IMAGE_TFS, seed=1, n_copies=3)
    got = np.stack([np.asarray(v) for v in out["image"]]).reshape(-1, 8, 8)
    assert np.array_equal(got, mem.values) and out["aug_tfs"].tolist() == mem.lineage


@pytest.mark.spark
def test_job_augments_a_binary_image_column(spark: Any, tmp_path: Any) -> None:
    """A binary column (uint8 pixels) is detected from its type and written back as binary."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from wsup_spark.augment.job import run_augment
    from wsup_spark.augment.spark import decode_uint8_images, encode_uint8_images
    from wsup_spark.io import read_arrow

    u8 = encode_uint8_images(blobs(16, seed=3))
    col = pa.array([r.tobytes() for r in u8], pa.binary())
    write_deltalake(str(tmp_path / "imgs"), pa.table({"id": np.arange(16), "image": col}))
    cfg = AugmentJobConfig.from_dict({
        "input": str(tmp_path / "imgs"), "output": str(tmp_path / "imgs_aug"), "column": "image",
        "policy": "trivial", "tfs": [t.name for t in IMAGE_TFS], "copies": 2, "seed": 9,
        "image_shape": [8, 8],
    })  # fmt: skip
    assert run_augment(cfg, spark)["rows"] == 48
    tbl = read_arrow(str(tmp_path / "imgs_aug"))
    assert pa.types.is_binary(tbl.schema.field("image").type) or pa.types.is_large_binary(
        tbl.schema.field("image").type
    )
    out = tbl.to_pandas().sort_values(["id", "aug_copy"])
    pol = Policy("trivial", tuple(t.name for t in IMAGE_TFS))
    mem = augment_arrays(decode_uint8_images(u8), pol, IMAGE_TFS, seed=9, n_copies=2)
    got = np.stack([np.frombuffer(v, np.uint8) for v in out["image"]]).reshape(-1, 8, 8)
    assert np.array_equal(got, encode_uint8_images(mem.values))
    assert out["aug_tfs"].tolist() == mem.lineage
