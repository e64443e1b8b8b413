"""Benchmark: LF application on Spark vs the physical limit, and the cost of LF statistics.

    python scripts/bench_apply.py [--rows 1000000] [--out bench_apply.json]

* **limit**: the same LFs over the same rows in one plain Python process, column-at-a-time over
  Arrow batches (``apply_lfs_local``: the very kernel Spark tasks run).
* **spark**: ``apply_lfs`` on local[2] over a Parquet copy of the corpus, sunk to Spark's
  ``noop`` writer (warm: Python workers started by a first run).
* **stats**: the same plus LF statistics — (a) as a second pass over the votes (tree reduction),
  (b) fused into the votes-table write as a tap (what the pipeline does) vs the write alone.

Reported for the 20-LF mixed set, its row-LF half and its vectorized half.
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default="bench_apply.json")
    args = ap.parse_args(argv)

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


if __name__ == "__main__":
    raise SystemExit(main())
