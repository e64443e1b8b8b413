"""WRENCH label-model benchmark: fit on the train split's weak labels only, score the test split.

    python scripts/bench_wrench.py [--data ../shared/data/wrench] [--repeat 5] [--out bench.json]
                                   [--split test|train]

Every model is fit from ``LFStats`` of the train split (no gold labels, no per-set settings: one
default configuration; the one exception, marked "valid balance", is given the class balance of
the valid split's gold labels, as a small labelled dev set would give it) and scored on the test
split with WRENCH's deterministic tie-break (among classes within 1e-5 of the row max pick index
int(sha1(str(i)), 16) % n_tied). Fit times are the minimum over ``--repeat`` fits (the machine is
shared). Protocol and published numbers:
../shared/data/README.md.

``--split train`` scores the train split instead (transductive: the rows the model was fit on,
gold labels used only to score), the published rows are then left out. It exists because the LF
votes of sms's valid and test splits carry no signal about their gold labels (``split_signal``:
rows voted spam only are 18% spam on test, 98% on train; per-vote accuracy 0.795 on test, about
what votes independent of the label give), so sms test F1 measures how many rows a model sends to
spam at random, not how well it reads the LFs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from wsup_spark import LabelModel, LFStats, MajorityVote
from wsup_spark.labelmodel import DawidSkene

SETS = {"youtube": (2, "acc"), "sms": (2, "f1"), "trec": (6, "acc")}
PUBLISHED = {
    "majority vote": (84.00, 23.97, 60.80), "weighted MV": (78.00, 23.97, 57.20),
    "Dawid-Skene": (83.20, 4.94, 50.00), "data programming": (82.00, 23.78, 64.20),
    "MeTaL (Snorkel)": (84.00, 7.06, 57.60), "FlyingSquid": (76.80, 0.00, 31.40),
}  # fmt: skip
BEST_PUBLISHED = tuple(max(v[i] for v in PUBLISHED.values()) for i in range(3))
MODELS: dict[str, Callable[[int], Any]] = {
    "majority vote (ours)": MajorityVote,
    "weighted MV (ours)": lambda k: LabelModel(k, shrinkage=False, balance="uniform"),
    "LabelModel balance=est.": lambda k: LabelModel(k, balance="estimate"),
    "Dawid-Skene (ours)": DawidSkene,
    "LabelModel structure=none": lambda k: LabelModel(k, structure="none"),
    "LabelModel valid balance": LabelModel,
    "LabelModel (ours)": LabelModel,
}
DEV_BALANCE = "LabelModel valid balance"  # fit with the valid split's gold class balance
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wrench"


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = list(json.loads(path.read_text()).values())
    return np.array([r["weak_labels"] for r in rows]), np.array([r["label"] for r in rows])


def wrench_argmax(P: np.ndarray) -> np.ndarray:
    out = np.empty(len(P), np.int64)
    for i, row in enumerate(P):
        tied = np.flatnonzero(row >= row.max() - 1e-5)
        out[i] = tied[int(hashlib.sha1(str(i).encode()).hexdigest(), 16) % len(tied)]
    return out


def score(pred: np.ndarray, y: np.ndarray, metric: str) -> float:
    if metric == "acc":
        return float((pred == y).mean() * 100)
    tp = ((pred == 1) & (y == 1)).sum()
    fp = ((pred == 1) & (y == 0)).sum()
    fn = ((pred == 0) & (y == 1)).sum()
    return float(200 * tp / max(2 * tp + fp + fn, 1))


def split_signal(L: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """How much an (n, m) split's LF votes say about its gold labels ``y`` (n,).

    ``vote_accuracy``: the share of all votes that equal the row's label; ``label_agnostic``: the
    same share if every vote were independent of the label (``Σ_a P(vote = a) P(Y = a)``), the
    value a split whose votes carry no signal has.
    """
    voted = L >= 0
    k = int(max(L.max(), y.max())) + 1
    votes = np.bincount(L[voted], minlength=k) / max(int(voted.sum()), 1)
    prior = np.bincount(y, minlength=k) / max(len(y), 1)
    return {
        "vote_accuracy": float((L == y[:, None]).sum() / max(int(voted.sum()), 1)),
        "label_agnostic": float(votes @ prior),
    }


def evaluate(
    data: Path, repeat: int = 1, split: str = "test"
) -> dict[str, dict[str, dict[str, Any]]]:
    """{dataset: {model: {"score", "fit_s", "info"}}} for the WRENCH sets found under ``data``,
    scored on ``split`` ("test", or "train": the rows the model was fit on)."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for ds, (k, metric) in SETS.items():
        if not (data / ds / "train.json").exists():
            continue
        Ltr, _ = load_split(data / ds / "train.json")
        Lte, yte = load_split(data / ds / f"{split}.json")
        stats = LFStats.from_matrix(Ltr, k, patterns=True)  # Dawid-Skene needs the patterns
        valid = data / ds / "valid.json"
        results[ds] = {}
        for name, make in MODELS.items():
            kw: dict[str, Any] = {}
            if name == DEV_BALANCE:
                if not valid.exists():
                    continue
                kw["class_balance"] = np.bincount(load_split(valid)[1], minlength=k) + 1e-9
            best = float("inf")
            for _ in range(max(repeat, 1)):
                t0 = time.perf_counter()
                model = make(k).fit(stats, **kw)
                best = min(best, time.perf_counter() - t0)
            s = score(wrench_argmax(model.predict_proba(Lte)), yte, metric)
            info = getattr(model, "fit_info", {})
            results[ds][name] = {"score": s, "fit_s": best, "balance": info.get("balance"),
                                 "overdispersion": info.get("overdispersion")}  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=5, help="fits per model (min time kept)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument(
        "--split", choices=("test", "train"), default="test",
        help="split to score (train: transductive, no published numbers to compare)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # per-fit LF warnings would flood the table
    results = evaluate(args.data, args.repeat, args.split)
    for ds in SETS:
        if ds not in results:
            print(f"skip {ds}: no {args.data / ds / 'train.json'}")
    names = list(SETS)
    print(f"{'model':<26}" + "".join(f"{n + ' ' + SETS[n][1]:>14}" for n in names) + f"{'avg':>8}")
    for model in MODELS:
        vals = [results.get(n, {}).get(model, {}).get("score", float("nan")) for n in names]
        fits = [results.get(n, {}).get(model, {}).get("fit_s", float("nan")) for n in names]
        print(f"{model:<26}" + "".join(f"{v:>14.2f}" for v in vals) + f"{np.mean(vals):>8.2f}"
              + "   fit s (min): " + ", ".join(f"{f:.3f}" for f in fits))  # fmt: skip
    if args.split == "test":  # the published numbers are test-split scores
        for model, vals in PUBLISHED.items():
            print(f"{model + ' (pub.)':<26}" + "".join(f"{v:>14.2f}" for v in vals)
                  + f"{np.mean(vals):>8.2f}")  # fmt: skip
        print(f"{'best published per set':<26}" + "".join(f"{v:>14.2f}" for v in BEST_PUBLISHED)
              + f"{np.mean(BEST_PUBLISHED):>8.2f}")  # fmt: skip
    lm = results and {n: results[n]["LabelModel (ours)"] for n in results}
    if lm:
        print("LabelModel fit details: " + "; ".join(
            f"{n}: balance {v['balance']}, overdispersion {v['overdispersion']:.1f}"
            for n, v in lm.items()))  # fmt: skip
    signal = {n: split_signal(*load_split(args.data / n / f"{args.split}.json")) for n in results}
    if signal:
        print(f"LF votes vs gold on the {args.split} split (vote accuracy / if votes ignored the "
              "label): " + "; ".join(f"{n}: {v['vote_accuracy']:.3f} / {v['label_agnostic']:.3f}"
                                     for n, v in signal.items()))  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
