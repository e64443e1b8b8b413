"""Stream a Delta training table into ready batches of tensors (a torch ``IterableDataset``).

The table is resolved once, in the constructor (parent process), to a pinned version's file list
(:func:`~.table.resolve_table`); iteration reads Parquet with pyarrow only, so it is safe in forked
DataLoader workers. Rows are sharded exactly across DDP ranks × DataLoader workers
(:func:`~.table.shard_pieces`: every row once per epoch, shards balanced to one row). Shuffling:
a per-epoch seeded file order, a seeded row-group order inside each file, and a shuffle buffer of
``shuffle_buffer`` rows. Batches are assembled with numpy and Arrow kernels — no Python per row.

Batch layout (every value a tensor; ``n`` rows, ``k`` classes, ``f`` numeric features)::

    id         (n,) int64    the row id (string ids: a stable 63-bit hash of the id)
    probs      (n, k) float32  label-model P(Y | votes)
    gold       (n,) int64    gold label, -1 where unknown
    n_votes    (n,) int64    non-abstaining LFs on the row (0 when the table has no n_votes)
    numeric    (n, f) float32  numeric features, NaN where null          [numeric_cols]
    embedding  (n, e) float32  a precomputed embedding, zeros where null   [embedding_col]
    tokens     (w,) int64    word + word n-gram ids of all rows           [text_col]
    offsets    (n,) int64    start of each row's bag in ``tokens`` (EmbeddingBag layout)
    char_tokens  (c,) int64  char n-gram ids of the batch's distinct tokens  [char_ngrams]
    char_offsets (u,) int64  start of each distinct token's bag in ``char_tokens``
    token_word   (t,) int64  distinct-token index of every token occurrence
    token_row    (t,) int64  row of every token occurrence

A multi-task table (``tasks=``) has, per task ``t``, instead of ``probs`` and ``gold``::

    probs_<t>  (n, k_t) float32  P(Y_t | votes, t applies); zeros where t does not apply
    mask_<t>   (n,) bool     t applies (its probs_<t> is not null)
    gold_<t>   (n,) int64    gold class of t, -1 where unknown
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from wsup_spark.endmodel.config import TrainConfig
from wsup_spark.endmodel.hashing import hash_ints, hash_ngrams, hash_strings
from wsup_spark.endmodel.table import (
    TableFiles,
    epoch_order,
    read_piece,
    resolve_table,
    shard_pieces,
)
from wsup_spark.errors import DataError

logger = logging.getLogger(__name__)

SPLITS = ("all", "train", "eval", "dev")
_MASK63 = np.uint64(0x7FFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns feed the model and how text is hashed.

    Attributes
    ----------
    text_col : string column hashed into n-gram ids, or None
    numeric_cols : numeric columns stacked into ``numeric`` (f,)
    buckets : id space of the hashed n-grams (rows of the embedding table)
    word_ngrams : longest word n-gram (fastText's -wordNgrams)
    char_ngrams : (minn, maxn) character n-grams, (0, 0) = off (fastText's -minn/-maxn)
    lowercase, strip_punct : text normalisation (see :func:`~.hashing.normalise`)
    embedding_col : ``array<float>`` column (every non-null value of one length e) read into
        ``embedding`` (n, e), or None
    """

    text_col: str | None = "text"
    numeric_cols: tuple[str, ...] = ()
    buckets: int = 2**18
    word_ngrams: int = 2
    char_ngrams: tuple[int, int] = (0, 0)
    lowercase: bool = True
    strip_punct: bool = True
    embedding_col: str | None = None

    @classmethod
    def of(cls, cfg: TrainConfig, custom_model: bool = False) -> FeatureSpec:
        """The columns ``cfg.model`` reads: text unless the model is ``numeric`` or ``embedding``
        (a custom model gets the text), the embedding column for ``embedding`` only.

        >>> FeatureSpec.of(TrainConfig(table="/t", model="embedding")).embedding_col
        'embedding'
        """
        text = custom_model or cfg.model not in ("numeric", "embedding")
        emb = cfg.model == "embedding" and not custom_model
        return cls(cfg.text_col if text else None, cfg.numeric_cols, cfg.buckets,
                   cfg.word_ngrams, cfg.char_ngrams,
                   embedding_col=cfg.embedding_col if emb else None)  # fmt: skip


