"""Stream a Delta training table into batched tensors (torch IterableDataset).

The table's file list is resolved once, in the parent process, at a pinned Delta version
(deltalake cannot run in forked DataLoader workers). The unit of work is one Parquet **row group**;
units are assigned round-robin over ``world_size × num_workers`` shards after a per-epoch seeded
permutation that every rank computes identically, so each row is read by exactly one (rank, worker)
per epoch. Batches are built from Arrow columns with numpy — no per-row Python — and rows are
shuffled within a buffer of ``shuffle_buffer`` rows.

Text features become hashed n-gram ids (fastText-style) with :func:`hash_ngrams`: lower-cased
whitespace tokens via pyarrow.compute, token hashes via pandas' vectorised siphash, bigram hashes
by combining adjacent token hashes with integer arithmetic.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wsup_spark.core.errors import DataError

logger = logging.getLogger(__name__)

_P = np.uint64(0x9E3779B97F4A7C15)


def resolve_files(path: str, version: int | None = None) -> tuple[list[str], int]:
    """Data files of a Delta table at ``version`` (latest when None) → (file URIs, version)."""
    from deltalake import DeltaTable

    try:
        dt = DeltaTable(path, version=version)
    except Exception as e:
        raise DataError(f"cannot open Delta table {path!r} (version {version}): {e}") from e
    return list(dt.file_uris()), int(dt.version())


def _local(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def row_group_units(files: Sequence[str]) -> list[tuple[str, int, int]]:
    """(file, row group index, rows) for every row group of every file (reads footers only)."""
    import pyarrow.parquet as pq

    units = []
    for f in files:
        md = pq.ParquetFile(_local(f)).metadata
        units += [(f, i, md.row_group(i).num_rows) for i in range(md.num_row_groups)]
    return units


def hash_ngrams(texts: Any, buckets: int, bigrams: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Hashed word (and word-bigram) ids for an Arrow/pandas string column.

    Returns
    -------
    ids : (t,) int64 in ``1..buckets-1`` (0 is the padding id of empty texts)
    offsets : (n,) int64, start of each row's ids (EmbeddingBag layout)
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    toks = pc.utf8_split_whitespace(pc.utf8_lower(pc.fill_null(arr, "")))
    offs = toks.offsets.to_numpy().astype(np.int64)
    flat = toks.flatten().to_numpy(zero_copy_only=False)
    h = pd.util.hash_array(flat.astype(object)).astype(np.uint64)
    n = len(arr)
    counts = np.diff(offs)
    row_of = np.repeat(np.arange(n), counts)
    pieces, rows = [h], [row_of]
    if bigrams and len(h) > 1:
        same = row_of[1:] == row_of[:-1]
        with np.errstate(over="ignore"):
            bg = (h[:-1] * _P) ^ (h[1:] + np.uint64(0x632BE59BD9B4E019))
        pieces.append(bg[same])
        rows.append(row_of[1:][same])
    allh = np.concatenate(pieces)
    allr = np.concatenate(rows)
    order = np.argsort(allr, kind="stable")
    ids = (allh[order] % np.uint64(buckets - 1)).astype(np.int64) + 1
    per_row = np.bincount(allr, minlength=n)
    empty = per_row == 0
    if empty.any():  # give empty rows one padding id so every bag is non-empty
        starts = np.cumsum(per_row) - per_row
        ids = np.insert(ids, starts[empty], 0)
        per_row = np.where(empty, 1, per_row)
    offsets = np.concatenate([[0], np.cumsum(per_row)[:-1]]).astype(np.int64)
    return ids, offsets


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns feed the model."""

    text_col: str | None = "text"
    numeric_cols: tuple[str, ...] = ()
    buckets: int = 2**16
    bigrams: bool = True


