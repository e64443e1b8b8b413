"""Runs on disk: rebuild a :class:`~wsup_spark.pipeline.PipelineResult` from the tables and
artifacts a ``wsup run`` left behind, and small file I/O on local paths or pyarrow URIs."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from wsup_spark.core.errors import DataError
from wsup_spark.labelmodel.stats import LFStats

if TYPE_CHECKING:
    from wsup_spark.pipeline import PipelineResult


def write_bytes(path: str, data: bytes) -> None:
    """Write a file to a local path or a pyarrow filesystem URI, creating parent folders."""
    from pyarrow import fs as pafs

    uri = path if "://" in path else "file://" + os.path.abspath(path)
    filesystem, p = pafs.FileSystem.from_uri(uri)
    parent = p.rsplit("/", 1)[0]
    if parent:
        filesystem.create_dir(parent, recursive=True)
    with filesystem.open_output_stream(p) as f:
        f.write(data)


def read_bytes(path: str) -> bytes:
    """Read a file from a local path or a pyarrow filesystem URI."""
    from pyarrow import fs as pafs

    uri = path if "://" in path else "file://" + os.path.abspath(path)
    filesystem, p = pafs.FileSystem.from_uri(uri)
    with filesystem.open_input_stream(p) as f:
        return bytes(f.read())


def load_run(output_path: str, run_id: str | None = None) -> PipelineResult:
    """Rebuild a run's :class:`~wsup_spark.pipeline.PipelineResult` from what it left on disk.

    Reads the labels table's commit history (the commit metadata names the run, the votes version
    and the artifacts folder), the LF statistics (``lf_stats.npz``) and the fitted label model
    (``label_model.json``). Nothing is recomputed.

    Parameters
    ----------
    output_path : str
        ``output.path`` of the run's config (tables at ``<path>/votes`` and ``<path>/labels``).
    run_id : str, optional
        Which run (tables in append mode hold several); default the latest.
    """
    from wsup_spark.io.delta import commit_history
    from wsup_spark.pipeline import PipelineResult

    out = output_path.rstrip("/")
    labels_path, votes_path = f"{out}/labels", f"{out}/votes"
    try:
        history = commit_history(labels_path)
    except Exception as e:  # deltalake raises its own TableNotFoundError
        raise DataError(
            f"no labels table at {labels_path!r} ({type(e).__name__}: {e}); run "
            "`wsup run --config ...` with this output.path first"
        ) from e
    commits = [
        c
        for c in history
        if c["metadata"].get("stage") == "labels" and (run_id is None or c["run_id"] == run_id)
    ]
    if not commits:
        which = f"run {run_id!r}" if run_id else "any wsup run"
        runs = sorted({str(c["run_id"]) for c in history if c["run_id"]})
        raise DataError(f"the labels table {labels_path!r} has no commit of {which}; runs: {runs}")
    c = commits[-1]
    meta = c["metadata"]
    rid = str(c["run_id"])
    artifacts = str(meta.get("artifacts") or f"{out}/_runs/{rid}")
    try:
        stats = LFStats.from_bytes(read_bytes(f"{artifacts}/lf_stats.npz"))
        params = json.loads(read_bytes(f"{artifacts}/label_model.json"))
    except (OSError, ValueError) as e:
        raise DataError(
            f"run {rid}: cannot read its artifacts in {artifacts!r} ({e}); rerun `wsup run`"
        ) from e
    k = int(meta.get("cardinality") or stats.k)
    return PipelineResult(
        run_id=rid,
        lf_names=list(meta.get("lf_names") or stats.lf_names or []),
        cardinality=k,
        stats=stats,
        model=model_from_dict(params, stats),
        votes_path=votes_path,
        labels_path=labels_path,
        votes_version=int(meta["votes_version"]),
        labels_version=int(c["version"]),
        metrics=dict(meta.get("metrics") or {}),
        lf_errors=dict(meta.get("lf_errors") or {}),
        artifacts_path=artifacts,
    )


def model_from_dict(params: dict[str, Any], stats: LFStats) -> Any:
    """The fitted model of a run from its ``label_model.json``."""
    from wsup_spark.labelmodel import LabelModel, MajorityVote

    kind = params.get("kind")
    if kind == "label_model":
        return LabelModel.from_dict(params)
    if kind == "majority_vote":
        prior = params.get("prior")
        return MajorityVote(int(params["cardinality"])).fit(stats, class_balance=prior)
    raise DataError(f"label_model.json has unknown kind {kind!r}")
