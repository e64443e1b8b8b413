"""Two-process DDP on CPU (gloo) under torchrun: every row once per epoch, lockstep, all-reduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def torchrun(*args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT)  # fmt: skip


def unlabeled(ids):
    return (ids < 1200) & (ids % 2 == 0)


def test_two_rank_ddp_sees_every_row_once_per_epoch(tmp_path, make_table):
    table = tmp_path / "t"
    # every other row of the first file is unlabeled: whatever the epoch's file order, the two
    # ranks' shards differ after filtering, so DDP must run in lockstep (zero-weight steps)
    make_table(table, n=2400, file_sizes=[1200, 700, 500], unlabeled=unlabeled)
    r = torchrun(str(HERE / "ddp_train.py"), str(table), str(tmp_path), "2")
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1)]
    uneven = False
    for epoch in ("0", "1"):
        per_rank = [run["seen"][epoch] for run in runs]
        both = per_rank[0] + per_rank[1]
        assert len(both) == len(set(both))  # no row twice (within or across ranks)
        held = runs[0]["metrics"]["n_eval_gold"] - runs[0]["metrics"]["n_eval_uncovered"]
        assert len(both) == 1800 - held == runs[0]["metrics"]["train_rows_per_epoch"]
        assert not unlabeled(np.array(both)).any()  # unlabeled rows filtered
        uneven |= len(per_rank[0]) != len(per_rank[1])
    assert uneven, "test table should give the ranks different row counts"
    m0, m1 = (run["metrics"] for run in runs)
    assert m0["world_size"] == 2 and m0["n_eval_gold"] == m1["n_eval_gold"] > 300
    assert m0["end_model_accuracy"] == m1["end_model_accuracy"] > 0.9
    assert (tmp_path / "ck" / "model.pt").exists() and m0["checkpoint"] and not m1["checkpoint"]


@pytest.mark.slow
def test_train_job_under_torchrun(tmp_path, make_table):
    import yaml

    make_table(tmp_path / "out" / "train", n=1000, files=2)
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({
        "lfs": {"modules": ["wsup_spark.demo.radiology_lfs"]},
        "output": {"path": str(tmp_path / "out")},
        "train": {"epochs": 3, "batch_size": 64, "buckets": 4096, "dim": 8, "lr": 0.03},
    }))  # fmt: skip
    r = torchrun("jobs/train.py", "--config", str(conf))
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads(r.stdout)  # rank 0 prints once
    assert metrics["world_size"] == 2 and metrics["end_model_accuracy"] > 0.8
