"""Fixtures of the cluster tests (Spark runs in subprocesses; the shared ``spark`` fixture is
not used)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from cluster_helpers import run_cluster_cmd, tail


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A master + 2 one-core workers on 127.0.0.1 (scripts/cluster/cluster.py), stopped after."""
    d = tmp_path_factory.mktemp("cluster")
    # --owner-pid: a watchdog stops the cluster even if this pytest process is killed
    started = run_cluster_cmd("start", "--dir", str(d), "--workers", "2", "--owner-pid",
                              str(os.getpid()), "--ttl", "1800", timeout=180)  # fmt: skip
    if started.returncode != 0:
        logs = "\n".join(f"== {p}\n{tail(p.read_text(), 2000)}" for p in d.glob("logs/*.log"))
        run_cluster_cmd("stop", "--dir", str(d))
        pytest.fail(f"cluster start failed:\n{started.stderr}\n{logs}")
    state = json.loads((d / "cluster.json").read_text())
    try:
        yield state
    finally:
        run_cluster_cmd("stop", "--dir", str(d), timeout=60)
