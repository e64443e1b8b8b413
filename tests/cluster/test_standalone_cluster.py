"""jobs/label.py spark-submitted to a real Spark standalone cluster (master + 2 workers on
127.0.0.1), the Delta tables it writes, and executor loss in the middle of the LF stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from cluster_helpers import (
    REPO,
    cluster_logs,
    cluster_script,
    commit_metadata,
    last_json,
    read_delta,
    run_cluster_cmd,
    submit_args,
    subprocess_env,
    tail,
)

SUBMIT_TIMEOUT = 300


def _executors(state: dict[str, Any]) -> list[tuple[str, int]]:
    out = run_cluster_cmd("executors", "--dir", state["dir"]).stdout.split()
    return [(out[i], int(out[i + 1])) for i in range(0, len(out), 2)]


def _master_apps(state: dict[str, Any]) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(state["master_ui"] + "/json/", timeout=5) as r:
        return dict(json.loads(r.read().decode()))


def _check_run_tables(out: Path, run_id: str, n: int, summary: dict[str, Any]) -> None:
    """votes and labels hold exactly ids 0..n-1 once each, committed by this run."""
    for name in ("votes", "labels"):
        info = summary[name]
        tbl, dt = read_delta(out / name, info["version"])
        ids = tbl["id"].to_pylist()
        assert len(ids) == n, f"{name}: {len(ids)} rows, expected {n}"
        assert sorted(ids) == list(range(n)), f"{name}: ids missing or duplicated"
        assert pc.all(pc.equal(tbl["run_id"], run_id)).as_py()
        assert commit_metadata(dt, info["version"])["run_id"] == run_id
    labels, _ = read_delta(out / "labels")
    probs = labels["probs"].to_pylist()
    assert all(len(p) == 2 and abs(sum(p) - 1.0) < 1e-9 for p in probs)


def test_package_zip_is_importable(tmp_path: Path) -> None:
    """The --py-files zip holds the whole package and is imported ahead of an installed copy."""
    done = run_cluster_cmd("package", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    z = Path(done.stdout.strip())
    names = zipfile.ZipFile(z).namelist()
    assert "wsup_spark/__init__.py" in names and "wsup_spark/pipeline/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    probe = subprocess.run(
        [sys.executable, "-c", "import wsup_spark.pipeline as p; print(p.__file__)"],
        capture_output=True, text=True, env=subprocess_env(PYTHONPATH=str(z)), cwd=tmp_path,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(z)), probe.stdout


def test_package_wheel_is_importable(tmp_path: Path) -> None:
    """The wheel (for cluster libraries / Databricks) holds the package and imports from a zip."""
    done = run_cluster_cmd("package", "--format", "wheel", "--out", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr
    whl = Path(done.stdout.strip().splitlines()[-1])
    assert whl.name.startswith("wsup_spark-") and whl.name.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert "wsup_spark/pipeline/__init__.py" in names
    assert any(n.endswith(".dist-info/METADATA") for n in names)
    probe = subprocess.run(
        [sys.executable, "-c", "import wsup_spark.pipeline as p; print(p.__file__)"],
        capture_output=True, text=True, env=subprocess_env(PYTHONPATH=str(whl)), cwd=tmp_path,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(whl)), probe.stdout


@pytest.mark.slow
def test_label_job_on_standalone_cluster(
    standalone_cluster: dict[str, Any], tmp_path: Path
) -> None:
    """spark-submit jobs/label.py --config conf/cluster.yaml: runs on the cluster, valid Delta."""
    state, out, n, run_id = standalone_cluster, tmp_path / "out", 12_000, "cluster-test-1"
    cmd = submit_args(state, tmp_path / "dist", [
        "jobs/label.py", "--config", "conf/cluster.yaml", "--json",
        "--set", f"source.n_rows={n}", "--set", "source.num_partitions=4",
        "--set", f"output.path={out}", "--set", f"run_id={run_id}",
    ])  # fmt: skip
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBMIT_TIMEOUT,
                          env=subprocess_env(), cwd=REPO)  # fmt: skip
    assert done.returncode == 0, tail(done.stderr) + cluster_logs(state)
    summary = last_json(done.stdout)
    assert summary["run_id"] == run_id and summary["n_rows"] == n
    _check_run_tables(out, run_id, n, summary)

    # it really ran on the cluster (spark-submit's --master won over the config's local default)
    apps = _master_apps(state)
    mine = [a for a in apps.get("completedapps", []) if a.get("name") == "wsup-cluster"]
    assert mine and mine[-1]["state"] == "FINISHED", apps.get("completedapps")
    # the Airflow DAG's checker agrees
    chk = subprocess.run(
        [sys.executable, "scripts/airflow/check_run.py", "--config", "conf/cluster.yaml",
         "--set", f"output.path={out}", "--run-id", run_id],
        capture_output=True, text=True, cwd=REPO, env=subprocess_env(),
    )  # fmt: skip
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert json.loads(chk.stdout)["ok"]
    print(f"label job on the cluster: {time.monotonic() - t0:.1f} s")


@pytest.mark.slow
def test_executor_killed_mid_job_gives_exact_rows(
    standalone_cluster: dict[str, Any], tmp_path: Path
) -> None:
    """SIGKILL one worker's executor while the LF stage runs; task retry completes the job and
    the tables hold every row exactly once."""
    state, out, n, parts, run_id = standalone_cluster, tmp_path / "out", 16_000, 8, "fault-test"
    markers = tmp_path / "markers"
    markers.mkdir()
    lf_module = REPO / "tests" / "cluster" / "wsup_fault_lfs.py"
    cmd = submit_args(
        state, tmp_path / "dist",
        ["jobs/label.py", "--config", "conf/cluster.yaml", "--json",
         "--set", f"source.n_rows={n}", "--set", f"source.num_partitions={parts}",
         "--set", "lfs.modules=[wsup_fault_lfs]", "--set", f"output.path={out}",
         "--set", f"run_id={run_id}", "--set", "lfs.on_error=abstain"],
        py_files=[str(lf_module)],
        conf=[f"spark.executorEnv.WSUP_FAULT_DIR={markers}",
              "spark.executorEnv.WSUP_FAULT_SLEEP=2.0", "spark.task.maxFailures=4"],
    )  # fmt: skip
    t0 = time.monotonic()
    with open(tmp_path / "stdout", "w") as so, open(tmp_path / "stderr", "w") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, env=subprocess_env(), cwd=REPO)
        killed: tuple[str, int] | None = None
        try:
            # wait for the slow LF to be running on an executor, then kill that executor JVM
            deadline = time.monotonic() + 180
            while killed is None and time.monotonic() < deadline and proc.poll() is None:
                running = [json.loads(p.read_text())["pid"] for p in markers.glob("*.json")]
                execs = _executors(state)
                for worker, pid in execs:
                    tree = _descendants(pid)
                    if any(r in tree for r in running):
                        os.kill(pid, signal.SIGKILL)
                        killed = (worker, pid)
                        break
                time.sleep(0.2)
            rc = proc.wait(timeout=SUBMIT_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stdout, stderr = (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text()
    assert killed is not None, "the LF stage was never seen running: " + tail(stderr)
    assert rc == 0, tail(stderr) + cluster_logs(state)
    assert "ExecutorLostFailure" in stderr or "Lost executor" in stderr, tail(stderr)

    summary = last_json(stdout)
    assert summary["n_rows"] == n  # the LF statistics counted every row once
    # failure counts come from the committed attempts' taps: exact despite the retried tasks
    assert summary["lf_errors"] == {"lf_always_fails": n}, summary["lf_errors"]
    _check_run_tables(out, run_id, n, summary)
    _, dt = read_delta(out / "votes", summary["votes"]["version"])
    assert len(dt.file_uris()) == parts  # one committed file per partition, retries included

    recs = [json.loads(p.read_text()) for p in markers.glob("*.json")]
    assert sum(r["rows"] for r in recs) > n, "no LF batch was re-run after the kill"
    assert {r["python"] for r in recs} == {sys.executable}
    # the executors imported wsup_spark from the --py-files zip, not from this checkout
    assert all(".zip" in r["wsup_spark"] for r in recs), {r["wsup_spark"] for r in recs}
    print(f"fault test: killed {killed}, {len(recs)} LF batches for {parts} partitions, "
          f"{time.monotonic() - t0:.1f} s")  # fmt: skip


def _descendants(pid: int) -> set[int]:
    return set(cluster_script().process_tree(pid))


@pytest.mark.slow
def test_stop_leaves_no_process_behind(standalone_cluster: dict[str, Any]) -> None:
    """cluster.py stop kills the daemons and every executor, and removes the state folder."""
    pids = [p["pid"] for p in standalone_cluster["processes"]]
    pids += [pid for _, pid in _executors(standalone_cluster)]
    done = run_cluster_cmd("stop", "--dir", standalone_cluster["dir"], timeout=60)
    assert done.returncode == 0, done.stderr
    alive = [p for p in pids if Path(f"/proc/{p}").exists() and _state(p) != "Z"]
    assert not alive, f"still running after stop: {alive}"
    assert not Path(standalone_cluster["dir"]).exists()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except OSError:
        return "gone"
