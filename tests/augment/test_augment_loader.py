"""On-the-fly augmentation in DataLoader workers: reproducible per epoch, any worker count."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from augment_helpers import blobs  # noqa: E402

from wsup_spark.augment.apply import augment_batch  # noqa: E402
from wsup_spark.augment.images import IMAGE_TFS  # noqa: E402
from wsup_spark.augment.loader import AugmentedImageDataset  # noqa: E402
from wsup_spark.augment.policy import Policy  # noqa: E402


def _epoch(ds: AugmentedImageDataset, workers: int) -> np.ndarray:
    dl = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=workers)
    return torch.cat([b[0] for b in dl]).numpy()


@pytest.mark.slow
def test_loader_workers_match_in_memory() -> None:
    x = blobs(24)
    pol = Policy("trivial", [t.name for t in IMAGE_TFS])
    ds = AugmentedImageDataset(x, np.arange(24) % 3, pol, IMAGE_TFS, seed=2)
    ds.set_epoch(4)
    a, b = _epoch(ds, 0), _epoch(ds, 2)
    ref = augment_batch(x, np.arange(24), pol, ds.tfs, seed=2, keep_original=False,
                        first_copy=5).values  # fmt: skip
    assert np.array_equal(a, b) and np.array_equal(a, ref)
    ds.set_epoch(5)
    assert not np.array_equal(_epoch(ds, 0), a)
