"""Benchmark: the whole pipeline from 1e5 to 1e7 rows; driver cost must stay flat in n.

    python scripts/bench_scale.py [--rows 100000 1000000 10000000] [--out bench_scale.json]

Each size runs in its own process (so peak memory is per size) with the local job's defaults
(local[*]), the demo corpus generated on Spark and the 20 mixed LFs of ``scripts/bench_lfs.py``:
apply LFs + write votes (statistics fused as a tap), fit, predict + write labels. No gold
evaluation and no training table (they are optional stages). Reported per size: wall time per
stage, label-model fit time, the driver's peak Python RSS, the JVM heap in use after the run
and a full GC (in local mode executors share the driver JVM), and predict+write vs a plain Spark
Parquet write of the same predicted rows. The in-pipeline stage runs first (cold Python workers,
first read of the votes), so the ratio is also measured warm: ``--warm-rounds`` alternating rounds
of the plain Parquet write and the same ``write_table`` of the predicted rows (median ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one(n: int, out: str, warm_rounds: int = 2) -> dict[str, object]:
    """Run the pipeline once at n rows (inside the child process)."""
    from wsup_spark.config import parse_config
    from wsup_spark.io.delta import read_table, write_table
    from wsup_spark.pipeline import run_pipeline
    from wsup_spark.spark.apply import VOTES_COL
    from wsup_spark.spark.predict import predict_labels, predict_transform
    from wsup_spark.spark.session import get_or_create_session

    cfg = parse_config({
        "run_id": f"bench-{n}",
        "source": {"format": "demo", "n_rows": n, "seed": 0, "gold_col": None},
        "lfs": {"modules": ["bench_lfs:LFS"], "cardinality": 2},
        "output": {"path": out, "mode": "overwrite"},
    })  # fmt: skip
    spark = get_or_create_session(None, "wsup-bench-scale")
    t0 = time.perf_counter()
    res = run_pipeline(cfg, spark)
    total = time.perf_counter() - t0
    votes = read_table(spark, res.votes_path, version=res.votes_version)

    def plain() -> float:
        t = time.perf_counter()
        predict_labels(votes, res.model, len(res.lf_names)).write.mode("overwrite").parquet(
            out + "/plain_parquet"
        )
        return time.perf_counter() - t

    def ours(i: int) -> float:
        t = time.perf_counter()
        write_table(votes.select("id", VOTES_COL), out + "/labels_again", run_id=f"warm-{i}",
                    mode="overwrite",
                    transform=predict_transform(votes, res.model, len(res.lf_names)))  # fmt: skip
        return time.perf_counter() - t

    t_plain = plain()
    warm = [(plain(), ours(i)) for i in range(warm_rounds)]
    jvm = spark.sparkContext._jvm
    jvm.java.lang.System.gc()  # heap in use after a full GC: what the run keeps, not garbage
    heap = jvm.java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage()
    rec = {
        "rows": n,
        "total_s": total,
        "stages_s": res.timings,
        "fit_s": res.timings.get("fit label model"),
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jvm_heap_used_mb": heap.getUsed() / 2**20,
        "predict_write_s": res.timings.get("predict + write labels"),
        "plain_parquet_write_s": t_plain,
    }
    rec["predict_write_vs_parquet"] = rec["predict_write_s"] / t_plain  # type: ignore[operator]
    rec["warm_rounds_s"] = [{"parquet": a, "write_table": b} for a, b in warm]
    rec["warm_predict_write_vs_parquet"] = (
        float(sorted(b / a for a, b in warm)[len(warm) // 2]) if warm else None
    )
    spark.stop()
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--out", default="bench_scale.json")
    ap.add_argument("--warm-rounds", type=int, default=2)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(one(args.child, args.child_out, args.warm_rounds)), flush=True)
        return 0
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    )
    results = []
    for n in args.rows:
        tmp = tempfile.mkdtemp(prefix=f"wsup-scale-{n}-")
        cmd = [sys.executable, __file__, "--child", str(n), "--child-out", tmp,
               "--warm-rounds", str(args.warm_rounds)]  # fmt: skip
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        rec = json.loads(line[7:])
        results.append(rec)
        print(f"{n:>11,} rows  total {rec['total_s']:7.1f}s  fit {rec['fit_s']:.3f}s  "
              f"driver RSS {rec['driver_peak_rss_mb']:6.0f} MB  "
              f"JVM heap {rec['jvm_heap_used_mb']:6.0f} MB  "
              f"predict+write/parquet {rec['predict_write_vs_parquet']:.2f} "
              f"(warm {rec['warm_predict_write_vs_parquet'] or float('nan'):.2f})  "
              f"stages {json.dumps({k: round(v, 1) for k, v in rec['stages_s'].items()})}",
              flush=True)  # fmt: skip
    Path(args.out).write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