class DeltaIterableDataset:
    """A torch ``IterableDataset`` over a Delta training table (built lazily to keep torch
    optional at import). See the module docstring for sharding and shuffling.

    Parameters
    ----------
    path, version : Delta table location and version (latest when None; pinned at construction).
    features : FeatureSpec
    batch_size : rows per yielded batch.
    shuffle, seed : per-epoch seeded permutation of row groups and a shuffle buffer of rows.
    drop_unlabeled : skip rows no LF voted on (``n_votes == 0``).
    holdout_mod : when > 0, rows with ``id_hash % holdout_mod == 0`` form the held-out split.
    split : ``"train"`` (excludes held-out rows), ``"holdout"`` or ``"all"``.
    rank, world_size : DDP shard; default from torch.distributed or RANK/WORLD_SIZE.
    """

    def __init__(self, path: str, version: int | None = None,
                 features: FeatureSpec | None = None, batch_size: int = 512,
                 shuffle: bool = True, seed: int = 0, drop_unlabeled: bool = False,
                 holdout_mod: int = 0, split: str = "all", shuffle_buffer: int = 8192,
                 rank: int | None = None, world_size: int | None = None) -> None:  # fmt: skip
        if split not in ("train", "holdout", "all"):
            raise DataError(f"split must be train, holdout or all, got {split!r}")
        self.files, self.version = resolve_files(path, version)
        self.units = row_group_units(self.files)
        self.path, self.features = path, features or FeatureSpec()
        self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, int(seed)
        self.drop_unlabeled, self.holdout_mod, self.split = drop_unlabeled, holdout_mod, split
        self.shuffle_buffer = int(shuffle_buffer)
        r, w = _dist_rank_world()
        self.rank = r if rank is None else int(rank)
        self.world_size = w if world_size is None else int(world_size)
        self.epoch = 0
        self.num_rows = sum(u[2] for u in self.units)

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffling permutation (call before each epoch, as with DistributedSampler)."""
        self.epoch = int(epoch)

    def my_units(self, worker_id: int = 0, num_workers: int = 1) -> list[tuple[str, int, int]]:
        """Row groups this (rank, worker) reads this epoch."""
        order = np.arange(len(self.units))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.units))
        shards = self.world_size * num_workers
        me = self.rank * num_workers + worker_id
        return [self.units[i] for i in order[me::shards]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import torch

        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, wid])
        buf: list[dict[str, np.ndarray]] = []
        buffered = 0
        for unit in self.my_units(wid, nw):
            cols = self._read_unit(unit)
            if cols is None:
                continue
            buf.append(cols)
            buffered += len(cols["id_hash"])
            if buffered >= max(self.shuffle_buffer, self.batch_size):
                yield from self._drain(buf, rng, keep_tail=True)
                buffered = sum(len(b["id_hash"]) for b in buf)
        yield from self._drain(buf, rng, keep_tail=False)

    def _drain(self, buf: list[dict[str, np.ndarray]], rng: np.random.Generator,
               keep_tail: bool) -> Iterator[dict[str, Any]]:  # fmt: skip
        if not buf:
            return
        cat = {k: np.concatenate([b[k] for b in buf]) for k in buf[0]}
        n = len(cat["id_hash"])
        perm = rng.permutation(n) if self.shuffle else np.arange(n)
        full = (n // self.batch_size) * self.batch_size
        stop = full if keep_tail else n
        buf.clear()
        for s in range(0, stop, self.batch_size):
            idx = perm[s : s + self.batch_size]
            yield self._to_batch({k: _take(v, idx) for k, v in cat.items()})
        if keep_tail and full < n:
            idx = perm[full:]
            buf.append({k: _take(v, idx) for k, v in cat.items()})

    def _read_unit(self, unit: tuple[str, int, int]) -> dict[str, np.ndarray] | None:
        import pandas as pd
        import pyarrow.parquet as pq

        f, rg, _ = unit
        spec = self.features
        want = ["id", "probs", "n_votes", *spec.numeric_cols]
        if spec.text_col:
            want.append(spec.text_col)
        pf = pq.ParquetFile(_local(f))
        names = pf.schema_arrow.names
        if "gold" in names:
            want.append("gold")
        missing = [c for c in want if c not in names]
        if missing:
            raise DataError(f"training table {self.path!r} lacks column(s) {missing}; has {names}")
        t = pf.read_row_group(rg, columns=want)
        idh = pd.util.hash_array(t.column("id").to_numpy(zero_copy_only=False).astype(object))
        keep = np.ones(t.num_rows, bool)
        if self.holdout_mod > 0 and self.split != "all":
            held = (idh % np.uint64(self.holdout_mod)) == 0
            keep &= held if self.split == "holdout" else ~held
        if self.drop_unlabeled:
            keep &= t.column("n_votes").to_numpy(zero_copy_only=False) > 0
        if not keep.any():
            return None
        probs = t.column("probs").combine_chunks()
        k = len(probs[0]) if len(probs) else 0
        P = probs.flatten().to_numpy(zero_copy_only=False).reshape(-1, k).astype(np.float32)
        out: dict[str, Any] = {"id_hash": idh.astype(np.int64)[keep], "probs": P[keep]}
        gold = t.column("gold").to_numpy(zero_copy_only=False) if "gold" in names else None
        g = np.full(t.num_rows, -1.0) if gold is None else np.nan_to_num(gold.astype(float), nan=-1)
        out["gold"] = g.astype(np.int64)[keep]
        if spec.numeric_cols:
            X = np.stack([np.nan_to_num(t.column(c).to_numpy(zero_copy_only=False).astype(
                np.float32)) for c in spec.numeric_cols], axis=1)  # fmt: skip
            out["numeric"] = X[keep]
        if spec.text_col:
            out["text"] = np.asarray(t.column(spec.text_col).to_numpy(zero_copy_only=False),
                                     dtype=object)[keep]  # fmt: skip
        return out

    def _to_batch(self, cols: dict[str, Any]) -> dict[str, Any]:
        import torch

        batch: dict[str, Any] = {
            "id_hash": torch.from_numpy(cols["id_hash"]),
            "probs": torch.from_numpy(cols["probs"]),
            "gold": torch.from_numpy(cols["gold"]),
        }
        if "numeric" in cols:
            batch["numeric"] = torch.from_numpy(cols["numeric"])
        if "text" in cols:
            ids, offs = hash_ngrams(list(cols["text"]), self.features.buckets,
                                    self.features.bigrams)  # fmt: skip
            batch["tokens"], batch["offsets"] = torch.from_numpy(ids), torch.from_numpy(offs)
        return batch


def _take(v: Any, idx: np.ndarray) -> Any:
    return v[idx]


def _dist_rank_world() -> tuple[int, int]:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except ImportError:  # pragma: no cover
        pass
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def as_torch_dataset(ds: DeltaIterableDataset) -> Any:
    """Wrap in a real ``torch.utils.data.IterableDataset`` (for DataLoader workers)."""
    import torch

    class _DS(torch.utils.data.IterableDataset):  # type: ignore[type-arg,misc]
        def __init__(self, inner: DeltaIterableDataset) -> None:
            self.inner = inner

        def __iter__(self) -> Iterator[dict[str, Any]]:
            return iter(self.inner)

    return _DS(ds)
