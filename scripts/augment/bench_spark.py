"""Benchmark: the Spark augmentation job on local[2] vs the same kernel in one process.

    python scripts/augment/bench_spark.py [--rows 100000] [--copies 2] [--json out.json]

* **one process**: the very function Spark tasks run (``augment_transform(...).fn``) over the
  source Parquet file's Arrow batches (10k rows) in this one Python process.
* **spark**: ``augment_dataframe`` on local[2] over the same Parquet files (``--partitions``),
  sunk to Spark's ``noop`` writer (warm: after one untimed full run), and the full job (augment +
  one Delta commit with the delta-rs writer, the augmentation fused into the write tasks, so its
  output goes to Parquet from Python without crossing back into the JVM).

Two workloads, each with the trivial (TrivialAugment) policy and ``--copies`` copies per row:
``image`` (8x8 digits, tiled to ``--rows``, the 8 vectorized image TFs, array<float> column) and
``text`` (the demo's synthetic reports, the row text TFs random_swap, random_delete, number_sub,
typo). Every row carries a ``probs`` column along. Reports rows/s and the Spark / one-process
ratio (input rows per second; each input row yields 1 + copies output rows), and the CPU seconds
each path spent (this process; for Spark the JVM and its Python workers, read from /proc), which
on a shared, loaded machine says more than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def image_table(n: int) -> Any:
    import numpy as np
    import pyarrow as pa

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("the image workload needs scikit-learn: pip install scikit-learn")
    x = (load_digits().images / 16.0).astype(np.float32).reshape(-1, 64)
    x = np.resize(x, (n, 64))
    flat = pa.ListArray.from_arrays(pa.array(np.arange(0, 64 * n + 1, 64, dtype=np.int32)),
                                    pa.array(x.reshape(-1)))  # fmt: skip
    probs = np.full((n, 2), 0.5)
    return pa.table({"id": np.arange(n, dtype=np.int64), "image": flat,
                     "probs": pa.array(probs.tolist(), pa.list_(pa.float64()))})  # fmt: skip


def text_table(n: int) -> Any:
    import numpy as np
    import pyarrow as pa

    from wsup_spark.demo.radiology import generate_reports

    cols = generate_reports(np.arange(n), seed=0)
    probs = np.full((n, 2), 0.5)
    return pa.table({"id": cols["id"], "text": cols["text"],
                     "probs": pa.array(probs.tolist(), pa.list_(pa.float64()))})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="alternating rounds; best of each")
    ap.add_argument("--workloads", default="image,text")
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args(argv)

    import pyarrow.parquet as pq

    from wsup_spark.augment.images import IMAGE_TFS
    from wsup_spark.augment.policy import Policy
    from wsup_spark.augment.spark import augment_dataframe, augment_transform, write_augmented
    from wsup_spark.augment.text import number_sub, random_delete, random_swap, typo
    from wsup_spark.spark.session import get_or_create_session

    n = args.rows
    workloads = {
        "image": ("image", (8, 8), list(IMAGE_TFS), image_table),
        "text": ("text", None, [random_swap, random_delete, number_sub, typo], text_table),
    }
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="wsup-bench-augment-"))
    spark = get_or_create_session("local[2]", "wsup-bench-augment")
    try:
        jvm_pid: int | None = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    except Exception:  # not a local JVM (Spark Connect): no CPU accounting
        jvm_pid = None
    rows = []
    try:
        for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
            column, shape, tfs, make = workloads[name]
            table = make(n)
            src = tmp / f"src-{name}"
            src.mkdir()
            step = -(-n // args.partitions)
            for i in range(args.partitions):
                pq.write_table(table.slice(i * step, step), src / f"part-{i:03d}.parquet")
            pol = Policy("trivial", [t.name for t in tfs])
            df = spark.read.parquet(str(src))
            kw: dict[str, Any] = dict(column=column, seed=0, n_copies=args.copies,
                                      image_shape=shape)  # fmt: skip
            fn = augment_transform(df, pol, tfs, **kw).fn

            def one_process(fn: Any = fn, src: Path = src) -> int:
                out = 0
                for f in sorted(src.iterdir()):
                    for b in fn(pq.ParquetFile(f).iter_batches(batch_size=10_000)):
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

            spark_noop()  # warm-up (untimed): Python workers started, JVM code compiled
            assert one_process() == n * (1 + args.copies)
            runs: dict[str, list[tuple[float, float | None]]] = {
                "one": [],
                "spark": [],
                "delta": [],
            }
            for _ in range(args.repeat):  # alternating rounds, best of each (shared machines)
                runs["one"].append(cpu_timed(one_process, None))
                runs["spark"].append(cpu_timed(spark_noop, jvm_pid))
                runs["delta"].append(cpu_timed(spark_delta, jvm_pid))
            t_one, t_spark, t_delta = (
                min(w for w, _ in runs[k]) for k in ("one", "spark", "delta")
            )
            cpu = {
                k: min((c for _, c in v if c is not None), default=None) for k, v in runs.items()
            }
            rows.append({
                "workload": name, "rows": n, "copies": args.copies,
                "one_process_rows_s": n / t_one, "spark_rows_s": n / t_spark,
                "spark_delta_rows_s": n / t_delta, "spark_vs_one_process": t_one / t_spark,
                "spark_delta_vs_one_process": t_one / t_delta,
                "cpu_s_per_1k_rows": {k: None if c is None else 1000 * c / n
                                      for k, c in cpu.items()},
                "rounds_wall_cpu_s": runs,
            })  # fmt: skip
    finally:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load = [round(v, 2) for v in (*load_before, *os.getloadavg())]
    print(f"rows={n:,}  copies={args.copies}  partitions={args.partitions}  cpus={os.cpu_count()}  "
          f"python={platform.python_version()}  load avg before/after={load}")  # fmt: skip
    print(f"{'workload':<9}{'1 process r/s':>15}{'spark r/s':>12}{'ratio':>7}"
          f"{'spark+Delta r/s':>17}{'ratio':>7}")  # fmt: skip
    for r in rows:
        print(f"{r['workload']:<9}{r['one_process_rows_s']:>15,.0f}{r['spark_rows_s']:>12,.0f}"
              f"{r['spark_vs_one_process']:>7.2f}{r['spark_delta_rows_s']:>17,.0f}"
              f"{r['spark_delta_vs_one_process']:>7.2f}")  # fmt: skip
    print("CPU seconds per 1k input rows (one process: this process; spark: JVM + Python workers):")
    for r in rows:
        c = r["cpu_s_per_1k_rows"]
        print(f"  {r['workload']:<7} " + "  ".join(
            f"{k}={'n/a' if v is None else f'{v:.3f}'}" for k, v in c.items()))  # fmt: skip
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"results": rows, "load_avg": load}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
