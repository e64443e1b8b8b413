"""The X-ray demo's task hierarchy: finding gold, finding LFs, the comparison script, the config."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wsup_spark.config import load_config
from wsup_spark.demo import radiology as R
from wsup_spark.demo.radiology_multitask import TASKS, compare, task_graph

ROOT = Path(__file__).resolve().parents[2]


def test_finding_gold_is_the_first_finding_sentence_type() -> None:
    ids = np.arange(3000)
    rep = R.generate_reports(ids, seed=2)
    f = R.finding_types(ids, seed=2)
    assert ((f >= 0) == (rep["gold"] == 1)).all()
    banks = [(R.FINDINGS, R.FINDINGS_TYPE), (R.HEDGED, R.HEDGED_TYPE),
             (R.SHORT_ABNORMAL, R.SHORT_ABNORMAL_TYPE)]  # fmt: skip
    sentences = [(s, int(t)) for bank, types in banks for s, t in zip(bank, types, strict=True)]
    for text, t in zip(rep["text"][f >= 0], f[f >= 0], strict=True):
        hits = [(text.find(s), typ) for s, typ in sentences if s in text]
        assert min(hits)[1] == t  # the type of the report's first finding sentence


def test_config_tasks_match_the_demo_and_build_its_graph() -> None:
    cfg = load_config(ROOT / "conf" / "radiology_multitask.yaml")
    assert [dict(t) for t in cfg.tasks.tasks] == TASKS
    from wsup_spark.config import task_graph_of

    assert task_graph_of(cfg.tasks) == task_graph()


def test_compare_reports_three_methods() -> None:
    res = compare(n_rows=3000, seed=1)
    assert set(res) == {"joint", "independent", "majority vote"}
    for r in res.values():
        assert all(0.0 <= v <= 100.0 for v in r.values())
        assert r["abnormal"] > 70.0 and r["finding_on_abnormal"] > 50.0
