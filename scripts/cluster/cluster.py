#!/usr/bin/env python3
"""A Spark standalone cluster on 127.0.0.1 from pip's pyspark, and spark-submit to it.

pip's pyspark has no ``sbin/start-master.sh``; its ``bin/spark-class`` starts the daemons::

    python scripts/cluster/cluster.py start            # master + 2 workers; prints `export ...`
    eval "$(python scripts/cluster/cluster.py start)"  # sets WSUP_CLUSTER_DIR, SPARK_MASTER_URL
    python scripts/cluster/cluster.py status
    python scripts/cluster/cluster.py package          # dist/wsup_spark-<version>.zip (--py-files)
    python scripts/cluster/cluster.py submit -- jobs/label.py --config conf/cluster.yaml
    python scripts/cluster/cluster.py executors        # "<worker> <pid>" of executor JVMs
    python scripts/cluster/cluster.py stop             # kills every process it started; rm the dir

Every daemon listens on 127.0.0.1 on free ports picked at start (so several clusters and other
engineers' Spark sessions can coexist). Logs, pid files, work and local dirs live in one state
folder (``--dir`` or ``$WSUP_CLUSTER_DIR``, default a new temp dir); ``stop`` kills the process
trees of the recorded pids (SIGTERM, then SIGKILL) and removes the folder (``--keep-logs`` keeps
it). Only the standard library is used, so this runs before the project is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE_FILE = "cluster.json"
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- helpers


def spark_home() -> Path:
    """``$SPARK_HOME``, else the pip-installed pyspark's folder (it has bin/spark-class)."""
    env = os.environ.get("SPARK_HOME")
    if env:
        return Path(env)
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        sys.exit("error: pyspark is not importable and SPARK_HOME is unset; pip install pyspark")
    return Path(spec.origin).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def state_dir(arg: str | None) -> Path:
    d = arg or os.environ.get("WSUP_CLUSTER_DIR")
    if not d:
        sys.exit("error: no cluster folder: pass --dir or set WSUP_CLUSTER_DIR (start prints it)")
    return Path(d).resolve()


def load_state(d: Path) -> dict:
    f = d / STATE_FILE
    if not f.is_file():
        sys.exit(f"error: {f} not found: no cluster was started with --dir {d}")
    return json.loads(f.read_text())


