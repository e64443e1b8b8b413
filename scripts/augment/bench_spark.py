"""Benchmark: the Spark augmentation job on local[2] vs the same kernel in one process.

    python scripts/augment/bench_spark.py [--rows 100000] [--copies 2] [--json out.json]
    python scripts/augment/bench_spark.py --image-layout binary --workloads image
    python scripts/augment/bench_spark.py --memory-rows 100000,400000,1600000

* **one process**: the very function Spark tasks run (``augment_transform(...).fn``) over the
  source Parquet file's Arrow batches (``--batch-rows``, 10k) in this one Python process.
* **spark**: ``augment_dataframe`` on local[2] over the same Parquet files (``--partitions``),
  sunk to Spark's ``noop`` writer (warm: after one untimed full run), and the full job (augment +
  one Delta commit with the delta-rs writer, the augmentation fused into the write tasks, so its
  output goes to Parquet from Python without crossing back into the JVM).
* **files**: the job as ``wsup augment`` runs it by default, ``augment_table(read="files")``:
  the source is a Delta table (the same Parquet files plus a ``_delta_log``) and the write
  tasks read its files with pyarrow themselves, so no row crosses the JVM at all.

Two workloads, each with the trivial (TrivialAugment) policy and ``--copies`` copies per row:
``image`` (8x8 digits, tiled to ``--rows``, the 8 vectorized image TFs) and ``text`` (the demo's
synthetic reports, the row text TFs random_swap, random_delete, number_sub, typo). The image
column is laid out as ``array<float>`` (``image`` rows) and/or as ``binary`` uint8 pixels
(``image_bin`` rows), per ``--image-layout`` (default both). Every row carries a ``probs``
column along. Reports rows/s and the Spark / one-process ratio (input rows per second; each
input row yields 1 + copies output rows), and the CPU seconds each path spent (this process; for
Spark the JVM and its Python workers, read from /proc), which on a shared, loaded machine says
more than wall time.

``--memory-rows N1,N2,...`` instead measures peak memory of the full job (augment + Delta commit)
at each input size, one fresh driver process (and JVM) per workload and size: the driver
Python's peak RSS (VmHWM) and the peak of the summed RSS of the JVM and its Python workers
(polled from /proc every 50 ms). The source files are written in ``--partitions`` chunks, so the
benchmark itself holds one chunk at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def tree_cpu_seconds(root: int) -> float | None:
    """CPU seconds (user + system, reaped children included) of process ``root`` and all its
    descendants, from /proc (Linux); None elsewhere. For Spark: the JVM, its Python daemon and
    workers."""
    if not os.path.isdir("/proc"):
        return None
    procs: dict[int, tuple[int, int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(d)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    total = 0
    for pid, (_, ticks) in procs.items():
        p = pid
        while p in procs and p != root and p > 1:
            p = procs[p][0]
        total += ticks if p == root else 0
    return total / os.sysconf("SC_CLK_TCK")


def cpu_timed(fn: Any, jvm_pid: int | None) -> tuple[float, float | None]:
    """(wall seconds, CPU seconds): this process's CPU, plus the JVM tree's when given."""
    c0 = time.process_time()
    j0 = tree_cpu_seconds(jvm_pid) if jvm_pid else 0.0
    wall = timed(fn)
    cpu: float | None = time.process_time() - c0
    if jvm_pid:
        j1 = tree_cpu_seconds(jvm_pid)
        cpu = None if j0 is None or j1 is None else cpu + j1 - j0  # type: ignore[operator]
    return wall, cpu


def image_table(n: int, start: int = 0, layout: str = "array") -> Any:
    """Rows ``start .. start + n`` of the image workload: 8x8 digits tiled, as ``array<float>``
    in [0, 1] or as ``binary`` uint8 pixels (the same images, rounded to 1/255)."""
    import numpy as np
    import pyarrow as pa

    from wsup_spark.augment.spark import encode_uint8_images

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("the image workload needs scikit-learn: pip install scikit-learn")
    x = (load_digits().images / 16.0).astype(np.float32).reshape(-1, 64)
    x = x[(start + np.arange(n)) % len(x)]
    if layout == "binary":
        data = encode_uint8_images(x).reshape(-1)
        offsets = np.arange(0, 64 * n + 1, 64, dtype=np.int32)
        image: Any = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                            pa.py_buffer(data)])  # fmt: skip
    else:
        image = pa.ListArray.from_arrays(pa.array(np.arange(0, 64 * n + 1, 64, dtype=np.int32)),
                                         pa.array(x.reshape(-1)))  # fmt: skip
    probs = np.full((n, 2), 0.5)
    return pa.table({"id": start + np.arange(n, dtype=np.int64), "image": image,
                     "probs": pa.array(probs.tolist(), pa.list_(pa.float64()))})  # fmt: skip


def image_bin_table(n: int, start: int = 0) -> Any:
    return image_table(n, start, "binary")


def text_table(n: int, start: int = 0) -> Any:
    import numpy as np
    import pyarrow as pa

    from wsup_spark.demo.radiology import generate_reports

    cols = generate_reports(start + np.arange(n), seed=0)
    probs = np.full((n, 2), 0.5)
    return pa.table({"id": cols["id"], "text": cols["text"],
                     "probs": pa.array(probs.tolist(), pa.list_(pa.float64()))})  # fmt: skip


def workload_specs() -> dict[str, tuple[str, Any, list[Any], Any]]:
    """name -> (column, image_shape, TFs, table maker)."""
    from wsup_spark.augment.images import IMAGE_TFS
    from wsup_spark.augment.text import number_sub, random_delete, random_swap, typo

    return {
        "image": ("image", (8, 8), list(IMAGE_TFS), image_table),
        "image_bin": ("image", (8, 8), list(IMAGE_TFS), image_bin_table),
        "text": ("text", None, [random_swap, random_delete, number_sub, typo], text_table),
    }


def write_source(make: Any, n: int, partitions: int, folder: Path) -> None:
    """``n`` rows of a workload as a Delta table of ``partitions`` Parquet files (one append
    each), made one file at a time."""
    from deltalake import write_deltalake

    step = -(-n // partitions)
    for i in range(partitions):
        count = min(step, n - i * step)
        if count > 0:
            write_deltalake(str(folder), make(count, i * step), mode="append")


def source_files(folder: Path) -> list[Path]:
    """The source table's Parquet files (its ``_delta_log`` aside)."""
    return sorted(folder.glob("*.parquet"))


