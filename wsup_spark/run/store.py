"""Run artifacts on disk, and loading a finished run back.

A run writes, under ``<output.path>/_runs/<run id>/`` (see :class:`~wsup_spark.run.layout.
RunLayout`): the fitted model's parameters (``label_model.json``), the LF statistics
(``lf_stats.npz``) and, last, ``summary.json``. :func:`load_run` rebuilds the run's
:class:`~wsup_spark.run.result.PipelineResult` from the run manifest (which names the table
versions that form the run), the labels table's commit history (the votes version and the artifacts
folder) and those files; nothing is recomputed. A run that never committed its manifest entry (a
driver killed midway) is not "the latest run". A multi-task run's artifacts hold
:class:`~wsup_spark.labelmodel.multitask.MultiTaskStats` and a
:class:`~wsup_spark.labelmodel.multitask.MultiTaskLabelModel` (``"kind":
"multitask_label_model"``); :func:`load_run` rebuilds those.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from wsup_spark.errors import DataError, ModelError
from wsup_spark.io.delta import commit_history
from wsup_spark.io.files import read_bytes, write_files
from wsup_spark.labelmodel.base import BaseLabelModel, label_model_from_dict
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats
from wsup_spark.run.incremental import STATE_FILE, RunState
from wsup_spark.run.layout import MODEL_FILE, STATS_FILE, SUMMARY_FILE, RunLayout
from wsup_spark.run.manifest import RunManifest
from wsup_spark.run.result import PipelineResult
from wsup_spark.stats.lfstats import LFStats


def save_artifacts(
    layout: RunLayout,
    run_id: str,
    model: BaseLabelModel | MultiTaskLabelModel,
    stats: LFStats | MultiTaskStats,
) -> dict[str, Any]:
    """Write the fitted model and the LF statistics of ``run_id``; returns the model's params."""
    params = model.to_dict()
    write_files(
        layout.artifacts(run_id),
        {MODEL_FILE: json.dumps(params).encode(), STATS_FILE: stats.to_bytes()},
    )
    return params


def save_summary(result: PipelineResult) -> None:
    """Write ``summary.json`` of a finished run (the last file a run writes)."""
    write_files(result.artifacts_path, {SUMMARY_FILE: json.dumps(result.summary()).encode()})


def load_run(output_path: str, run_id: str | None = None) -> PipelineResult:
    """Rebuild a run's :class:`PipelineResult` from what it left on disk.

    Parameters
    ----------
    output_path : str
        ``output.path`` of the run's config.
    run_id : str, optional
        Which run (tables in append mode hold several); default the latest.
    """
    layout = RunLayout.at(output_path)
    try:
        history = commit_history(layout.labels)
    except Exception as e:  # DataError, or deltalake's own errors on a broken log
        raise DataError(
            f"no labels table at {layout.labels!r} ({type(e).__name__}: {e}); run "
            "`wsup run --config ...` with this output.path first"
        ) from e
    commits = [
        c
        for c in history
        if c["metadata"].get("stage") == "labels" and (run_id is None or c["run_id"] == run_id)
    ]
    done = RunManifest(layout).last_commit(run_id)
    if not commits and done is None:
        which = f"run {run_id!r}" if run_id else "any wsup run"
        runs = sorted({str(c["run_id"]) for c in history if c["run_id"]})
        raise DataError(
            f"the labels table {layout.labels!r} has no commit of {which}; runs: {runs}"
        )
    if done is not None:  # the run manifest names the run and the versions that form it
        rid = done.run_id
        c = next((x for x in history if int(x["version"]) == done.labels_version), None)
        if c is not None and str(c["run_id"]) == rid:
            meta = c["metadata"]
        else:  # an incremental run that left the labels as they were: its own summary
            meta = _summary_meta(layout, rid)
        votes_version, labels_version = int(done.votes_version or 0), int(done.labels_version or 0)
    else:
        c = commits[-1]
        meta, rid = c["metadata"], str(c["run_id"])
        votes_version, labels_version = int(meta["votes_version"]), int(c["version"])
    folder = str(meta.get("artifacts") or layout.artifacts(rid))
    try:
        stats, model = load_artifacts(folder)
    except (OSError, ValueError, KeyError, ModelError) as e:
        raise DataError(
            f"run {rid}: cannot read its artifacts in {folder!r} ({type(e).__name__}: {e}); "
            "rerun `wsup run`"
        ) from e
    if stats.lf_names is None and meta.get("lf_names"):
        stats = dataclasses.replace(stats, lf_names=tuple(meta["lf_names"]))
    if isinstance(stats, MultiTaskStats) and meta.get("lf_tasks"):
        _check_lf_tasks(rid, stats, meta["lf_tasks"])
    return PipelineResult(
        run_id=rid,
        stats=stats,
        model=model,
        layout=layout,
        votes_version=votes_version,
        labels_version=labels_version,
        train_version=done.train_version if done is not None and done.run_id == rid else None,
        metrics=dict(meta.get("metrics") or {}),
        lf_errors=dict(meta.get("lf_errors") or {}),
        lf_versions=lf_versions(layout, rid, meta),
    )


