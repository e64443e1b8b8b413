"""Multi-task (MeTaL) benchmark on TREC: coarse (6) and fine (50) question types.

    python scripts/bench_multitask.py --data ../shared/data/trec_multitask --predictions OUT.jsonl

Fits on the train split's weak labels only (the 68 WRENCH LFs vote the coarse task, the regex LFs
of :mod:`wsup_spark.demo.trec_fine` vote the fine task; no gold label enters the fit), predicts
the test split and writes one JSON line per test row and method::

    {"id": "<row id>", "method": "joint" | "independent", "coarse": int, "fine": "NUM:count"}

"independent" = one single-task LabelModel per task with only that task's LFs; "joint" = the
multi-task label model over the 50 feasible (coarse, fine) vectors. Prints coarse and fine accuracy
of both on the valid split (fine over the rows with a fine tag) and the fit times (minimum over
``--repeat`` fits; the machine is shared). Predictions are the argmax of each task's marginal
(lowest index on ties).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from wsup_spark import LabelModel
from wsup_spark.demo.trec_fine import (
    COARSE_CLASSES,
    FINE_CLASSES,
    RULES,
    fine_votes,
    trec_task_graph,
)
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec_multitask"


def load_split(path: Path) -> dict[str, Any]:
    """ids, (n, 68 + m_fine) votes, coarse gold (n,), fine gold (n,) (-1 where missing)."""
    data = json.loads(path.read_text())
    rows = list(data.values())
    coarse = np.array([r["weak_labels"] for r in rows], np.int16).reshape(len(rows), -1)
    fine = fine_votes([r["data"]["text"] for r in rows])
    y_fine = np.array([FINE_CLASSES.index(r["fine"]) if r.get("fine") else -1 for r in rows])
    return {"ids": list(data), "L": np.hstack([coarse, fine]), "m_coarse": coarse.shape[1],
            "y_coarse": np.array([r["label"] for r in rows]), "y_fine": y_fine}  # fmt: skip


def _timed(fit: Any, repeat: int) -> tuple[Any, float]:
    best, model = float("inf"), None
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        model = fit()
        best = min(best, time.perf_counter() - t0)
    return model, best


def run(data: Path, predictions: Path | None, repeat: int = 3) -> dict[str, Any]:
    """Fit both methods on train; score valid; write test predictions. Returns the numbers."""
    labels = json.loads((data / "label.json").read_text())
    if tuple(labels["coarse"]) != COARSE_CLASSES or tuple(labels["fine"]) != FINE_CLASSES:
        raise SystemExit("label.json class orders differ from wsup_spark.demo.trec_fine's")
    graph = trec_task_graph()
    tr, va, te = (load_split(data / f"{s}.json") for s in ("train", "valid", "test"))
    m_c = tr["m_coarse"]
    lf_tasks = ["coarse"] * m_c + ["fine"] * (tr["L"].shape[1] - m_c)
    names = [f"wrench_{i}" for i in range(m_c)] + [r[0] for r in RULES]
    t0 = time.perf_counter()
    stats = MultiTaskStats.from_matrix(tr["L"], graph, lf_tasks, names)
    stats_s = time.perf_counter() - t0
    joint, joint_s = _timed(lambda: MultiTaskLabelModel(graph).fit(stats), repeat)
    coarse_only, c_s = _timed(lambda: LabelModel(6).fit(stats.task_stats("coarse")), repeat)
    fine_only, f_s = _timed(lambda: LabelModel(50).fit(stats.task_stats("fine")), repeat)

    def predict(split: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        L = split["L"]
        marg = joint.predict_proba(L)
        return {
            "joint": (marg["coarse"].argmax(1), marg["fine"].argmax(1)),
            "independent": (coarse_only.predict(L[:, :m_c]), fine_only.predict(L[:, m_c:])),
        }

    out: dict[str, Any] = {"fit_s": {"joint": joint_s, "independent": c_s + f_s},
                           "stats_s": stats_s, "fit_info": joint.fit_info}  # fmt: skip
    has = va["y_fine"] >= 0
    parent_of = np.array(graph.task("fine").parent_of)  # fine index -> coarse index
    for method, (pc, pf) in predict(va).items():
        out[method] = {
            "coarse": float((pc == va["y_coarse"]).mean() * 100),
            "fine": float((pf[has] == va["y_fine"][has]).mean() * 100),
            "fine_implied_coarse": float((parent_of[pf] == va["y_coarse"]).mean() * 100),
        }
    if predictions is not None:
        with open(predictions, "w") as f:
            for method, (pc, pf) in predict(te).items():
                for rid, c, fi in zip(te["ids"], pc.tolist(), pf.tolist(), strict=True):
                    rec = {"id": rid, "method": method, "coarse": int(c), "fine": FINE_CLASSES[fi]}
                    f.write(json.dumps(rec) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--predictions", type=Path, default=None, help="test predictions (JSONL)")
    ap.add_argument("--repeat", type=int, default=3, help="fits per model (min time kept)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if not (args.data / "train.json").exists():
        print(f"no {args.data / 'train.json'}: nothing to do")
        return 1
    res = run(args.data, args.predictions, args.repeat)
    print("valid split accuracy (%)      coarse    fine")
    for method in ("independent", "joint"):
        print(f"{method:<28}{res[method]['coarse']:>8.1f}{res[method]['fine']:>8.1f}")
    gain = {t: res["joint"][t] - res["independent"][t] for t in ("coarse", "fine")}
    print(f"{'joint - independent':<28}{gain['coarse']:>+8.1f}{gain['fine']:>+8.1f}")
    print("(independent coarse = the single-task coarse model with the 68 WRENCH LFs alone)")
    print(f"fit s (min of {args.repeat}): joint {res['fit_s']['joint']:.3f}, independent "
          f"{res['fit_s']['independent']:.3f} (coarse + fine); statistics "
          f"{res['stats_s']:.3f}")  # fmt: skip
    info = res["fit_info"]
    levels = info.get("levels", {})
    parts = []
    for name, lv in levels.items():
        part = (f"{name} level: {lv['lfs']} LFs, balance {lv.get('balance')}, "
                f"overdispersion {lv.get('overdispersion', float('nan')):.1f}")  # fmt: skip
        if lv.get("anchored_lfs"):
            part += f", {lv['anchored_lfs']} own LFs at their agreement with child-task LFs"
        parts.append(part)
    print(f"joint fit: {info.get('method', 'moments')}; " + "; ".join(parts))
    if args.predictions:
        print(f"wrote {args.predictions}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
