"""The chest X-ray demo as two tasks: ``abnormal`` (NORMAL/ABNORMAL) → ``finding`` (its type).

``finding`` is defined only for abnormal reports (N/A for normal ones). The abnormal task keeps
the demo's LFs (:data:`~wsup_spark.demo.radiology_lfs.LFS`); the finding task has its own
(:data:`~wsup_spark.demo.radiology_lfs.FINDING_LFS`), and every finding vote also implies
ABNORMAL. Gold: the synthetic corpus's ``gold`` and ``finding`` columns
(:func:`~wsup_spark.demo.radiology.finding_types`).

    python -m wsup_spark.demo.radiology_multitask [--rows 20000] [--seed 0]

prints per-task accuracy on the synthetic gold of the joint (multi-task) label model, one
independent single-task label model per task (its own LFs only), and majority vote per task.
The pipeline runs the same two tasks from ``conf/radiology_multitask.yaml``.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import numpy as np

from wsup_spark.demo.radiology import FINDING_TYPES, finding_types, generate_reports
from wsup_spark.demo.radiology_lfs import FINDING_LFS, LFS
from wsup_spark.labelmodel.baselines import MajorityVote
from wsup_spark.labelmodel.model import LabelModel
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats
from wsup_spark.stats.lfstats import LFStats
from wsup_spark.tasks import NA, Task, TaskGraph

#: The ``tasks`` config section of the demo (``conf/radiology_multitask.yaml``).
TASKS: list[dict[str, Any]] = [
    {"name": "abnormal", "cardinality": 2, "class_names": ["NORMAL", "ABNORMAL"],
     "lfs": ["wsup_spark.demo.radiology_lfs:LFS"], "gold_col": "gold"},
    {"name": "finding", "cardinality": len(FINDING_TYPES), "class_names": list(FINDING_TYPES),
     "parent": "abnormal", "active_when": ["ABNORMAL"],
     "lfs": ["wsup_spark.demo.radiology_lfs:FINDING_LFS"], "gold_col": "finding"},
]  # fmt: skip


def task_graph() -> TaskGraph:
    """``abnormal`` (2) → ``finding`` (5 types, defined when ABNORMAL).

    Examples
    --------
    >>> task_graph().feasible.tolist()[:3]
    [[0, -1], [1, 0], [1, 1]]
    """
    return TaskGraph([
        Task("abnormal", 2, ("NORMAL", "ABNORMAL")),
        Task("finding", len(FINDING_TYPES), FINDING_TYPES, parent="abnormal", active_when=(1,)),
    ])  # fmt: skip


def votes(n_rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """In-memory votes and gold of the first ``n_rows`` reports: ``L`` (n, m) (abnormal LFs,
    then finding LFs), ``y_abnormal`` (n,), ``y_finding`` (n,) (-1 for normal reports)."""
    import pandas as pd

    from wsup_spark.lf.kernel import apply_lfs_local

    ids = np.arange(n_rows)
    rep = generate_reports(ids, seed)
    df = pd.DataFrame({"id": ids, "text": rep["text"]})
    La = apply_lfs_local(df, LFS, 2)
    Lf = apply_lfs_local(df, FINDING_LFS, len(FINDING_TYPES))
    return {"L": np.hstack([La, Lf]), "m_abnormal": np.array(La.shape[1]),
            "y_abnormal": rep["gold"].astype(np.int64),
            "y_finding": finding_types(ids, seed).astype(np.int64)}  # fmt: skip


def compare(n_rows: int = 20_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per method (joint, independent, majority vote): accuracy on ``abnormal``, on ``finding``
    over the abnormal reports, and on ``finding`` with N/A as a value (every report; a method
    says N/A when its abnormal prediction is NORMAL). Fits on the rows' votes only."""
    data = votes(n_rows, seed)
    L, ma = data["L"], int(data["m_abnormal"])
    ya, yf = data["y_abnormal"], data["y_finding"]
    has = yf >= 0
    g = task_graph()
    tasks = ["abnormal"] * ma + ["finding"] * (L.shape[1] - ma)
    stats = MultiTaskStats.from_matrix(L, g, tasks)
    joint = MultiTaskLabelModel(g).fit(stats).predict(L)
    preds = {"joint": (joint[:, 0], joint[:, 1])}
    k = len(FINDING_TYPES)
    for name, cls in (("independent", LabelModel), ("majority vote", MajorityVote)):
        a = cls(2).fit(LFStats.from_matrix(L[:, :ma], 2)).predict(L[:, :ma])
        f = cls(k).fit(LFStats.from_matrix(L[:, ma:], k)).predict(L[:, ma:])
        preds[name] = (a, np.where(a == 1, f, NA))
    out = {}
    for name, (a, f) in preds.items():
        out[name] = {
            "abnormal": float((a == ya).mean() * 100),
            "finding_on_abnormal": float((f[has] == yf[has]).mean() * 100),
            "finding_with_na": float((f == yf).mean() * 100),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    res = compare(args.rows, args.seed)
    print(f"synthetic X-ray reports, {args.rows} rows, seed {args.seed}: accuracy (%) on gold")
    print(f"{'method':<16}{'abnormal':>10}{'finding | abnormal':>20}{'finding, N/A incl.':>20}")
    for name, r in res.items():
        print(f"{name:<16}{r['abnormal']:>10.1f}{r['finding_on_abnormal']:>20.1f}"
              f"{r['finding_with_na']:>20.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