def load_artifacts(
    folder: str,
) -> tuple[LFStats, BaseLabelModel] | tuple[MultiTaskStats, MultiTaskLabelModel]:
    """The LF statistics and fitted label model in a run's artifacts ``folder``: the model's
    ``kind`` says which (``"multitask_label_model"``: :class:`MultiTaskStats` and
    :class:`MultiTaskLabelModel`; else :class:`LFStats` and the single-task model)."""
    params = json.loads(read_bytes(f"{folder}/{MODEL_FILE}"))
    raw = read_bytes(f"{folder}/{STATS_FILE}")
    if isinstance(params, dict) and params.get("kind") == "multitask_label_model":
        return MultiTaskStats.from_bytes(raw), MultiTaskLabelModel.from_dict(params)
    return LFStats.from_bytes(raw), label_model_from_dict(params)


def _check_lf_tasks(run_id: str, stats: MultiTaskStats, lf_tasks: list[str]) -> None:
    """The statistics' LF-to-task map must be the labels commit's (both written by the run)."""
    got = [stats.graph.tasks[t].name for t in stats.lf_tasks]
    if got != list(lf_tasks):
        raise DataError(
            f"run {run_id}: its {STATS_FILE} maps the LFs to tasks {got}, its labels commit "
            f"says {list(lf_tasks)}; the artifacts folder was overwritten — rerun `wsup run`"
        )


def _summary_meta(layout: RunLayout, run_id: str) -> dict[str, Any]:
    """The labels-commit fields of a run that wrote no labels commit, from its summary.json."""
    try:
        summary = json.loads(read_bytes(layout.artifact(run_id, SUMMARY_FILE)))
    except (OSError, ValueError) as e:
        raise DataError(
            f"run {run_id}: the run manifest records it, but its {SUMMARY_FILE} cannot be read "
            f"({type(e).__name__}: {e}); rerun `wsup run`"
        ) from e
    return {"metrics": summary.get("metrics"), "lf_errors": summary.get("lf_errors"),
            "lf_names": summary.get("lf_names")}  # fmt: skip


def lf_versions(layout: RunLayout, run_id: str, meta: dict[str, Any]) -> list[dict[str, str]]:
    """Per LF column: name, fingerprint and the run that computed it (from the run's state;
    older runs: the labels commit's fingerprints, computed by the run itself)."""
    try:
        state = RunState.from_json(read_bytes(layout.artifact(run_id, STATE_FILE)).decode())
        return [{"lf": c.name, "fingerprint": c.fingerprint, "computed_by": c.computed_by}
                for c in state.columns]  # fmt: skip
    except (OSError, ValueError, KeyError):
        names, fps = meta.get("lf_names") or [], meta.get("lf_fingerprints") or []
        return [{"lf": n, "fingerprint": f, "computed_by": run_id}
                for n, f in zip(names, fps, strict=False)]  # fmt: skip
