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
    arrays = {
        "x_train": rng.integers(0, 256, (60, *shape), dtype=np.uint8),
        "y_train": np.arange(60) % 3,
        "x_test": rng.integers(0, 256, (15, *shape), dtype=np.uint8),
        "y_test": np.arange(15) % 3,
    }
    np.savez(tmp_path / "imgs.npz", **arrays)
    out = tmp_path / "res.json"
    rc = bench_augment.main([
        "--images", str(tmp_path / "imgs.npz"), "--labeled", "20", "--seeds", "2",
        "--json", str(out), "--add-bad-tf", "--epochs", "1", "--learn-steps", "2", "--quiet",
    ])  # fmt: skip
    assert rc == 0
    res = bench_json(out, seeds=2)
    assert "heavy_noise" in res["config"]["tfs"]
    assert "sequence" in capsys.readouterr().out