def workload_names(args: argparse.Namespace) -> list[str]:
    """The workloads to run: ``--workloads``, with ``image`` expanded per ``--image-layout``."""
    layouts = {"array": ["image"], "binary": ["image_bin"], "both": ["image", "image_bin"]}
    names: list[str] = []
    for w in (w.strip() for w in args.workloads.split(",")):
        if not w:
            continue
        add = layouts[args.image_layout] if w == "image" else [w]
        if any(a not in workload_specs() for a in add):
            sys.exit(f"unknown workload {w!r}; use image, image_bin or text")
        names += [a for a in add if a not in names]
    return names


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 once it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc)."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parent[int(d)] = int(
                    Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    out = []
    for pid in parent:
        p = pid
        while p in parent and p != root and p > 1:
            p = parent[p]
        if p == root:
            out.append(pid)
    return out


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (shared pages split between their users; 0 once it
    is gone or where /proc/PID/smaps_rollup is missing)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


class TreePeak:
    """Polls the memory of a process tree (a JVM and its Python workers) in a thread and keeps
    the peaks: ``total`` (summed RSS of the JVM and its workers at the same instant), ``jvm``,
    ``workers`` (summed RSS), and ``total_pss`` (summed PSS: the forked Python workers share the
    daemon's pages, which the RSS sum counts once per worker)."""

    def __init__(self, root: int, interval_s: float = 0.05) -> None:
        import threading

        self.root, self.interval_s = root, interval_s
        self.total = self.jvm = self.workers = self.total_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids: list[int] = []
        tick = 0
        while not self._stop.is_set():
            if tick % 10 == 0:  # the process list changes rarely; RSS every tick
                pids = descendants(self.root)
            jvm = rss_bytes(self.root)
            workers = sum(rss_bytes(p) for p in pids if p != self.root)
            self.total = max(self.total, jvm + workers)
            self.jvm, self.workers = max(self.jvm, jvm), max(self.workers, workers)
            if tick % 4 == 0:  # PSS walks the page tables: every 200 ms
                self.total_pss = max(self.total_pss, sum(pss_bytes(p) for p in pids))
            tick += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def peak_rss_self() -> int:
    """This process's peak resident set size (VmHWM), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def memory_child(args: argparse.Namespace) -> int:
    """One memory measurement (a fresh process): the full job over ``--source``; prints JSON."""
    from wsup_spark.augment.policy import Policy
    from wsup_spark.augment.spark import augment_table, write_augmented
    from wsup_spark.spark.session import get_or_create_session

    column, shape, tfs, _ = workload_specs()[args.memory_child]
    spark = get_or_create_session("local[2]", "wsup-bench-augment-memory", session_conf(args))
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    pol = Policy("trivial", tuple(t.name for t in tfs))
    df = spark.read.parquet(args.source)
    before = rss_bytes(jvm_pid)
    with TreePeak(jvm_pid) as peak:
        t0 = time.perf_counter()
        kw: dict[str, Any] = dict(column=column, seed=0, run_id="bench", n_copies=args.copies,
                                  image_shape=shape, mode="overwrite", writer="delta-rs")
        if args.read == "files":  # the job's default: the write tasks read the files
            res = augment_table(spark, args.source, args.out, pol, tfs, read="files", **kw)
        else:  # Spark's scan of the same files
            res = write_augmented(df, args.out, pol, tfs, **kw)
        wall = time.perf_counter() - t0
    jvm = spark.sparkContext._jvm
    heap = jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
    committed = int(heap.getHeapMemoryUsage().getCommitted())
    jvm.java.lang.System.gc()  # what the JVM still holds after the job
    live = int(heap.getHeapMemoryUsage().getUsed())
    spark.stop()
    print("MEMORY " + json.dumps({
        "workload": args.memory_child, "rows": args.rows, "out_rows": res.num_rows,
        "wall_s": wall, "driver_peak_rss": peak_rss_self(), "jvm_rss_before": before,
        "tree_peak_rss": peak.total, "jvm_peak_rss": peak.jvm, "workers_peak_rss": peak.workers,
        "tree_peak_pss": peak.total_pss, "jvm_heap_committed": committed,
        "jvm_heap_live_after_gc": live, "driver_memory": args.driver_memory, "read": args.read,
    }))  # fmt: skip
    return 0


def session_conf(args: argparse.Namespace) -> dict[str, str]:
    conf = {"spark.sql.execution.arrow.maxRecordsPerBatch": str(args.batch_rows)}
    if args.driver_memory:
        conf["spark.driver.memory"] = args.driver_memory
    return conf


def memory_bench(args: argparse.Namespace) -> int:
    """``--memory-rows``: one child process per workload and size; prints the table."""
    import subprocess

    try:
        sizes = [int(float(v)) for v in args.memory_rows.split(",") if v.strip()]
    except ValueError:
        sys.exit(f"--memory-rows {args.memory_rows!r}: give input sizes like 100000,400000")
    if not sizes or min(sizes) < 1:
        sys.exit(f"--memory-rows {args.memory_rows!r}: give positive input sizes")
    specs = workload_specs()
    tmp = Path(tempfile.mkdtemp(prefix="wsup-bench-augment-mem-"))
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    try:
        for name in workload_names(args):
            for n in sizes:
                src = tmp / f"src-{name}-{n}"
                write_source(specs[name][3], n, args.partitions, src)
                cmd = [sys.executable, __file__, "--memory-child", name, "--source", str(src),
                       "--out", str(tmp / f"out-{name}-{n}"), "--rows", str(n), "--copies",
                       str(args.copies), "--batch-rows", str(args.batch_rows)]  # fmt: skip
                if args.driver_memory:
                    cmd += ["--driver-memory", args.driver_memory]
                cmd += ["--read", args.read]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY ")]
                if proc.returncode or not lines:
                    sys.exit(f"memory run {name} n={n} failed:\n{proc.stderr[-3000:]}")
                rows.append(json.loads(lines[-1][len("MEMORY ") :]))
                print(f"  {name} n={n:,}: done in {rows[-1]['wall_s']:.1f} s", file=sys.stderr)
                shutil.rmtree(src, ignore_errors=True)
                shutil.rmtree(tmp / f"out-{name}-{n}", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = [round(v, 2) for v in (*load_before, *os.getloadavg())]
    mib = 1024 * 1024
    print(f"peak memory of the full job (augment + Delta commit), copies={args.copies}  "
          f"partitions={args.partitions}  batch rows={args.batch_rows}  "
          f"driver memory={args.driver_memory or 'default'}  read={args.read}  "
          f"cpus={os.cpu_count()}  "
          f"load avg before/after={load}")  # fmt: skip
    print(f"{'workload':<10}{'input rows':>11}{'out rows':>11}{'wall s':>8}{'driver MiB':>12}"
          f"{'JVM+workers MiB':>17}{'(PSS)':>7}{'JVM MiB':>9}{'workers MiB':>13}"
          f"{'heap committed':>16}{'live after GC':>15}")  # fmt: skip
    for r in rows:
        print(f"{r['workload']:<10}{r['rows']:>11,}{r['out_rows']:>11,}{r['wall_s']:>8.1f}"
              f"{r['driver_peak_rss'] / mib:>12.0f}{r['tree_peak_rss'] / mib:>17.0f}"
              f"{r['tree_peak_pss'] / mib:>7.0f}"
              f"{r['jvm_peak_rss'] / mib:>9.0f}{r['workers_peak_rss'] / mib:>13.0f}"
              f"{r['jvm_heap_committed'] / mib:>16.0f}"
              f"{r['jvm_heap_live_after_gc'] / mib:>15.0f}")  # fmt: skip
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"memory": rows, "load_avg": load}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="alternating rounds; best of each")
    ap.add_argument("--workloads", default="image,text", help="image, image_bin, text")
    ap.add_argument(
        "--image-layout",
        choices=("array", "binary", "both"),
        default="both",
        help="image column as array<float> (image), binary (image_bin) or both",
    )
    ap.add_argument("--batch-rows", type=int, default=10_000,
                    help="Arrow batch rows (spark.sql.execution.arrow.maxRecordsPerBatch; the "
                         "one-process path reads batches of the same size)")  # fmt: skip
    ap.add_argument("--memory-rows", default=None,
                    help="comma-separated input sizes: measure peak memory instead")  # fmt: skip
    ap.add_argument("--driver-memory", default=None,
                    help="spark.driver.memory (the local JVM's heap), e.g. 1g; default: the "
                         "session default (4g)")  # fmt: skip
    ap.add_argument("--read", choices=("spark", "files"), default="spark",
                    help="--memory-rows: the input read by Spark's scan (default) or by the "
                         "write tasks from the files (augment_table(read='files'))")  # fmt: skip
    ap.add_argument("--json", dest="json_out", default=None)
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--source", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.driver_memory and not re.fullmatch(r"[1-9][0-9]*[kmgt]", args.driver_memory.lower()):
        ap.error(f"--driver-memory {args.driver_memory!r}: give a size like 1g or 800m")
    if args.batch_rows < 1:
        ap.error(f"--batch-rows {args.batch_rows}: give 1 or more")
    if args.memory_child:
        return memory_child(args)
    if args.memory_rows:
        return memory_bench(args)

    import pyarrow.parquet as pq

    from wsup_spark.augment.policy import Policy
    from wsup_spark.augment.spark import (
        augment_dataframe,
        augment_table,
        augment_transform,
        write_augmented,
    )
    from wsup_spark.spark.session import get_or_create_session

    n = args.rows
    workloads = workload_specs()
    names = workload_names(args)
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="wsup-bench-augment-"))
    spark = get_or_create_session("local[2]", "wsup-bench-augment", session_conf(args))
    try:
        jvm_pid: int | None = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    except Exception:  # not a local JVM (Spark Connect): no CPU accounting
        jvm_pid = None
    rows = []
    try:
        for name in names:
            column, shape, tfs, make = workloads[name]
            src = tmp / f"src-{name}"
            write_source(make, n, args.partitions, src)
            pol = Policy("trivial", tuple(t.name for t in tfs))
            df = spark.read.parquet(str(src))
            kw: dict[str, Any] = dict(column=column, seed=0, n_copies=args.copies,
                                      image_shape=shape)  # fmt: skip
            fn = augment_transform(df, pol, tfs, **kw).fn

            def one_process(
                fn: Any = fn, src: Path = src, batch_rows: int = args.batch_rows
            ) -> int:
                out = 0
                for f in source_files(src):
                    for b in fn(pq.ParquetFile(f).iter_batches(batch_size=batch_rows)):
                        out += b.num_rows
                return out

            def spark_noop(df: Any = df, tfs: Any = tfs, pol: Policy = pol, kw: Any = kw) -> None:
                aug = augment_dataframe(df, pol, tfs, **kw)
                aug.write.format("noop").mode("overwrite").save()

            def spark_delta(
                df: Any = df, tfs: Any = tfs, pol: Policy = pol, name: str = name, kw: Any = kw
            ) -> None:
                write_augmented(df, str(tmp / f"out-{name}"), pol, tfs, run_id="bench",
                                mode="overwrite", writer="delta-rs", **kw)  # fmt: skip

            def spark_files(
                tfs: Any = tfs, pol: Policy = pol, name: str = name, kw: Any = kw, src: Path = src
            ) -> None:
                augment_table(spark, str(src), str(tmp / f"out-files-{name}"), pol, tfs,
                              run_id="bench", mode="overwrite", writer="delta-rs", read="files",
                              **kw)  # fmt: skip

            spark_noop()  # warm-up (untimed): Python workers started, JVM code compiled
            spark_files()
            assert one_process() == n * (1 + args.copies)
            runs: dict[str, list[tuple[float, float | None]]] = {
                "one": [],
                "spark": [],
                "delta": [],
                "files": [],
            }
            for _ in range(args.repeat):  # alternating rounds, best of each (shared machines)
                runs["one"].append(cpu_timed(one_process, None))
                runs["spark"].append(cpu_timed(spark_noop, jvm_pid))
                runs["delta"].append(cpu_timed(spark_delta, jvm_pid))
                runs["files"].append(cpu_timed(spark_files, jvm_pid))
            t_one, t_spark, t_delta, t_files = (
                min(w for w, _ in runs[k]) for k in ("one", "spark", "delta", "files")
            )
            cpu = {
                k: min((c for _, c in v if c is not None), default=None) for k, v in runs.items()
            }
            rows.append({
                "workload": name, "rows": n, "copies": args.copies,
                "layout": {"image": "array", "image_bin": "binary"}.get(name, "string"),
                "one_process_rows_s": n / t_one, "spark_rows_s": n / t_spark,
                "spark_delta_rows_s": n / t_delta, "spark_vs_one_process": t_one / t_spark,
                "spark_delta_vs_one_process": t_one / t_delta,
                "spark_files_delta_rows_s": n / t_files,
                "spark_files_delta_vs_one_process": t_one / t_files,
                "cpu_s_per_1k_rows": {k: None if c is None else 1000 * c / n
                                      for k, c in cpu.items()},
                "rounds_wall_cpu_s": runs,
            })  # fmt: skip
    finally:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load = [round(v, 2) for v in (*load_before, *os.getloadavg())]
    print(f"rows={n:,}  copies={args.copies}  partitions={args.partitions}  "
          f"batch rows={args.batch_rows}  cpus={os.cpu_count()}  "
          f"python={platform.python_version()}  load avg before/after={load}")  # fmt: skip
    print(f"{'workload':<10}{'1 process r/s':>15}{'spark r/s':>12}{'ratio':>7}"
          f"{'spark+Delta r/s':>17}{'ratio':>7}{'files+Delta r/s':>17}{'ratio':>7}")  # fmt: skip
    for r in rows:
        print(f"{r['workload']:<10}{r['one_process_rows_s']:>15,.0f}{r['spark_rows_s']:>12,.0f}"
              f"{r['spark_vs_one_process']:>7.2f}{r['spark_delta_rows_s']:>17,.0f}"
              f"{r['spark_delta_vs_one_process']:>7.2f}{r['spark_files_delta_rows_s']:>17,.0f}"
              f"{r['spark_files_delta_vs_one_process']:>7.2f}")  # fmt: skip
    print("CPU seconds per 1k input rows (one process: this process; spark: JVM + Python workers):")
    for r in rows:
        c = r["cpu_s_per_1k_rows"]
        print(f"  {r['workload']:<9} " + "  ".join(
            f"{k}={'n/a' if v is None else f'{v:.3f}'}" for k, v in c.items()))  # fmt: skip
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"results": rows, "load_avg": load}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