def save_state(d: Path, state: dict) -> None:
    tmp = d / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(d / STATE_FILE)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def ours(pid: int, marker: str) -> bool:
    """True when ``pid`` runs with our WSUP_CLUSTER_DIR in its environment (guards pid reuse)."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return alive(pid)  # no /proc (macOS): trust the pid file
    return f"WSUP_CLUSTER_DIR={marker}".encode() in env.split(b"\0")


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for p in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int(p.joinpath("stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(p.name))
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (executors, python workers), parents first."""
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def http_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def wait_for_log(log: Path, pattern: str, pid: int, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        m = re.search(pattern, text)
        if m:
            return m
        if not alive(pid):
            raise RuntimeError(f"process {pid} exited; its log {log}:\n{text[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {pattern!r} in {log}")


def daemon_env(d: Path, daemon_memory: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        WSUP_CLUSTER_DIR=str(d),
        SPARK_LOCAL_IP=HOST,
        SPARK_MASTER_HOST=HOST,
        SPARK_DAEMON_MEMORY=daemon_memory,
        SPARK_LOCAL_DIRS=str(d / "local"),
        SPARK_WORKER_DIR=str(d / "work"),
        SPARK_LOG_DIR=str(d / "logs"),
        SPARK_NO_DAEMONIZE="1",
    )
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    return env


def spawn(d: Path, name: str, args: list[str], env: dict[str, str]) -> tuple[int, Path]:
    log = d / "logs" / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(  # own session: survives this script, killed by group on stop
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=d,
        )
    return proc.pid, log


# --------------------------------------------------------------------------- commands


def cmd_start(a: argparse.Namespace) -> int:
    d = Path(
        a.dir or os.environ.get("WSUP_CLUSTER_DIR") or tempfile.mkdtemp(prefix="wsup-cluster-")
    )
    d = d.resolve()
    if (d / STATE_FILE).exists() and any(
        alive(p["pid"]) and ours(p["pid"], str(d)) for p in load_state(d)["processes"]
    ):
        sys.exit(f"error: a cluster is already running from {d}; stop it first")
    for sub in ("logs", "work", "local"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    env = daemon_env(d, a.daemon_memory)
    state: dict = {"dir": str(d), "spark_home": str(spark_home()), "processes": []}
    try:
        mport, mui = free_port(), free_port()
        pid, log = spawn(
            d,
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                HOST,
                "--port",
                str(mport),
                "--webui-port",
                str(mui),
            ],
            env,
        )
        state["processes"].append({"name": "master", "pid": pid, "log": str(log)})
        save_state(d, state)
        m = wait_for_log(log, r"Starting Spark master at (spark://\S+:\d+)", pid, a.timeout)
        url = m.group(1)
        ui = wait_for_log(log, r"MasterWebUI.*started at (http://\S+:\d+)", pid, a.timeout).group(1)
        state.update(master_url=url, master_ui=ui)
        for i in range(a.workers):
            args = [
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                HOST,
                "--port",
                str(free_port()),
                "--webui-port",
                str(free_port()),
                "--cores",
                str(a.cores),
                "--memory",
                a.memory,
                "--work-dir",
                str(d / "work" / f"worker-{i}"),
                url,
            ]
            pid, log = spawn(d, f"worker-{i}", args, env)
            state["processes"].append({"name": f"worker-{i}", "pid": pid, "log": str(log)})
            save_state(d, state)
        deadline = time.monotonic() + a.timeout
        while True:
            for p in state["processes"]:
                if not alive(p["pid"]):
                    raise RuntimeError(
                        f"{p['name']} exited; log {p['log']}:\n{Path(p['log']).read_text()[-3000:]}"
                    )
            try:
                n_alive = int(http_json(ui + "/json/").get("aliveworkers", 0))
            except OSError:
                n_alive = 0
            if n_alive >= a.workers:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"only {n_alive}/{a.workers} workers registered in {a.timeout} s"
                )
            time.sleep(0.3)
    except BaseException as e:
        stop_dir(d, keep=True)
        print(f"error: cluster start failed ({e}); logs kept in {d}/logs", file=sys.stderr)
        return 1
    if a.owner_pid or a.ttl:
        wd = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "watchdog", "--dir", str(d),
             "--owner-pid", str(a.owner_pid or 0), "--ttl", str(a.ttl or 0)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip
        state["watchdog"] = wd.pid
        save_state(d, state)
    print(f"export WSUP_CLUSTER_DIR={shlex.quote(str(d))}")
    print(f"export SPARK_MASTER_URL={url}")
    print(f"export SPARK_LOCAL_IP={HOST}")
    print(f"# master UI {ui}; {a.workers} workers x {a.cores} core(s), {a.memory}", file=sys.stderr)
    return 0


