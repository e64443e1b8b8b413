"""Check one pipeline run's Delta tables (the Airflow DAG's last task; usable on its own).

    python scripts/airflow/check_run.py --config conf/cluster.yaml --run-id 20240101T000000Z \
        [--set output.path=...]

Reads the run's ``commit`` entry in the run manifest (written last by the pipeline; see
:mod:`wsup_spark.run.manifest`) for the table versions that form the run, and its ``summary.json``
for ``n_rows``; then the votes, labels and train tables at those versions, with
:func:`wsup_spark.io.read_arrow` (no Spark). Checks that the run committed, that the commits
belong to the run, that each table holds exactly ``n_rows`` rows of this run and no id twice.
Prints one JSON line; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import pyarrow.compute as pc

from wsup_spark.config import load_config
from wsup_spark.io import commit_history, read_arrow
from wsup_spark.io.files import read_bytes
from wsup_spark.run.layout import SUMMARY_FILE, RunLayout
from wsup_spark.run.manifest import RunManifest


def table_rows(path: str, version: int, run_id: str) -> dict[str, Any]:
    """Row count, distinct ids and commit metadata of ``run_id``'s rows at ``version``."""
    tbl = read_arrow(path, version).select(["id", "run_id"])
    mine = tbl.filter(pc.equal(tbl["run_id"], run_id))
    meta = next((c["metadata"] for c in commit_history(path) if c["version"] == version), {})
    return {
        "version": version,
        "rows": mine.num_rows,
        "distinct_ids": len(pc.unique(mine["id"])),
        "rows_all_runs": tbl.num_rows,
        "distinct_ids_all_runs": len(pc.unique(tbl["id"])),
        "commit_run_id": meta.get("run_id"),
    }


def check(output: str, run_id: str) -> dict[str, Any]:
    """The checks' results; ``ok`` is True when every check passed."""
    layout = RunLayout.at(output)
    res: dict[str, Any] = {"run_id": run_id, "tables": {}, "problems": []}
    done = RunManifest(layout).last_commit(run_id)
    if done is None:
        res["problems"].append(f"run {run_id} has no commit in the run manifest {layout.manifest}")
        res["ok"] = False
        return res
    summary = json.loads(read_bytes(layout.artifact(run_id, SUMMARY_FILE)))
    n = int(summary["n_rows"])
    res["n_rows"] = n
    inc = (summary.get("metrics") or {}).get("incremental") or {}
    if inc.get("base_run"):  # an incremental run: the tables hold every run's rows, one per id
        res["incremental"] = {k: inc.get(k) for k in ("base_run", "votes", "labels", "new_rows")}
    versions = {"votes": done.votes_version, "labels": done.labels_version,
                "train": done.train_version}  # fmt: skip
    for name, version in versions.items():
        if version is None:
            continue  # no training table in this run
        info = table_rows(layout.table(name), int(version), run_id)
        res["tables"][name] = info
        if inc.get("base_run"):
            kept = (name == "votes" and inc.get("votes") == "unchanged") or (
                name in ("labels", "train") and inc.get("labels") == "none")
            if not kept and info["commit_run_id"] != run_id:
                res["problems"].append(f"{name} v{version} was committed by "
                                       f"{info['commit_run_id']}")  # fmt: skip
            if info["rows_all_runs"] != n or info["distinct_ids_all_runs"] != n:
                res["problems"].append(
                    f"{name}: {info['rows_all_runs']} rows / {info['distinct_ids_all_runs']} "
                    f"distinct ids, expected {n} (one per id)"
                )
            continue
        if info["commit_run_id"] != run_id:
            res["problems"].append(f"{name} v{version} was committed by {info['commit_run_id']}")
        if info["rows"] != n or info["distinct_ids"] != n:
            res["problems"].append(
                f"{name}: {info['rows']} rows / {info['distinct_ids']} distinct ids for the run, "
                f"expected {n}"
            )
    res["ok"] = not res["problems"]
    return res


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="check_run.py", description=__doc__)
    p.add_argument("--config", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--run-id", required=True)
    a = p.parse_args(argv)
    cfg = load_config(a.config, a.overrides)
    res = check(cfg.output.path, a.run_id)
    print(json.dumps(res, sort_keys=True))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
