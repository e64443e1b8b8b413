"""DeltaIterableDataset on real Delta tables: exact sharding, shuffling, filters, batch layout."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
import torch
from deltalake import write_deltalake

from wsup_spark.endmodel.dataset import DeltaIterableDataset, FeatureSpec
from wsup_spark.endmodel.table import resolve_table, shard_pieces
from wsup_spark.errors import DataError


def ids_of(batches):
    return [int(i) for b in batches for i in b["id"]]


def epoch_ids(table, world, workers, epoch, **kw):
    """Ids every (rank, worker) yields in one epoch, via real DataLoader worker processes."""
    got = []
    for rank in range(world):
        ds = DeltaIterableDataset(table, rank=rank, world_size=world, **kw)
        ds.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
        got.append(ids_of(loader))
    return got


def test_shard_pieces_partition_rows_exactly_and_balanced():
    rng = np.random.default_rng(0)
    for _ in range(200):
        rows = rng.integers(0, 50, rng.integers(1, 6))
        shards = int(rng.integers(1, 12))  # often more shards than files
        order = rng.permutation(len(rows))
        seen = np.zeros(int(rows.sum()), int)
        base = np.concatenate([[0], np.cumsum(rows)])
        sizes = []
        for s in range(shards):
            pieces = shard_pieces(rows, order, s, shards)
            sizes.append(sum(e - b for _, b, e in pieces))
            for f, b, e in pieces:
                seen[base[f] + b : base[f] + e] += 1
        assert (seen == 1).all()
        assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("world,workers", [(1, 0), (1, 2), (2, 2), (3, 0), (4, 2)])
def test_every_row_once_per_epoch_across_ranks_and_workers(text_table, world, workers):
    for epoch in (0, 1):
        got = epoch_ids(text_table, world, workers, epoch, batch_size=97, seed=5)
        flat = sorted(i for r in got for i in r)
        assert flat == list(range(3000)), (world, workers, epoch)
        assert max(map(len, got)) - min(map(len, got)) <= workers + 1  # balanced shards


def test_more_shards_than_files_single_file(tmp_path, make_table):
    make_table(tmp_path / "one", n=101, files=1)
    got = epoch_ids(str(tmp_path / "one"), 3, 2, 0, batch_size=8)  # 6 shards, 1 file
    assert sorted(i for r in got for i in r) == list(range(101))
    assert all(len(r) in (33, 34) for r in got)


def test_shuffle_is_seeded_per_epoch(text_table):
    ds = DeltaIterableDataset(text_table, batch_size=100, seed=1, shuffle_buffer=1000)
    a = ids_of(ds)
    assert a == ids_of(ds)  # same epoch, same seed: same order
    ds.set_epoch(1)
    b = ids_of(ds)
    assert a != b and sorted(a) == sorted(b) == list(range(3000))
    other = DeltaIterableDataset(text_table, batch_size=100, seed=2, shuffle_buffer=1000)
    assert ids_of(other) != a
    plain = ids_of(DeltaIterableDataset(text_table, batch_size=100, shuffle=False))
    assert sorted(plain) == list(range(3000))
    assert all(b - a == 1 for a, b in itertools.pairwise(plain) if b % 1000)  # file order


def test_filters_and_splits(text_table):
    lab = DeltaIterableDataset(text_table, batch_size=500, drop_unlabeled=True)
    assert sorted(ids_of(lab)) == [i for i in range(3000) if i % 10]
    tr = set(ids_of(DeltaIterableDataset(text_table, split="train", holdout_mod=5)))
    ev = ids_of(DeltaIterableDataset(text_table, split="eval", holdout_mod=5))
    assert not tr & set(ev) and len(tr) + len(ev) == 3000
    assert 450 < len(ev) < 600 and all(i % 7 != 3 for i in ev)  # gold rows only
    all_gold = ids_of(DeltaIterableDataset(text_table, split="eval", holdout_mod=0))
    assert len(all_gold) == sum(1 for i in range(3000) if i % 7 != 3)


def test_batch_layout(text_table):
    spec = FeatureSpec("text", ("score",), buckets=1024, char_ngrams=(3, 5))
    b = next(iter(DeltaIterableDataset(text_table, features=spec, batch_size=64)))
    assert b["probs"].shape == (64, 2) and b["probs"].dtype == torch.float32
    assert torch.allclose(b["probs"].sum(1), torch.ones(64))
    assert b["numeric"].shape == (64, 1) and b["offsets"].shape == (64,)
    assert b["id"].dtype == b["gold"].dtype == b["tokens"].dtype == torch.int64
    assert 0 <= int(b["tokens"].min()) and int(b["tokens"].max()) < 1024
    assert b["token_row"].shape == b["token_word"].shape
    assert int(b["token_word"].max()) < len(b["char_offsets"])
    assert set(b["gold"].tolist()) <= {-1, 0, 1}


def test_string_ids_and_version_pinning(tmp_path, make_table):
    p = tmp_path / "s"
    make_table(p, n=300, files=3, string_ids=True)
    assert resolve_table(str(p)).version == 2
    v0 = DeltaIterableDataset(str(p), version=0, batch_size=64)
    assert v0.num_rows == 100 and len(set(ids_of(v0))) == 100
    assert len(set(ids_of(DeltaIterableDataset(str(p), batch_size=64)))) == 300


def test_bad_tables_raise_data_errors(tmp_path, text_table):
    with pytest.raises(DataError, match="lacks column"):
        DeltaIterableDataset(text_table, features=FeatureSpec("body"))
    with pytest.raises(DataError, match="cannot open Delta table"):
        DeltaIterableDataset(str(tmp_path / "nope"))
    t = pa.table({"id": pa.array([1, 2], pa.int64()), "text": ["a", "b"],
                  "probs": pa.array([[1.0, 0.0], [0.2, 0.3, 0.5]])})  # fmt: skip
    write_deltalake(str(tmp_path / "ragged"), t)
    with pytest.raises(DataError, match="length k=2"):
        ids_of(DeltaIterableDataset(str(tmp_path / "ragged")))
