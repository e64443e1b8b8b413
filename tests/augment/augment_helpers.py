"""Small data shared by the augmentation tests (imported by name: tests/augment is on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def blobs(n: int = 40, size: int = 8, seed: int = 0) -> np.ndarray:
    """(n, size, size) float32 smooth images in [0, 1]: one Gaussian blob each."""
    rng = np.random.default_rng(seed)
    r = np.arange(size, dtype=np.float64)
    cy, cx = rng.uniform(2, size - 3, (2, n))
    s = rng.uniform(1.0, 2.0, n)
    img = np.exp(
        -((r[None, :, None] - cy[:, None, None]) ** 2 + (r[None, None, :] - cx[:, None, None]) ** 2)
        / (2 * s[:, None, None] ** 2)
    )
    return img.astype(np.float32)


TEXTS = [
    "Check out my new video, 100 views in 2 days!",
    "I love this song so much",
    "Visit my channel for free gift cards from Amazon",
    "great",
    "The 3 best moments were at 1:45 and 2:30 in Paris",
]


POLICY_NAMES = ["none", "random", "trivial", "meanfield", "sequence"]


def bench_json(path: Path, seeds: int) -> dict[str, Any]:
    """scripts/bench_augment.py's ``--json`` output, checked for the stable format: one entry per
    policy name with mean and ci95 in range and ``seeds`` per-seed accuracies."""
    res: dict[str, Any] = json.loads(path.read_text())
    assert list(res["policies"]) == POLICY_NAMES
    for r in res["policies"].values():
        assert set(r) == {"mean", "ci95", "per_seed"} and len(r["per_seed"]) == seeds
        assert 0 <= r["mean"] <= 1 and r["ci95"] >= 0
    return res
