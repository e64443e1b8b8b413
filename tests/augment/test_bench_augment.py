"""scripts/bench_augment.py on a tiny .npz of uint8 images: arguments and JSON format are stable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench_augment
from augment_helpers import bench_json


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(16, 16), (9, 12)])
def test_bench_on_any_npz(tmp_path: Any, shape: tuple[int, int], capsys: Any) -> None:
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {
        "x_train": rng.integers(0, 256, (60, *shape), dtype=np.uint8),
        "y_train": np.arange(60) % 3,
        "x_test": rng.integers(0, 256, (15, *shape), dtype=np.uint8),
        "y_test": np.arange(15) % 3,
    }
    np.savez(tmp_path / "imgs.npz", **arrays)  # type: ignore[arg-type]
    out = tmp_path / "res.json"
    rc = bench_augment.main([
        "--images", str(tmp_path / "imgs.npz"), "--labeled", "20", "--seeds", "2",
        "--json", str(out), "--add-bad-tf", "--epochs", "1", "--learn-steps", "2", "--quiet",
        "--learn", "label_weight=1",
    ])  # fmt: skip
    assert rc == 0
    res = bench_json(out, seeds=2)
    assert "heavy_noise" in res["config"]["tfs"]
    # the image defaults of the learned policies are recorded, --learn overrides them
    assert res["config"]["learn"] == bench_augment.IMAGE_LEARN_DEFAULTS | {"label_weight": 1}
    assert "sequence" in capsys.readouterr().out


def test_split_pool_is_disjoint_and_keeps_the_seed_draw() -> None:
    lab, dev, unl = bench_augment.split_pool(200, 30, 50, 1000, seed=4)
    assert (len(lab), len(dev), len(unl)) == (30, 50, 120)
    assert len(set(lab) | set(dev) | set(unl)) == 200
    lab0, dev0, unl0 = bench_augment.split_pool(200, 30, 0, 1000, seed=4)
    assert np.array_equal(lab0, lab) and len(dev0) == 0  # --dev does not change the labeled draw
    assert set(unl0) == set(dev) | set(unl)  # without --dev those images are unlabeled data
    assert len(bench_augment.split_pool(200, 30, 50, 40, seed=4)[2]) == 40


@pytest.mark.slow
def test_dev_mode_never_scores_on_the_test_split(tmp_path: Any) -> None:
    rng = np.random.default_rng(1)
    arrays: dict[str, np.ndarray] = {
        "x_train": rng.integers(0, 256, (80, 8, 8), dtype=np.uint8),
        "y_train": np.arange(80) % 3,
        "x_test": rng.integers(0, 256, (15, 8, 8), dtype=np.uint8),
        "y_test": np.full(15, -1),  # no prediction matches: test accuracy is exactly 0
    }
    np.savez(tmp_path / "imgs.npz", **arrays)  # type: ignore[arg-type]
    common = ["--images", str(tmp_path / "imgs.npz"), "--labeled", "20", "--seeds", "2",
              "--epochs", "2", "--learn-steps", "2", "--quiet", "--learn", "min_entropy=0.5"]
    assert bench_augment.main([*common, "--json", str(tmp_path / "t.json")]) == 0
    assert bench_augment.main([*common, "--dev", "30", "--seed-start", "100",
                               "--json", str(tmp_path / "d.json")]) == 0  # fmt: skip
    test, dev = bench_json(tmp_path / "t.json", 2), bench_json(tmp_path / "d.json", 2)
    assert all(a == 0 for r in test["policies"].values() for a in r["per_seed"])
    assert all(a > 0 for r in dev["policies"].values() for a in r["per_seed"])
    assert dev["config"]["scored_on"] == "dev" and test["config"]["scored_on"] == "test"
    assert dev["config"]["learn"] == bench_augment.IMAGE_LEARN_DEFAULTS | {"min_entropy": 0.5}
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        bench_augment.main([*common, "--learn", "bogus=1"])
