"""TREC coarse/fine demo: the fine LFs and the bench script (skip without the shared data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from script_modules import load_script

from wsup_spark.demo.trec_fine import FINE_CLASSES, RULES, fine_votes, trec_task_graph

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "trec_multitask"
needs_data = pytest.mark.skipif(
    not (DATA / "train.json").exists(), reason=f"TREC multi-task data not found at {DATA}"
)


def test_fine_lfs_vote_their_patterns() -> None:
    texts = ["How many people live in Chile ?", "what city hosted the 1992 olympics ?",
             "Who wrote Hamlet ?", "why is the sky blue ?", "a plain sentence"]  # fmt: skip
    V = fine_votes(texts)
    assert V.shape == (5, len(RULES)) and (V[4] == -1).all()
    voted = [{FINE_CLASSES[v] for v in row if v >= 0} for row in V]
    assert "NUM:count" in voted[0] and "LOC:city" in voted[1]
    assert "HUM:ind" in voted[2] and "DESC:reason" in voted[3]
    assert trec_task_graph().n_joint == 50


@needs_data
def test_label_orders_match_the_data() -> None:
    labels = json.loads((DATA / "label.json").read_text())
    assert tuple(labels["fine"]) == FINE_CLASSES
    assert trec_task_graph().task("coarse").class_names == tuple(labels["coarse"])


@needs_data
def test_fine_lfs_are_precise_on_train() -> None:
    rows = list(json.loads((DATA / "train.json").read_text()).values())
    V = fine_votes([r["data"]["text"] for r in rows])
    y = np.array([FINE_CLASSES.index(r["fine"]) if r["fine"] else -1 for r in rows])
    fired = (V >= 0) & (y >= 0)[:, None]
    assert fired.any(axis=1).mean() > 0.6
    assert float((V == y[:, None])[fired].mean()) > 0.75


def _bench() -> Any:
    return load_script("scripts/bench_multitask.py")


@needs_data
@pytest.mark.slow
def test_bench_writes_predictions_and_joint_is_not_worse(tmp_path: Path) -> None:
    out = tmp_path / "pred.jsonl"
    res = _bench().run(DATA, out, repeat=1)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 1000 and {x["method"] for x in lines} == {"joint", "independent"}
    assert all(set(x) == {"id", "method", "coarse", "fine"} for x in lines)
    assert all(x["fine"] in FINE_CLASSES and 0 <= x["coarse"] < 6 for x in lines)
    for task in ("coarse", "fine"):
        assert res["joint"][task] >= res["independent"][task]
    # the target is +4 points of fine accuracy on valid (measured +4.1 to +4.5 on
    # 2026-12-07); guard against a regression with some slack for single-task model changes
    assert res["joint"]["fine"] - res["independent"]["fine"] >= 3.0
