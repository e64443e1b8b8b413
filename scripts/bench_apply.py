"""Benchmark: LF application on Spark vs the physical limit, and the cost of LF statistics.

    python scripts/bench_apply.py [--rows 1000000] [--out bench_apply.json]

* **limit**: the same LFs over the same rows in one plain Python process, column-at-a-time over
  Arrow batches (``apply_lfs_local``: the very kernel Spark tasks run).
* **spark**: ``apply_lfs`` on local[2] over a Parquet copy of the corpus, sunk to Spark's
  ``noop`` writer (warm: Python workers started by a first run).
* **stats**: the same plus LF statistics — (a) as a second pass over the votes (tree reduction),
  (b) fused into the votes-table write as a tap (what the pipeline does) vs the write alone.

Reported for the 20-LF mixed set, its row-LF half and its vectorized half.

    python scripts/bench_apply.py --preset regex10 [--rows 1000000] [--out bench_regex10.json]

**regex10**: 1M short texts (one phrase-bank sentence each, ~35 characters) and 10 regex LFs
(``bench_lfs.REGEX10_*``), all measured in one run against one reference:

* **reference**: the same LF functions (``str -> int``) called column-at-a-time in one plain
  Python process over a list of str (``np.fromiter(map(f, texts))`` per LF; the list is built
  before the clock starts);
* **row LFs**: ``apply_lfs`` with the row LFs (``x.text``) on local[2], noop sink;
* **vectorized LFs**: the same patterns as ``regex_lf`` (RE2 on the Arrow column), noop sink;
* **pipeline**: ``run_pipeline`` with the vectorized LFs over the Parquet corpus: apply + votes
  Delta write with fused statistics, fit, predict + labels Delta write (warm session, after an
  untimed warm-up run).

Each method: best wall time of ``--repeat`` runs, and "CPU s/run", the CPU seconds of the whole
process tree (driver, JVM, Python workers) per run: on a shared machine the wall time grows with
the others' load, the CPU seconds hardly.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def tree_cpu_s() -> float | None:
    """CPU seconds (user + system) of this process and every live descendant: the driver, the
    local JVM and its Python workers. Linux /proc only (None elsewhere). Unlike wall time it does
    not grow when other work shares the machine."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    hz = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            f = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(d.name)] = (int(f[1]), (int(f[11]) + int(f[12])) / hz)
    mine, total, grew = {os.getpid()}, 0.0, True
    while grew:
        grew = False
        for pid, (ppid, _) in stats.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grew = True
    for pid in mine:
        total += stats.get(pid, (0, 0.0))[1]
    return total


