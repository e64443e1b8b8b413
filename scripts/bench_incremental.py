"""Benchmark: incremental runs against full reruns (issue 17), in one process, one run.

    python scripts/bench_incremental.py [--rows 10000000] [--new-frac 0.01] [--out FILE.json]

Corpus: the radiology demo's reports (``generate_reports``) as Parquet, ``day=0`` holding
``--rows`` rows; later ``day=1`` brings ``new-frac × rows`` new rows. LFs: 19 of the 20 mixed LFs
of ``scripts/bench_lfs.py`` plus :data:`model_lf`, a model-based LF (hashed bag of words → a
two-layer MLP in numpy, ~10 µs per row here: the cost of a small learned model's inference).
Steps, each timed end to end (``run_pipeline``: apply, votes write, statistics, fit, labels):

1. full run on day 0 (the state to build on);
2. **new rows**: incremental run with ``incremental.where: day = 1`` vs 3. a full rerun over days
   0+1 into a fresh output; their LF statistics must be identical;
4. **one LF changed** (a cheap regex LF's pattern: ``rib fracture`` → ``fracture``): incremental
   run on the output of step 2 vs 5. a full rerun with the changed LF set; labels must be
   bit-identical (compared by id on Spark), statistics identical.

Reported: seconds per run, the two speedups, the equality checks, the driver's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsup_spark.lf.base import ABSTAIN, vectorized_lf
from wsup_spark.lf.templates import regex_lf

_TOKEN = re.compile(r"[a-z]+")
_DIM, _HID = 2**12, 32
_RNG = np.random.default_rng(7)
_W1 = _RNG.normal(0, 0.3, (_DIM, _HID)).astype(np.float32)
_W2 = _RNG.normal(0, 0.3, (_HID, 2)).astype(np.float32)


@vectorized_lf(name="model_lf", columns=["text"])
def model_lf(df):
    """A learned model's vote: hashed bag of words → MLP → argmax where confident."""
    texts = df["text"].fillna("").str.lower().tolist()
    X = np.zeros((len(texts), _DIM), np.float32)
    for i, t in enumerate(texts):
        for tok in _TOKEN.findall(t):
            X[i, zlib.crc32(tok.encode()) % _DIM] += 1.0  # a stable hash: same in every process
    H = np.maximum(X @ _W1, 0)
    Z = H @ _W2
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    return np.where(P.max(1) > 0.8, P.argmax(1), ABSTAIN)


def lf_sets():
    import bench_lfs

    base = [*bench_lfs.LFS[:19], model_lf]
    changed = list(base)
    i = next(j for j, lf in enumerate(base) if lf.name == "vec_rib_fracture")
    changed[i] = regex_lf("vec_rib_fracture", r"fracture", 1)  # was "rib fracture"
    return base, changed