def stop_dir(d: Path, keep: bool, grace: float = 10.0) -> int:
    """Kill every process tree recorded in ``d``; returns how many processes were signalled."""
    if not (d / STATE_FILE).is_file():
        return 0
    state = json.loads((d / STATE_FILE).read_text())
    pids: list[int] = []
    wd = state.get("watchdog")
    if wd and wd != os.getpid() and alive(wd) and ours(wd, str(d)):
        pids.append(wd)
    for p in reversed(state["processes"]):  # workers (and their executors) first, then the master
        if alive(p["pid"]) and ours(p["pid"], str(d)):
            pids.extend(q for q in process_tree(p["pid"]) if q not in pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        live = [p for p in pids if alive(p)]
        for p in live:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while any(alive(p) for p in live) and time.monotonic() < deadline:
            time.sleep(0.2)
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
    return len(pids)


def cmd_stop(a: argparse.Namespace) -> int:
    d = state_dir(a.dir)
    n = stop_dir(d, keep=a.keep_logs)
    print(f"stopped {n} process(es); {'kept' if a.keep_logs else 'removed'} {d}", file=sys.stderr)
    return 0


def cmd_watchdog(a: argparse.Namespace) -> int:
    """Stop the cluster when ``--owner-pid`` exits or after ``--ttl`` seconds (started by start)."""
    d = state_dir(a.dir)
    end = time.monotonic() + a.ttl if a.ttl > 0 else float("inf")
    while (d / STATE_FILE).is_file():
        if (a.owner_pid > 0 and not alive(a.owner_pid)) or time.monotonic() > end:
            stop_dir(d, keep=False)
            break
        time.sleep(1.0)
    return 0


def cmd_status(a: argparse.Namespace) -> int:
    d = state_dir(a.dir)
    st = load_state(d)
    for p in st["processes"]:
        up = alive(p["pid"]) and ours(p["pid"], str(d))
        print(f"{p['name']:10s} pid {p['pid']:7d} {'up' if up else 'DOWN'}  log {p['log']}")
    try:
        info = http_json(st["master_ui"] + "/json/")
        print(
            f"master {st['master_url']} ({info.get('status')}): {info.get('aliveworkers')} "
            f"worker(s) alive, {len(info.get('activeapps', []))} active app(s)"
        )
    except (OSError, KeyError) as e:
        print(f"master UI not reachable: {e}")
        return 1
    return 0


def executor_pids(d: Path) -> list[tuple[str, int]]:
    """(worker name, pid) of the executor JVMs the workers launched."""
    st = load_state(d)
    kids = children_map()
    out = []
    for p in st["processes"]:
        if p["name"].startswith("worker") and alive(p["pid"]):
            for c in kids.get(p["pid"], []):
                if "CoarseGrainedExecutorBackend" in cmdline(c):
                    out.append((p["name"], c))
    return out


def cmd_executors(a: argparse.Namespace) -> int:
    for name, pid in executor_pids(state_dir(a.dir)):
        print(name, pid)
    return 0


def project_version() -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    return m.group(1) if m else "0"


def build_zip(out_dir: Path) -> Path:
    """``wsup_spark-<version>.zip``: the package's sources, importable from ``--py-files``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"wsup_spark-{project_version()}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted((REPO / "wsup_spark").rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                info = zipfile.ZipInfo(str(f.relative_to(REPO)), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, f.read_bytes())
    tmp.replace(target)
    return target


def build_wheel(out_dir: Path) -> Path:
    """A pure-Python wheel, built from a copy of the sources (no build/ in the work tree)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wsup-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(REPO / name, src / name)
        shutil.copytree(
            REPO / "wsup_spark",
            src / "wsup_spark",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        base = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out_dir)]
        # without build isolation first (offline, fast); with it when setuptools is missing
        if subprocess.run([*base, "--no-build-isolation", str(src)]).returncode != 0:
            subprocess.run([*base, str(src)], check=True)
    wheels = sorted(out_dir.glob(f"wsup_spark-{project_version()}-*.whl"), key=os.path.getmtime)
    return wheels[-1]


def cmd_package(a: argparse.Namespace) -> int:
    out = Path(a.out)
    path = build_wheel(out) if a.format == "wheel" else build_zip(out)
    print(path)
    return 0


