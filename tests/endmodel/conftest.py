"""Real Delta tables (delta-rs) shaped like the pipeline's training table, for end-model tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import write_deltalake

POS = ["great", "excellent", "love", "superb", "fine", "wonderful"]
NEG = ["awful", "terrible", "hate", "bad", "poor", "boring"]
FILLER = ["the", "a", "movie", "plot", "actors", "was", "and"]


def write_training_table(
    path: Path | str,
    n: int = 3000,
    files: int = 3,
    seed: int = 0,
    label_acc: float = 0.7,
    string_ids: bool = False,
    unlabeled_every: int = 10,
    file_sizes: list[int] | None = None,
    unlabeled: Callable[[np.ndarray], np.ndarray] | None = None,
    emb_dim: int = 0,
) -> np.ndarray:
    """A separable synthetic task; probs are noisy soft labels, gold is exact.

    Text: two sentiment words of the class + three filler words. ``score``: class + noise.
    ``probs`` put 0.6–0.9 on a label that is right with probability ``label_acc``; rows with
    ``id % unlabeled_every == 0`` (or ``unlabeled(ids)`` when given) have ``n_votes == 0``; every
    7th row has no gold. ``emb_dim`` > 0 adds ``emb``: ``emb_dim`` float32s carrying the class in
    the first (± 2.5 + noise), null on row 3.

    Returns the gold labels, (n,) int64.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = [" ".join([*rng.choice(POS if c else NEG, 2), *rng.choice(FILLER, 3)]) + "!" for c in y]
    noisy = np.where(rng.random(n) < label_acc, y, 1 - y)
    conf = rng.uniform(0.6, 0.9, n)
    probs = np.where(noisy[:, None] == np.arange(2), conf[:, None], 1 - conf[:, None])
    score = y + rng.normal(0, 0.5, n)
    emb = rng.normal(0, 1, (n, max(emb_dim, 1))).astype(np.float32)
    emb[:, 0] += 2.5 * (2 * y - 1)
    ids = np.arange(n)
    unl = unlabeled(ids) if unlabeled is not None else ids % unlabeled_every == 0
    sizes = file_sizes or [len(p) for p in np.array_split(ids, files)]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for a, b in itertools.pairwise(bounds):
        part = ids[a:b]
        gold = [None if i % 7 == 3 else int(y[i]) for i in part]
        t = pa.table({
            "id": pa.array([f"row-{i}" for i in part] if string_ids else part, None if string_ids
                           else pa.int64()),
            "text": pa.array([texts[i] for i in part]),
            "score": pa.array(score[part]),
            "probs": pa.array(list(probs[part]), pa.list_(pa.float64())),
            "n_votes": pa.array(np.where(unl[part], 0, 2).astype(np.int32)),
            "gold": pa.array(gold, pa.int32()),
        })  # fmt: skip
        if emb_dim:
            t = t.append_column("emb", pa.array([None if i == 3 else list(emb[i]) for i in part],
                                                pa.list_(pa.float32())))  # fmt: skip
        write_deltalake(str(path), t, mode="append")
    return y


@pytest.fixture(scope="package")
def text_table(tmp_path_factory: pytest.TempPathFactory) -> str:
    """3000 rows in 3 files (3 Delta versions: 0, 1, 2)."""
    p = tmp_path_factory.mktemp("endmodel") / "train"
    write_training_table(p)
    return str(p)


@pytest.fixture(scope="package")
def make_table():
    """:func:`write_training_table`, for tests that need their own table."""
    return write_training_table