def dist_rank_world() -> tuple[int, int]:
    """(rank, world size): torch.distributed when initialised, else ``RANK``/``WORLD_SIZE``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class DeltaIterableDataset(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Batches of a Delta training table, sharded over DDP ranks and DataLoader workers.

    Use with ``DataLoader(ds, batch_size=None, num_workers=...)`` (the dataset batches) and call
    :meth:`set_epoch` before each epoch; do not use ``persistent_workers`` (workers would keep the
    old epoch).

    Parameters
    ----------
    path : the table's location (or pass ``table``, an already resolved :class:`TableFiles`)
    version : Delta version to pin (latest when None)
    features : FeatureSpec
    batch_size : rows per batch; each shard's last batch of an epoch may be smaller
    shuffle, seed : seeded per-epoch file, row-group and buffer shuffling
    drop_unlabeled : skip rows with ``n_votes == 0``
    split, holdout_mod, dev_mod : ``"all"``; ``"eval"`` = gold rows whose id hash ``h`` is 0 mod
        ``holdout_mod`` (all gold rows when ``holdout_mod`` is 0); ``"dev"`` = the other gold
        rows with ``(h // holdout_mod) % dev_mod == 0`` (none when ``dev_mod`` is 0; needs
        ``holdout_mod > 0``); ``"train"`` = every other row (neither eval nor dev)
    shuffle_buffer : rows mixed together before batches are cut
    rank, world_size : DDP shard (default: torch.distributed, else RANK/WORLD_SIZE)
    read_rows : Parquet rows decoded per read
    storage_options : passed to deltalake for object stores
    tasks : multi-task tables: ``(name, k)`` per task. Instead of ``probs`` and ``gold`` the
        table has ``probs_<task>`` (null where the task does not apply) and optional
        ``gold_<task>`` columns; batches carry ``probs_<task>`` (n, k) (zeros where N/A),
        ``mask_<task>`` (n,) bool (the task applies) and ``gold_<task>`` (n,) (-1 unknown). The
        ``eval`` split holds rows with any task's gold.

    Raises
    ------
    DataError
        when the table lacks a needed column or a column has the wrong type.
    """

    def __init__(
        self,
        path: str | None = None,
        version: int | None = None,
        features: FeatureSpec | None = None,
        batch_size: int = 512,
        shuffle: bool = True,
        seed: int = 0,
        drop_unlabeled: bool = False,
        split: str = "all",
        holdout_mod: int = 0,
        dev_mod: int = 0,
        shuffle_buffer: int = 16384,
        rank: int | None = None,
        world_size: int | None = None,
        read_rows: int = 65536,
        storage_options: Mapping[str, str] | None = None,
        table: TableFiles | None = None,
        tasks: Sequence[tuple[str, int]] | None = None,
    ) -> None:
        super().__init__()
        if split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, got {split!r}")
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        if dev_mod < 0 or holdout_mod < 0 or (dev_mod and not holdout_mod):
            raise DataError(f"dev_mod={dev_mod} and holdout_mod={holdout_mod} must be >= 0, and a "
                            "dev split (dev_mod > 0) needs holdout_mod > 0 to be disjoint from "
                            "the evaluation rows")  # fmt: skip
        if split == "dev" and not dev_mod:
            raise DataError("split='dev' needs dev_mod > 0")
        if table is None:
            if path is None:
                raise DataError("DeltaIterableDataset needs a table path (or a resolved table)")
            table = resolve_table(path, version, storage_options)
        self.table = table
        self.features = features or FeatureSpec()
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.drop_unlabeled, self.split, self.holdout_mod = drop_unlabeled, split, int(holdout_mod)
        self.dev_mod = int(dev_mod)
        self.shuffle_buffer, self.read_rows = int(shuffle_buffer), int(read_rows)
        r, w = dist_rank_world()
        self.rank = r if rank is None else int(rank)
        self.world_size = w if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise DataError(f"rank {self.rank} is not in [0, world_size={self.world_size})")
        self.epoch = 0
        self.tasks = [(str(n), int(k)) for n, k in tasks] if tasks else None
        self.columns = self._check_schema()
        self.k = self._cardinality()
        self.embedding_dim = self._embedding_dim()

    # -- planning -------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's shuffle (call before iterating, like DistributedSampler)."""
        self.epoch = int(epoch)

    @property
    def num_rows(self) -> int:
        """Rows of the table version (before filtering)."""
        return self.table.num_rows

    def pieces(self, worker: int = 0, num_workers: int = 1) -> list[tuple[int, int, int]]:
        """(file index, start, stop) row ranges this rank's ``worker`` reads this epoch."""
        order = epoch_order(len(self.table.files), self.seed, self.epoch, self.shuffle)
        shard = self.rank * num_workers + worker
        return shard_pieces(self.table.rows, order, shard, self.world_size * num_workers)

    def _check_schema(self) -> list[str]:
        import pyarrow as pa

        schema, spec = self.table.schema, self.features
        names = set(schema.names)
        probs = [f"probs_{t}" for t, _ in self.tasks] if self.tasks else ["probs"]
        golds = [f"gold_{t}" for t, _ in self.tasks] if self.tasks else ["gold"]
        need = ["id", *probs, *spec.numeric_cols]
        if spec.text_col:
            need.append(spec.text_col)
        if spec.embedding_col:
            need.append(spec.embedding_col)
        if self.drop_unlabeled:
            need.append("n_votes")
        if self.split in ("eval", "dev") and not self.tasks:
            need.append("gold")
        if self.split in ("eval", "dev") and self.tasks and not names & set(golds):
            raise DataError(f"training table {self.table.path!r} has no gold column of any task "
                            f"({golds}): nothing to evaluate on")  # fmt: skip
        missing = [c for c in need if c not in names]
        if "probs" in missing and any(c.startswith("probs_") for c in names):
            raise DataError(
                f"training table {self.table.path!r} is a multi-task table (columns "
                f"{sorted(c for c in names if c.startswith('probs_'))}): train it with the task "
                "graph (wsup train --config <the run's config with its tasks section>, or "
                "train.tasks / tasks=)"
            )
        if missing:
            raise DataError(
                f"training table {self.table.path!r} lacks column(s) {missing}; it has "
                f"{sorted(names)}. Fix train.text_col / train.numeric_cols or the pipeline's "
                "output.features."
            )
        for c in probs:
            t = schema.field(c).type
            if not (pa.types.is_list(t) or pa.types.is_large_list(t)
                    or pa.types.is_fixed_size_list(t)):  # fmt: skip
                raise DataError(f"column {c!r} must be an array of floats, got {t}")
        for c in spec.numeric_cols:
            ct = schema.field(c).type
            if not (pa.types.is_integer(ct) or pa.types.is_floating(ct) or pa.types.is_boolean(ct)):
                raise DataError(f"numeric feature column {c!r} has type {ct}; expected a number")
        if spec.text_col and not (
            pa.types.is_string(schema.field(spec.text_col).type)
            or pa.types.is_large_string(schema.field(spec.text_col).type)
        ):
            raise DataError(f"text column {spec.text_col!r} must be a string column")
        if spec.embedding_col:
            et = schema.field(spec.embedding_col).type
            if not ((pa.types.is_list(et) or pa.types.is_large_list(et)
                     or pa.types.is_fixed_size_list(et))
                    and pa.types.is_floating(et.value_type)):  # fmt: skip
                raise DataError(f"embedding column {spec.embedding_col!r} has type {et}; expected "
                                "an array of floats (output.embedding writes one)")  # fmt: skip
        optional = [c for c in (*golds, "n_votes") if c in names]
        return list(dict.fromkeys([*need, *optional]))

    def _embedding_dim(self) -> int:
        """e: the length of the first non-null value of the embedding column (0 without one)."""
        col = self.features.embedding_col
        if not col:
            return 0
        for i, n in enumerate(self.table.rows):
            if n:
                for rb in read_piece(self.table.files[i], 0, n, [col]):
                    vals = rb.column(0).drop_null()
                    if len(vals):
                        return len(vals[0])
        raise DataError(f"embedding column {col!r} of {self.table.path!r} has no value")

    def _cardinality(self) -> int:
        if self.tasks:  # per task k from the config; each batch checks the lengths
            return max(k for _, k in self.tasks)
        for i, n in enumerate(self.table.rows):
            if n:
                rb = next(read_piece(self.table.files[i], 0, 1, ["probs"], batch_rows=1))
                k = len(rb.column(0)[0])
                if k < 2:
                    raise DataError(f"probs of {self.table.path!r} has length {k}; need >= 2")
                return k
        raise DataError(
            f"training table {self.table.path!r} (version {self.table.version}) is empty"
        )

    # -- iteration ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        shard = self.rank * num_workers + worker
        rng = np.random.default_rng([self.seed, self.epoch, shard, 1])
        target = max(self.shuffle_buffer, self.batch_size) if self.shuffle else self.batch_size
        buf: list[dict[str, Any]] = []
        buffered = 0
        for fi, start, stop in self.pieces(worker, num_workers):
            file_rng = (
                np.random.default_rng([self.seed, self.epoch, fi, 2]) if self.shuffle else None
            )
            for rb in read_piece(self.table.files[fi], start, stop, self.columns, self.read_rows,
                                 file_rng):  # fmt: skip
                chunk = self._prepare(rb)
                if chunk is None:
                    continue
                buf.append(chunk)
                buffered += len(chunk["id"])
                if buffered >= target:
                    yield from self._emit(buf, rng, final=False)
                    buffered = sum(len(c["id"]) for c in buf)
        yield from self._emit(buf, rng, final=True)

    def _emit(
        self, buf: list[dict[str, Any]], rng: np.random.Generator, final: bool
    ) -> Iterator[dict[str, torch.Tensor]]:
        if not buf:
            return
        cat = _concat(buf)
        buf.clear()
        n = len(cat["id"])
        perm = rng.permutation(n) if self.shuffle else np.arange(n)
        full = n - n % self.batch_size
        for s in range(0, full, self.batch_size):
            yield self._to_batch(_take(cat, perm[s : s + self.batch_size]))
        if full < n:
            rest = _take(cat, perm[full:])
            if final:
                yield self._to_batch(rest)
            else:
                buf.append(rest)

    def _prepare(self, rb: Any) -> dict[str, Any] | None:
        """Filter one record batch and turn its columns into numpy (text stays Arrow)."""
        import pyarrow.compute as pc

        names = rb.schema.names
        ids, key = _row_ids(rb.column(names.index("id")), self.table.path)
        n = len(ids)
        keep = np.ones(n, bool)
        n_votes = (
            np.asarray(pc.fill_null(rb.column(names.index("n_votes")), 0)).astype(np.int64)
            if "n_votes" in names
            else np.zeros(n, np.int64)
        )
        if self.drop_unlabeled:
            keep &= n_votes > 0
        golds: dict[str, np.ndarray] = {}
        for g in ([f"gold_{t}" for t, _ in self.tasks] if self.tasks else ["gold"]):
            if g in names:
                golds[g] = np.asarray(pc.fill_null(rb.column(names.index(g)), -1)).astype(np.int64)
            else:
                golds[g] = np.full(n, -1, np.int64)
        if self.split != "all":
            keep &= self._split_mask(key, golds)
        if not keep.any():
            return None
        out: dict[str, Any] = {"id": ids, **golds, "n_votes": n_votes}
        if self.tasks:
            for t, k in self.tasks:
                out[f"probs_{t}"], out[f"mask_{t}"] = self._task_probs(rb, t, k)
        else:
            out["probs"] = self._probs(rb)
        self._features(rb, out)
        if keep.all():
            return out
        return _take(out, np.flatnonzero(keep))

    def _split_mask(self, key: np.ndarray, golds: Mapping[str, np.ndarray]) -> np.ndarray:
        """(n,) bool: the rows of ``self.split`` among rows with split keys ``key`` (n,) uint64
        and gold columns ``golds`` (each (n,) int64, -1 unknown)."""
        gold = np.zeros(len(key), bool)
        for gv in golds.values():
            gold |= gv >= 0
        held, dev = gold, np.zeros(len(key), bool)
        if self.holdout_mod > 0:
            mod = np.uint64(self.holdout_mod)
            held = gold & (key % mod == 0)
            if self.dev_mod > 0:
                dev = gold & ~held & ((key // mod) % np.uint64(self.dev_mod) == 0)
        if self.split == "eval":
            return held
        if self.split == "dev":
            return dev
        return ~(held | dev)

    def _probs(self, rb: Any) -> np.ndarray:
        """(n, k) float32 of the ``probs`` column (no nulls allowed)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        names, n = rb.schema.names, rb.num_rows
        probs_col = rb.column(names.index("probs"))
        if probs_col.null_count:
            raise DataError(f"{probs_col.null_count} row(s) of {self.table.path!r} have null probs")
        lengths = np.asarray(pc.list_value_length(probs_col))
        if (lengths != self.k).any():
            raise DataError(
                f"probs of {self.table.path!r} must all have length k={self.k}; found "
                f"{sorted(set(lengths.tolist()))}"
            )
        flat = probs_col.flatten() if not pa.types.is_fixed_size_list(probs_col.type) else (
            probs_col.values.slice(probs_col.offset * self.k, n * self.k))  # fmt: skip
        return np.asarray(flat.to_numpy(zero_copy_only=False), np.float32).reshape(n, self.k)

    def _task_probs(self, rb: Any, task: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) float32 ``probs_<task>`` (zeros where null) and the (n,) mask of non-null."""
        col = rb.column(rb.schema.names.index(f"probs_{task}"))
        what = f"probs_{task} of {self.table.path!r} must all have length k={k} (the task's " \
               "cardinality)"  # fmt: skip
        return _list_matrix(col, k, what)

    def _features(self, rb: Any, out: dict[str, Any]) -> None:
        """Add the batch's ``numeric`` (n, f) float32 and ``text`` (Arrow) features to ``out``."""
        import pyarrow as pa

        names = rb.schema.names
        spec = self.features
        if spec.numeric_cols:
            out["numeric"] = np.stack(
                [
                    np.asarray(
                        rb.column(names.index(c)).cast(pa.float64()).to_numpy(zero_copy_only=False),
                        np.float32,
                    )
                    for c in spec.numeric_cols
                ],
                axis=1,
            )
        if spec.text_col:
            out["text"] = rb.column(names.index(spec.text_col))
        if spec.embedding_col:
            out["embedding"] = self._embedding(rb.column(names.index(spec.embedding_col)))

    def _embedding(self, col: Any) -> np.ndarray:
        """(n, e) float32 of an ``array<float>`` column; null rows are zeros."""
        what = f"embedding column {self.features.embedding_col!r} of {self.table.path!r} must " \
               f"have one length ({self.embedding_dim})"  # fmt: skip
        return _list_matrix(col, self.embedding_dim, what)[0]

    def _to_batch(self, c: dict[str, Any]) -> dict[str, torch.Tensor]:
        batch = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in c.items()
                 if k != "text"}  # fmt: skip
        if "text" in c:
            spec = self.features
            h = hash_ngrams(c["text"], spec.buckets, spec.word_ngrams, spec.char_ngrams,
                            spec.lowercase, spec.strip_punct)  # fmt: skip
            batch["tokens"] = torch.from_numpy(h.ids)
            batch["offsets"] = torch.from_numpy(h.offsets[:-1].copy())
            if spec.char_ngrams[1] > 0:
                batch["char_tokens"] = torch.from_numpy(h.char_ids)
                batch["char_offsets"] = torch.from_numpy(h.char_offsets[:-1].copy())
                batch["token_word"] = torch.from_numpy(h.token_word)
                batch["token_row"] = torch.from_numpy(h.token_row)
        return batch

    def sample_numeric(self, max_rows: int = 100_000) -> np.ndarray:
        """The first ``max_rows`` numeric feature rows of this split, in table order.

        Identical on every rank and worker (used to fit feature standardisation).

        Returns
        -------
        (m, f) float32, NaN where null
        """
        if not self.features.numeric_cols:
            return np.zeros((0, 0), np.float32)
        got: list[np.ndarray] = []
        rows = 0
        for fi, n in enumerate(self.table.rows):
            for rb in read_piece(self.table.files[fi], 0, n, self.columns, self.read_rows):
                c = self._prepare(rb)
                if c is not None:
                    got.append(c["numeric"])
                    rows += len(c["numeric"])
                if rows >= max_rows:
                    return np.concatenate(got)[:max_rows]
        if not got:
            return np.zeros((0, len(self.features.numeric_cols)), np.float32)
        return np.concatenate(got)


def _row_ids(col: Any, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids (n,) int64, split key (n,) uint64) of an id column (integers or strings)."""
    import pyarrow as pa

    if col.null_count:
        raise DataError(f"column 'id' of {path!r} has {col.null_count} null(s); ids must be set")
    if pa.types.is_integer(col.type):
        ids = np.asarray(col.to_numpy(zero_copy_only=False), np.int64)
        return ids, hash_ints(ids)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        h = hash_strings(col)
        return (h & _MASK63).astype(np.int64), h
    raise DataError(f"column 'id' of {path!r} has type {col.type}; expected integers or strings")


def _list_matrix(col: Any, width: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """An Arrow list column → ((n, width) float32 with zeros where null, (n,) non-null mask).

    Raises DataError ``what`` + the lengths found when a value's length is not ``width``.
    """
    import pyarrow.compute as pc

    valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
    out = np.zeros((len(col), width), np.float32)
    if valid.any():
        vals = col.drop_null()
        lengths = np.asarray(pc.list_value_length(vals))
        if (lengths != width).any():
            raise DataError(f"{what}; found {sorted(set(lengths.tolist()))}")
        flat = np.asarray(vals.flatten().to_numpy(zero_copy_only=False), np.float32)
        out[valid] = flat.reshape(int(valid.sum()), width)
    return out, valid


def _concat(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    import pyarrow as pa

    if len(chunks) == 1:
        return chunks[0]
    out: dict[str, Any] = {}
    for k in chunks[0]:
        vals = [c[k] for c in chunks]
        out[k] = pa.concat_arrays(vals) if k == "text" else np.concatenate(vals)
    return out


def _take(c: dict[str, Any], idx: np.ndarray) -> dict[str, Any]:
    import pyarrow as pa

    return {k: (v.take(pa.array(idx)) if k == "text" else v[idx]) for k, v in c.items()}
