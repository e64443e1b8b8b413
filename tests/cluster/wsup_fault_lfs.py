"""LFs for the cluster fault test: the demo's LFs plus a slow LF that records where it ran.

Shipped to the executors with ``--py-files`` (like a user's own LF module). ``lf_slow_probe``
abstains on every row; per batch it writes a JSON marker (pid, Python, where ``wsup_spark`` was
imported from) into ``$WSUP_FAULT_DIR`` and sleeps ``$WSUP_FAULT_SLEEP`` seconds, so the test can
see the LF stage running and kill an executor in the middle of it. ``lf_always_fails`` checks
that LF failure counts stay exact under task retries.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

from wsup_spark import ABSTAIN, vectorized_lf
from wsup_spark.demo.radiology_lfs import LFS as DEMO_LFS


@vectorized_lf(columns=["text"])
def lf_slow_probe(df: Any) -> Any:
    out = os.environ.get("WSUP_FAULT_DIR")
    if out:
        import wsup_spark

        rec = {"pid": os.getpid(), "rows": len(df), "python": sys.executable,
               "wsup_spark": wsup_spark.__file__, "t": time.time()}  # fmt: skip
        name = f"{os.getpid()}-{time.time_ns()}"
        tmp = os.path.join(out, f".{name}.tmp")
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.replace(tmp, os.path.join(out, f"{name}.json"))
    time.sleep(float(os.environ.get("WSUP_FAULT_SLEEP", "0")))
    return np.full(len(df), ABSTAIN, dtype=np.int64)


@vectorized_lf(columns=["text"])
def lf_always_fails(df: Any) -> Any:
    """Raises on every batch: under lfs.on_error=abstain each of its rows becomes an abstain
    and is counted once — exactly n in all, however many task attempts ran."""
    raise RuntimeError("this LF fails on purpose")


LFS = [*DEMO_LFS, lf_slow_probe, lf_always_fails]