def timed_cpu(fn, repeat: int = 1) -> tuple[float, float | None]:
    """(best wall seconds, mean CPU seconds of the process tree per run) over ``repeat`` runs."""
    c0 = tree_cpu_s()
    best = timed(fn, repeat)
    c1 = tree_cpu_s()
    return best, (c1 - c0) / repeat if c0 is not None and c1 is not None else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON results (default bench_apply.json, "
                    "bench_regex10.json for --preset regex10)")  # fmt: skip
    ap.add_argument("--preset", choices=["mixed20", "regex10"], default="mixed20",
                    help="mixed20: the 20 mixed LFs of bench_lfs.py (default); regex10: 1M short "
                         "texts x 10 regex LFs vs the one-process reference")  # fmt: skip
    ap.add_argument(
        "--batch-rows",
        type=int,
        default=None,
        help="spark.sql.execution.arrow.maxRecordsPerBatch (default: the session's)",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        choices=["row", "vectorized", "pipeline"],
        help="regex10: run only these methods (the reference always runs)",
    )
    ap.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="regex10: extra Spark setting (repeatable), e.g. spark.sql.files.maxPartitionBytes=4m",
    )
    args = ap.parse_args(argv)
    if args.preset == "regex10":
        return regex10(args)
    args.out = args.out or "bench_apply.json"

    import bench_lfs
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wsup_spark.demo.radiology import generate_reports
    from wsup_spark.io.delta import write_table
    from wsup_spark.lf.kernel import apply_lfs_local
    from wsup_spark.spark.apply import apply_lfs
    from wsup_spark.spark.session import get_or_create_session
    from wsup_spark.spark.stats import StatsTap, compute_stats
    from wsup_spark.stats import LFStats

    n = args.rows
    cols = generate_reports(np.arange(n), seed=0)
    table = pa.table({k: cols[k] for k in ("id", "text", "patient_age")})
    tmp = Path(tempfile.mkdtemp(prefix="wsup-bench-"))
    corpus = tmp / "corpus"
    corpus.mkdir()
    step = -(-n // args.partitions)
    for i in range(args.partitions):
        pq.write_table(table.slice(i * step, step), corpus / f"part-{i:03d}.parquet")

    sets = {"mixed20": bench_lfs.LFS, "row": bench_lfs.ROW_LFS, "vectorized": bench_lfs.VECTOR_LFS}
    spark = get_or_create_session("local[2]", "wsup-bench-apply")
    df = spark.read.parquet(str(corpus))
    apply_lfs(df.limit(1000), bench_lfs.LFS, "id", 2).write.format("noop").mode("overwrite").save()

    rows = []
    for name, lfs in sets.items():
        m = len(lfs)
        t_limit = timed(lambda lfs=lfs: apply_lfs_local(table, lfs, 2, "id", batch_size=10_000),
                        args.repeat)  # fmt: skip

        def spark_apply(lfs=lfs):
            apply_lfs(df, lfs, "id", 2).write.format("noop").mode("overwrite").save()

        def spark_apply_stats(lfs=lfs, m=m):
            compute_stats(apply_lfs(df, lfs, "id", 2), m, 2)

        def write_votes(tap: bool, lfs=lfs, m=m, name=name):
            tap_factory = functools.partial(StatsTap, LFStats.empty(m, 2)) if tap else None
            write_table(apply_lfs(df, lfs, "id", 2), str(tmp / f"votes-{name}-{tap}"),
                        run_id="bench", mode="overwrite", tap_factory=tap_factory)  # fmt: skip

        t_spark = timed(spark_apply, args.repeat)
        t_stats_pass = timed(spark_apply_stats, args.repeat)
        t_write = timed(lambda: write_votes(False), args.repeat)
        t_write_tap = timed(lambda: write_votes(True), args.repeat)
        rows.append({
            "lfs": name, "m": m, "rows": n,
            "limit_rows_s": n / t_limit, "spark_rows_s": n / t_spark,
            "spark_vs_limit": t_limit / t_spark,
            "apply+stats_pass_s": t_stats_pass, "apply_s": t_spark,
            "stats_overhead_second_pass": t_stats_pass / t_spark - 1,
            "write_votes_s": t_write, "write_votes_with_tap_s": t_write_tap,
            "stats_overhead_fused_tap": t_write_tap / t_write - 1,
        })  # fmt: skip
    spark.stop()

    hdr = f"{'LFs':<11}{'m':>3}{'limit r/s':>12}{'spark r/s':>12}{'ratio':>7}" \
          f"{'stats(pass)':>13}{'stats(tap)':>12}"  # fmt: skip
    print(f"rows={n:,}  partitions={args.partitions}  cpus={os.cpu_count()}  "
          f"python={platform.python_version()}")  # fmt: skip
    print(hdr)
    for r in rows:
        print(f"{r['lfs']:<11}{r['m']:>3}{r['limit_rows_s']:>12,.0f}{r['spark_rows_s']:>12,.0f}"
              f"{r['spark_vs_limit']:>7.2f}{r['stats_overhead_second_pass']:>+13.1%}"
              f"{r['stats_overhead_fused_tap']:>+12.1%}")  # fmt: skip
    Path(args.out).write_text(json.dumps({"machine": {"cpus": os.cpu_count(),
                                                      "platform": platform.platform()},
                                          "results": rows}, indent=2))  # fmt: skip
    print(f"wrote {args.out}")
    return 0


def regex10(args: argparse.Namespace) -> int:
    """The ``--preset regex10`` benchmark (see the module docstring)."""
    import bench_lfs
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wsup_spark.spark.apply import apply_lfs
    from wsup_spark.spark.session import get_or_create_session

    n = args.rows
    table = pa.table(bench_lfs.short_texts(n))
    tmp = Path(tempfile.mkdtemp(prefix="wsup-bench-regex10-"))
    corpus = tmp / "corpus"
    corpus.mkdir()
    step = -(-n // args.partitions)
    for i in range(args.partitions):
        pq.write_table(table.slice(i * step, step), corpus / f"part-{i:03d}.parquet")

    texts = table.column("text").to_pylist()

    def reference() -> None:
        for f in bench_lfs.REGEX10_FUNCS:
            np.fromiter(map(f, texts), np.int8, n)

    conf = dict(kv.split("=", 1) for kv in args.conf)
    if args.batch_rows:
        conf["spark.sql.execution.arrow.maxRecordsPerBatch"] = str(args.batch_rows)
    spark = get_or_create_session("local[2]", "wsup-bench-regex10", conf)
    df = spark.read.parquet(str(corpus))
    parts = df.rdd.getNumPartitions()
    # untimed warm-up over every partition, so that each core's Python worker is started
    sample = df.sample(fraction=min(1.0, 20_000 / max(n, 1)), seed=0)
    warm = apply_lfs(sample, bench_lfs.REGEX10_ROW + bench_lfs.REGEX10_VECTOR, "id", 2)
    warm.write.format("noop").mode("overwrite").save()

    def noop(lfs: list) -> None:
        apply_lfs(df, lfs, "id", 2).write.format("noop").mode("overwrite").save()

    def pipeline() -> None:
        from wsup_spark.config import parse_config
        from wsup_spark.pipeline import run_pipeline

        cfg = parse_config({
            "run_id": "bench-regex10",
            "source": {"format": "parquet", "path": str(corpus), "id_col": "id"},
            "lfs": {"modules": ["bench_lfs:REGEX10_VECTOR"], "cardinality": 2},
            "output": {"path": str(tmp / "out"), "mode": "overwrite"},
        })  # fmt: skip
        t0 = time.perf_counter()
        res = run_pipeline(cfg, spark)
        stages.append((time.perf_counter() - t0, dict(res.timings)))

    methods = {
        "row": ("wsup apply_lfs, row LFs (x.text), local[2], noop sink",
                lambda: noop(bench_lfs.REGEX10_ROW)),
        "vectorized": ("wsup apply_lfs, the same patterns as vectorized LFs",
                       lambda: noop(bench_lfs.REGEX10_VECTOR)),
        "pipeline": ("wsup apply + statistics + fit + predict + Delta writes (vectorized)",
                     pipeline),
    }  # fmt: skip
    only = args.only or list(methods)
    stages: list[tuple[float, dict]] = []  # (seconds, stage timings) of each pipeline run
    if "pipeline" in only:
        pipeline()  # warm-up, untimed: first Delta writes, imports in the Python workers
    t_ref, cpu_ref = timed_cpu(reference, args.repeat)
    rows = [{"method": "reference", "what": "the LF functions, one plain Python process, "
             "column-at-a-time over a list of str", "seconds": t_ref, "rows_s": n / t_ref,
             "vs_reference": 1.0, "cpu_s": cpu_ref}]  # fmt: skip
    for key in only:
        what, fn = methods[key]
        t, cpu = timed_cpu(fn, args.repeat)
        rows.append({"method": key, "what": what, "seconds": t, "rows_s": n / t,
                     "vs_reference": t_ref / t, "cpu_s": cpu})  # fmt: skip
        if key == "pipeline":
            rows[-1]["stages_s"] = min(stages[1:], key=lambda st: st[0])[1]  # the best run's
    batch = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.stop()

    print(
        f"preset=regex10  rows={n:,}  files={args.partitions}  spark partitions={parts}  "
        f"arrow batch={batch}  cpus={os.cpu_count()}  python={platform.python_version()}"
    )
    print(f"{'method':<12}{'seconds':>9}{'rows/s':>12}{'x reference':>13}{'CPU s/run':>11}")
    for r in rows:
        cpu = f"{r['cpu_s']:>11.2f}" if r["cpu_s"] is not None else f"{'-':>11}"
        print(
            f"{r['method']:<12}{r['seconds']:>9.2f}{r['rows_s']:>12,.0f}{r['vs_reference']:>13.2f}"
            + cpu
        )
    for r in rows:
        if "stages_s" in r:
            desc = ", ".join(f"{k} {v:.2f}" for k, v in r["stages_s"].items())
            print(f"pipeline stages (s): {desc}")
    out = args.out or "bench_regex10.json"
    Path(out).write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "preset": "regex10", "rows": n, "files": args.partitions, "spark_partitions": parts,
        "arrow_batch_rows": batch, "conf": conf, "repeat": args.repeat, "results": rows,
    }, indent=2))  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
