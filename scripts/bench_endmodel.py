"""End model vs label model vs majority vote on held-out gold rows, and training throughput.

    python scripts/bench_endmodel.py --config conf/demo.yaml [--set train.epochs=3] [--skip-run]
    python scripts/bench_endmodel.py --config conf/youtube.yaml

Steps (each timed):

1. ``wsup run`` for the config (skipped with ``--skip-run`` when the tables exist): votes, labels
   and the training table ``<output.path>/train``.
2. **Reader throughput**: one pass of :class:`DeltaIterableDataset` over the training table
   (Parquet → hashed n-gram ids and tensors, no model), with 0 and 2 DataLoader workers.
3. **Training**: ``train_from_config`` (the same code path as ``wsup train``); rows/s of the
   training loop (read + forward + backward + step) over all epochs.
4. **Accuracy table** on the trainer's held-out gold rows (``hash(id) % train.holdout_mod == 0``):
   the end model and the label model from the trainer's metrics, and majority vote recomputed from
   the votes table on exactly those rows (ties and rows without votes → class 0, i.e. argmax with
   the lowest index, like ``MajorityVote.predict``).

Prints a compact table and writes a JSON result (``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def reader_rows_per_s(table: str, spec: Any, batch_size: int, workers: int) -> dict[str, float]:
    """One full pass of the training table through the dataset (every row, no model)."""
    import torch

    from wsup_spark.endmodel.dataset import DeltaIterableDataset

    ds = DeltaIterableDataset(table, features=spec, batch_size=batch_size, shuffle=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
    t0 = time.perf_counter()
    rows = sum(int(b["probs"].shape[0]) for b in loader)
    dt = time.perf_counter() - t0
    return {"workers": workers, "rows": rows, "seconds": dt, "rows_per_s": rows / dt}


def majority_vote_on_eval(
    out_path: str, train_table: str, holdout_mod: int, k: int
) -> dict[str, Any]:
    """MV accuracy/F1 on the gold rows the trainer holds out (same id hash as the dataset)."""
    import pyarrow as pa

    from wsup_spark.endmodel.dataset import _row_ids
    from wsup_spark.endmodel.evaluate import scores
    from wsup_spark.io.delta import read_arrow
    from wsup_spark.labelmodel import MajorityVote
    from wsup_spark.spark.apply import arrow_votes_matrix

    votes = read_arrow(f"{out_path}/votes").select(["id", "votes"]).combine_chunks()
    batch = votes.to_batches()[0]
    L = arrow_votes_matrix(batch, len(batch.column("votes")[0]))
    pred_all = MajorityVote(k).predict(L)  # ties and rows without votes → lowest class
    mv = pa.table({"id": votes.column("id"), "mv": pred_all})
    train = read_arrow(train_table).select(["id", "gold"])
    joined = train.join(mv, "id", join_type="inner")
    gold = np.asarray(joined.column("gold").fill_null(-1).to_numpy(), np.int64)
    _, key = _row_ids(joined.column("id").combine_chunks(), train_table)
    held = gold >= 0
    if holdout_mod > 0:
        held &= key % np.uint64(holdout_mod) == 0
    g, pred = gold[held], np.asarray(joined.column("mv").to_numpy(), np.int64)[held]
    conf = np.zeros((k, k), np.int64)
    np.add.at(conf, (g, pred), 1)
    s = scores(conf)
    return {"n_eval_gold": int(held.sum()), "majority_vote_accuracy": s["accuracy"],
            "majority_vote_f1": s["f1"]}  # fmt: skip


def gold_ceiling(cfg: Any, train_table: str, tmp: str) -> dict[str, Any]:
    """The same model trained on one-hot *gold* labels (rows with gold only): the supervised
    ceiling the weak labels are compared with. Held-out rows are the same (same id hash)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from wsup_spark.endmodel.trainer import train_from_config
    from wsup_spark.io.delta import read_arrow

    t = read_arrow(train_table)
    t = t.filter(t.column("gold").is_valid())
    gold = np.asarray(t.column("gold").to_numpy(), np.int64)
    k = len(t.column("probs")[0])
    onehot = np.eye(k)[gold]
    t = t.set_column(t.schema.get_field_index("probs"), "probs",
                     pa.array(list(onehot), pa.list_(pa.float64())))  # fmt: skip
    write_deltalake(tmp, t, mode="overwrite")
    raw = {**dict(cfg.train), "table": tmp, "checkpoint_dir": None}
    return train_from_config(raw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--skip-run", action="store_true", help="reuse the existing tables")
    ap.add_argument(
        "--ceiling",
        action="store_true",
        help="also train the same model on gold labels (the supervised ceiling)",
    )
    ap.add_argument("--out", default=None, help="JSON result (default bench_endmodel_<name>.json)")
    args = ap.parse_args(argv)

    from wsup_spark.config import load_config
    from wsup_spark.endmodel.config import TrainConfig
    from wsup_spark.endmodel.dataset import FeatureSpec
    from wsup_spark.endmodel.trainer import train_from_config

    cfg = load_config(args.config, args.overrides)
    out_path = str(cfg.output.path).rstrip("/")
    result: dict[str, Any] = {"config": args.config, "overrides": args.overrides,
                              "machine": f"{platform.machine()} {platform.node()}"}  # fmt: skip
    if not args.skip_run:
        from wsup_spark.pipeline import run_pipeline

        t0 = time.perf_counter()
        res = run_pipeline(cfg)
        result["pipeline_seconds"] = time.perf_counter() - t0
        result["pipeline_rows"] = res.n_rows
    tcfg = TrainConfig.from_dict({"table": f"{out_path}/train", **dict(cfg.train)})
    text_col = tcfg.text_col if tcfg.model != "numeric" else None
    spec = FeatureSpec(text_col, tcfg.numeric_cols, tcfg.buckets, tcfg.word_ngrams,
                       tcfg.char_ngrams)  # fmt: skip
    result["reader"] = [reader_rows_per_s(tcfg.table, spec, tcfg.batch_size, w) for w in (0, 2)]
    metrics = train_from_config(cfg)
    result["train"] = metrics
    result["majority_vote"] = majority_vote_on_eval(
        out_path, tcfg.table, tcfg.holdout_mod, int(cfg.lfs.cardinality)
    )
    if args.ceiling:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            result["gold_ceiling"] = gold_ceiling(cfg, tcfg.table, f"{tmp}/gold_train")
    assert result["majority_vote"]["n_eval_gold"] == metrics["n_eval_gold"], (
        "MV and the trainer evaluated different rows"
    )

    print(f"\n{args.config}  {' '.join(args.overrides)}")
    for r in result["reader"]:
        print(
            f"reader  workers={r['workers']}  {r['rows']:>9,} rows  "
            f"{r['rows_per_s']:>10,.0f} rows/s"
        )
    print(
        f"train   {metrics['epochs']} epoch(s) on {metrics['device']}  "
        f"{metrics['train_rows_per_epoch']:,} rows/epoch  "
        f"{metrics['train_rows_per_s']:,.0f} rows/s"
    )
    n, unc = metrics["n_eval_gold"], metrics["n_eval_uncovered"]
    print(f"\nheld-out gold rows: {n:,} ({unc:,} with no LF vote)")
    print(f"{'':16}{'accuracy':>10}{'F1':>8}{'acc (no votes)':>16}")
    mv = result["majority_vote"]
    print(
        f"{'majority vote':16}{mv['majority_vote_accuracy']:>10.4f}{mv['majority_vote_f1']:>8.4f}"
    )
    for name, key in (("label model", "label_model"), ("end model", "end_model")):
        print(f"{name:16}{metrics[f'{key}_accuracy']:>10.4f}{metrics[f'{key}_f1']:>8.4f}"
              f"{metrics[f'{key}_uncovered_accuracy']:>16.4f}")  # fmt: skip
    if "gold_ceiling" in result:
        c = result["gold_ceiling"]
        assert c["n_eval_gold"] == n, "the ceiling was evaluated on different rows"
        print(f"{'(gold-trained)':16}{c['end_model_accuracy']:>10.4f}{c['end_model_f1']:>8.4f}"
              f"{c['end_model_uncovered_accuracy']:>16.4f}")  # fmt: skip
    out = args.out or f"bench_endmodel_{Path(args.config).stem}.json"
    Path(out).write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
