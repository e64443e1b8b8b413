"""On-the-fly augmentation for torch training: augment images inside DataLoader workers.

:class:`AugmentedImageDataset` wraps an (n, h, w) image array and its targets; each
``__getitem__`` returns a freshly augmented copy drawn with key ``(seed, id, epoch + 1)``, so
epoch e of a run is reproducible whatever the number of workers, and every epoch sees new
augmentations. Call :meth:`~AugmentedImageDataset.set_epoch` before each epoch (DataLoaders
without ``persistent_workers`` pick the new epoch up when they start their workers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wsup_spark.augment.apply import augment_batch, resolve_tfs
from wsup_spark.augment.base import TransformationFunction
from wsup_spark.augment.policy import Policy
from wsup_spark.errors import DataError

__all__ = ["AugmentedImageDataset"]


class AugmentedImageDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images augmented per item, per epoch.

    Parameters
    ----------
    x : (n, h, w) array
        Images with values in [0, 1].
    y : (n,) or (n, k) array
        Targets (class ids or probabilistic labels), returned as they are.
    policy : Policy
    tfs : the policy's TFs
    seed : int
    ids : (n,) row ids, optional
        Default ``arange(n)``; give the table's ids to match its Spark augmentation.
    p_original : float
        Probability that an item is returned unaugmented (decided per (id, epoch)).
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        policy: Policy,
        tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
        *,
        seed: int,
        ids: Any = None,
        p_original: float = 0.0,
    ) -> None:
        self.x = np.asarray(x, np.float32)
        self.y = np.asarray(y)
        if len(self.x) != len(self.y):
            raise DataError(f"{len(self.x)} images but {len(self.y)} targets")
        self.ids = np.arange(len(self.x)) if ids is None else np.asarray(ids)
        self.policy = policy
        self.tfs = resolve_tfs(policy, tfs)
        self.seed = int(seed)
        self.p_original = float(p_original)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s augmentations from now on."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.ids[i : i + 1]
        keep = False
        if self.p_original > 0:
            from wsup_spark.augment.randomness import BatchRandom, row_keys

            u = BatchRandom(row_keys(self.seed ^ 0x5EED, ids, self.epoch + 1)).uniform()
            keep = bool(u[0] < self.p_original)
        if keep:
            img = self.x[i]
        else:
            res = augment_batch(self.x[i : i + 1], ids, self.policy, self.tfs, seed=self.seed,
                                n_copies=1, keep_original=False,
                                first_copy=self.epoch + 1)  # fmt: skip
            img = res.values[0]
        return torch.from_numpy(np.ascontiguousarray(img)), torch.as_tensor(self.y[i])