def submit_command(
    master: str,
    py_files: list[str],
    args: list[str],
    python: str,
    executor_memory: str,
    extra_conf: dict[str, str] | None = None,
) -> list[str]:
    """The spark-submit command line used by ``submit`` (and by the tests)."""
    conf = {
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": python,
        "spark.driver.host": HOST,
        "spark.driver.bindAddress": HOST,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.session.timeZone": "UTC",
        "spark.executorEnv.PYTHONHASHSEED": "0",
        "spark.log.level": "WARN",
        **(extra_conf or {}),
    }
    cmd = [
        str(spark_home() / "bin" / "spark-submit"),
        "--master",
        master,
        "--deploy-mode",
        "client",
        "--executor-memory",
        executor_memory,
        "--driver-memory",
        "1g",
    ]
    if py_files:
        cmd += ["--py-files", ",".join(py_files)]
    for k, v in conf.items():
        cmd += ["--conf", f"{k}={v}"]
    return cmd + args


def cmd_submit(a: argparse.Namespace) -> int:
    master = a.master or os.environ.get("SPARK_MASTER_URL")
    if not master:
        master = load_state(state_dir(a.dir))["master_url"]
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    if not args:
        sys.exit(
            "error: nothing to submit; e.g. submit -- jobs/label.py --config conf/cluster.yaml"
        )
    py_files = [str(build_zip(Path(a.out)))] if not a.no_package else []
    py_files += a.py_files
    cmd = submit_command(
        master, py_files, args, a.python, a.executor_memory, dict(kv.split("=", 1) for kv in a.conf)
    )
    env = dict(os.environ, SPARK_LOCAL_IP=HOST, PYSPARK_PYTHON=a.python)
    print("+ " + shlex.join(cmd), file=sys.stderr)
    return subprocess.call(cmd, env=env, cwd=REPO)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cluster.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)

    def with_dir(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--dir", help="state folder (default $WSUP_CLUSTER_DIR)")
        return sp

    s = with_dir(sub.add_parser("start", help="start a master and workers on 127.0.0.1"))
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--cores", type=int, default=1, help="cores per worker")
    s.add_argument("--memory", default="1g", help="memory per worker (executors must fit)")
    s.add_argument("--daemon-memory", default="256m", help="heap of the master/worker JVMs")
    s.add_argument("--timeout", type=float, default=90.0)
    s.add_argument("--owner-pid", type=int, default=0, help="stop the cluster when it exits")
    s.add_argument("--ttl", type=float, default=0, help="stop the cluster after this many s")
    s.set_defaults(fn=cmd_start)
    s = with_dir(sub.add_parser("watchdog", help=argparse.SUPPRESS))
    s.add_argument("--owner-pid", type=int, default=0)
    s.add_argument("--ttl", type=float, default=0)
    s.set_defaults(fn=cmd_watchdog)
    s = with_dir(sub.add_parser("stop", help="kill the cluster's processes, remove its folder"))
    s.add_argument("--keep-logs", action="store_true")
    s.set_defaults(fn=cmd_stop)
    with_dir(sub.add_parser("status")).set_defaults(fn=cmd_status)
    with_dir(sub.add_parser("executors", help="list executor JVM pids")).set_defaults(
        fn=cmd_executors
    )
    s = sub.add_parser("package", help="build the package for --py-files")
    s.add_argument("--format", choices=["zip", "wheel"], default="zip")
    s.add_argument("--out", default=str(REPO / "dist"))
    s.set_defaults(fn=cmd_package)
    s = with_dir(sub.add_parser("submit", help="spark-submit to the cluster (packages first)"))
    s.add_argument("--master", help="default $SPARK_MASTER_URL, else the cluster in --dir")
    s.add_argument("--python", default=sys.executable, help="python on driver and executors")
    s.add_argument("--executor-memory", default="512m")
    s.add_argument("--py-files", action="append", default=[], help="more files for executors")
    s.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--out", default=str(REPO / "dist"), help="where the package zip goes")
    s.add_argument("--no-package", action="store_true", help="executors have wsup_spark installed")
    s.add_argument("args", nargs=argparse.REMAINDER, help="-- app.py [app args]")
    s.set_defaults(fn=cmd_submit)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    return int(a.fn(a))


if __name__ == "__main__":
    raise SystemExit(main())
