"""WRENCH label-model benchmark: fit on the train split's weak labels only, score the test split.

    python scripts/bench_wrench.py [--data ../shared/data/wrench] [--out bench_wrench.json]

Protocol and published numbers: ../shared/data/README.md (WRENCH's deterministic tie-break:
among classes within 1e-5 of the row max pick index int(sha1(str(i)), 16) % n_tied).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from wsup_spark import LabelModel, LFStats, MajorityVote

SETS = {"youtube": (2, "acc"), "sms": (2, "f1"), "trec": (6, "acc")}
PUBLISHED = {
    "majority vote": (84.00, 23.97, 60.80), "weighted MV": (78.00, 23.97, 57.20),
    "Dawid-Skene": (83.20, 4.94, 50.00), "data programming": (82.00, 23.78, 64.20),
    "MeTaL (Snorkel)": (84.00, 7.06, 57.60), "FlyingSquid": (76.80, 0.00, 31.40),
}  # fmt: skip


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "wrench"
    ap.add_argument("--data", type=Path, default=default)
    ap.add_argument("--out", default="bench_wrench.json")
    args = ap.parse_args(argv)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for ds, (k, metric) in SETS.items():
        if not (args.data / ds / "train.json").exists():
            print(f"skip {ds}: no {args.data / ds / 'train.json'}")
            continue
        Ltr, _ = load_split(args.data / ds / "train.json")
        Lte, yte = load_split(args.data / ds / "test.json")
        stats = LFStats.from_matrix(Ltr, k)
        results[ds] = {}
        for name, model in (("majority vote (ours)", MajorityVote(k)),
                            ("LabelModel (ours)", LabelModel(k))):  # fmt: skip
            t0 = time.perf_counter()
            model.fit(stats)
            fit_s = time.perf_counter() - t0
            results[ds][name] = {"score": score(wrench_argmax(model.predict_proba(Lte)), yte,
                                                metric), "fit_s": fit_s}  # fmt: skip
    names = list(SETS)
    print(f"{'model':<24}" + "".join(f"{n + ' ' + SETS[n][1]:>14}" for n in names) + f"{'avg':>8}")
    for model in ("majority vote (ours)", "LabelModel (ours)"):
        vals = [results.get(n, {}).get(model, {}).get("score", float("nan")) for n in names]
        fits = [results.get(n, {}).get(model, {}).get("fit_s", float("nan")) for n in names]
        print(f"{model:<24}" + "".join(f"{v:>14.2f}" for v in vals) + f"{np.mean(vals):>8.2f}"
              + "   fit s: " + ", ".join(f"{f:.3f}" for f in fits))  # fmt: skip
    for model, vals in PUBLISHED.items():
        print(f"{model + ' (pub.)':<24}" + "".join(f"{v:>14.2f}" for v in vals)
              + f"{np.mean(vals):>8.2f}")  # fmt: skip
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