def write_corpus(root: Path, day: int, start: int, n: int, chunk: int = 1_000_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wsup_spark.demo.radiology import generate_reports

    folder = root / f"day={day}"
    folder.mkdir(parents=True, exist_ok=True)
    for k, lo in enumerate(range(start, start + n, chunk)):
        cols = generate_reports(np.arange(lo, min(lo + chunk, start + n)), seed=0)
        t = pa.table({c: cols[c] for c in ("id", "text", "patient_age")})
        pq.write_table(t, folder / f"part-{k:04d}.parquet", row_group_size=250_000)


def _in_child(fn: object, *args: object) -> None:
    import multiprocessing as mp

    p = mp.get_context("spawn").Process(target=fn, args=args)
    p.start()
    p.join()
    if p.exitcode:
        raise SystemExit(f"corpus generation failed (exit code {p.exitcode})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--new-frac", type=float, default=0.01)
    ap.add_argument("--out", default="bench_incremental.json")
    ap.add_argument("--tmp", default=None, help="work folder (default: a new temp folder)")
    args = ap.parse_args(argv)

    from pyspark.sql import functions as F

    from wsup_spark.config import parse_config
    from wsup_spark.io.delta import read_table
    from wsup_spark.pipeline import run_pipeline
    from wsup_spark.spark.session import get_or_create_session

    n, n_new = args.rows, max(1, int(args.rows * args.new_frac))
    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="wsup-bench-inc-"))
    corpus = tmp / "corpus"
    shutil.rmtree(tmp / "out", ignore_errors=True)
    t0 = time.perf_counter()
    if not (corpus / "day=0").exists():  # in a child process: the driver's RSS stays its own
        _in_child(write_corpus, corpus, 0, 0, n)
    shutil.rmtree(corpus / "day=1", ignore_errors=True)
    print(f"corpus: {n:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
    spark = get_or_create_session("local[2]", "wsup-bench-incremental")
    base, changed = lf_sets()

    def cfg(out: str, run_id: str, incremental: bool, **inc: object) -> object:
        return parse_config({
            "run_id": run_id,
            "source": {"format": "parquet", "path": str(corpus)},
            "lfs": {"modules": ["unused:LFS"], "cardinality": 2},
            "output": {"path": str(tmp / "out" / out)},
            "incremental": {"enabled": incremental, **inc},
        })  # fmt: skip

    def timed(name: str, c: object, lfs: list) -> tuple[object, float]:
        t = time.perf_counter()
        res = run_pipeline(c, spark, lfs=lfs)  # type: ignore[arg-type]
        s = time.perf_counter() - t
        print(f"{name:<34}{s:>9.1f} s   {json.dumps(res.metrics.get('incremental', {}))[:160]}",
              flush=True)  # fmt: skip
        return res, s

    results: dict[str, float] = {}
    _, results["full_day0_s"] = timed("full run (day 0)", cfg("main", "day0", True), base)
    _in_child(write_corpus, corpus, 1, n, n_new)
    inc_rows, results["incremental_new_rows_s"] = timed(
        f"incremental +{n_new:,} rows", cfg("main", "day1", True, where="day = 1"), base)
    full_rows, results["full_rerun_new_rows_s"] = timed(
        "full rerun (days 0+1)", cfg("full_rows", "full-rows", False), base)
    inc_lf, results["incremental_changed_lf_s"] = timed(
        "incremental, 1 LF changed", cfg("main", "lf2", True), changed)
    full_lf, results["full_rerun_changed_lf_s"] = timed(
        "full rerun, 1 LF changed", cfg("full_lf", "full-lf", False), changed)

    a = read_table(spark, inc_lf.labels_path, version=inc_lf.labels_version)
    b = read_table(spark, full_lf.labels_path, version=full_lf.labels_version)
    joined = a.select("id", F.col("probs").alias("pa")).join(
        b.select("id", F.col("probs").alias("pb")), "id", "full_outer")
    mismatches = joined.where(~F.col("pa").eqNullSafe(F.col("pb"))).count()
    checks = {
        "stats_identical_new_rows": bool(inc_rows.stats == full_rows.stats),
        "stats_identical_changed_lf": bool(inc_lf.stats == full_lf.stats),
        "labels_rows_differing_changed_lf": int(mismatches),
        "labels_rows": int(a.count()),
    }
    speed = {
        "new_rows_speedup": results["full_rerun_new_rows_s"] / results["incremental_new_rows_s"],
        "changed_lf_speedup": results["full_rerun_changed_lf_s"]
        / results["incremental_changed_lf_s"],
    }
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows={n:,} new={n_new:,} LFs={len(base)} cpus={os.cpu_count()} "
          f"python={platform.python_version()}")  # fmt: skip
    print(f"new rows:   full {results['full_rerun_new_rows_s']:.1f} s / incremental "
          f"{results['incremental_new_rows_s']:.1f} s = {speed['new_rows_speedup']:.1f}x; "
          f"statistics identical: {checks['stats_identical_new_rows']}")  # fmt: skip
    print(f"changed LF: full {results['full_rerun_changed_lf_s']:.1f} s / incremental "
          f"{results['incremental_changed_lf_s']:.1f} s = {speed['changed_lf_speedup']:.1f}x; "
          f"labels differing: {mismatches} of {checks['labels_rows']:,}; statistics identical: "
          f"{checks['stats_identical_changed_lf']}")  # fmt: skip
    print(f"driver peak RSS: {rss:.0f} MB")
    Path(args.out).write_text(json.dumps({
        "rows": n, "new_rows": n_new, "lfs": len(base), "seconds": results, "speedup": speed,
        "checks": checks, "driver_peak_rss_mb": rss,
        "timings": {"incremental_new_rows": inc_rows.timings,
                    "full_rerun_new_rows": full_rows.timings,
                    "incremental_changed_lf": inc_lf.timings,
                    "full_rerun_changed_lf": full_lf.timings},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }, indent=2, default=str))  # fmt: skip
    print(f"wrote {args.out}")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
