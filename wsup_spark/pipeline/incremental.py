"""Incremental runs: change some LFs or add new rows without recomputing the world.

:func:`run_incremental_stages` builds on the last committed run of the output path (its
:class:`~wsup_spark.run.incremental.RunState`):

1. **LFs** are compared by fingerprint (:func:`~wsup_spark.run.incremental.plan_lfs`): unchanged
   LF columns are reused from the stored int8 votes, added or changed LFs are applied to the
   corpus (only their columns are read), removed ones are dropped.
2. **New rows** (``incremental.where`` / ``files`` / ``delta_versions``, or source ids the votes
   table lacks) get every LF. A new row whose id the table holds replaces that row (an upsert).
3. **Votes**: when only new rows arrived (no LF change, no upsert) they are *added* to the votes
   table in one commit and their statistics partial is merged with the stored partials (exact:
   integer counts). Otherwise the votes table is rewritten in one commit from the stored votes
   (spliced with the recomputed columns by id) plus the new rows, and the statistics come from
   that write (a tap: the same fused pass), bit-identical to a full run's.
4. **Model**: refit from the statistics (cost independent of n). When its parameters differ
   from the previous run's, every row is relabeled; when they do not, only new rows are labeled;
   with no new rows and the same model the labels table is left as it is.
5. On failure, every table this run committed to is restored to the previous run's version.

What was recomputed, and why, is in ``metrics["incremental"]`` (the summary, the labels commit,
the run manifest).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from pyspark.sql import functions as F

from wsup_spark.errors import DataError
from wsup_spark.io.delta import (
    read_table,
    resolve_writer,
    restore_table,
    table_version,
    write_table,
)
from wsup_spark.io.sources import GOLD_COL, delta_added_files, load_source
from wsup_spark.lf.base import LFSet
from wsup_spark.pipeline.stages import (
    RunContext,
    apply_step,
    evaluate,
    fit_model,
    labels_meta,
    load_corpus,
    run_stages,
    stats_pass,
    write_labels,
    write_training_table,
)
from wsup_spark.run.incremental import (
    RunState,
    batch_stats_file,
    load_model_params,
    load_state,
    load_stats,
    plan_lfs,
    save_state,
)
from wsup_spark.run.layout import STATS_FILE
from wsup_spark.run.result import PipelineResult
from wsup_spark.run.store import save_artifacts, save_summary
from wsup_spark.spark.apply import VOTES_COL, LFErrorCounter
from wsup_spark.spark.session import is_connect
from wsup_spark.spark.splice import NEW_VOTES_COL, splice_transform
from wsup_spark.spark.stats import VotesTap, merge_partials
from wsup_spark.stats.lfstats import LFStats

__all__ = ["run_incremental_stages"]

logger = logging.getLogger(__name__)


def run_incremental_stages(ctx: RunContext) -> PipelineResult:
    """The stages of a claimed incremental run (see the module docstring); a full run when the
    output path holds no committed run yet."""
    state = load_state(ctx.layout)
    if state is None:
        logger.info("incremental run %s: no earlier run at %s, running every LF on every row",
                    ctx.run_id, ctx.layout.root)  # fmt: skip
        result = run_stages(ctx)
        result.metrics["incremental"] = {
            "base_run": None, "votes": "written", "stats": "computed", "labels": "all rows",
            "why": "no earlier run at this output path: a full run",
        }  # fmt: skip
        save_summary(result)
        return result
    _check_compatible(ctx, state)
    before = {"votes": state.votes_version, "labels": state.labels_version,
              "train": state.train_version}  # fmt: skip
    _restore(ctx, before, "an earlier run that did not commit left")
    try:
        return _run(ctx, state)
    except BaseException:
        _restore(ctx, before, "this run failed after committing")
        raise


def _check_compatible(ctx: RunContext, state: RunState) -> None:
    if state.cardinality != ctx.lfset.k:
        raise DataError(
            f"the last run ({state.run_id!r}) had lfs.cardinality={state.cardinality}, this run "
            f"has {ctx.lfset.k}: every vote changes meaning. Run without --incremental"
        )
    if state.has_gold != ctx.has_gold:
        was = "had" if state.has_gold else "had no"
        raise DataError(
            f"the last run ({state.run_id!r}) {was} a gold column (source.gold_col) and this run "
            "differs; the votes table's columns change. Run without --incremental"
        )


def _restore(ctx: RunContext, versions: Mapping[str, int | None], why: str) -> None:
    """Restore each table that moved past ``versions`` (best effort on the failure path)."""
    paths = {"votes": ctx.layout.votes, "labels": ctx.layout.labels, "train": ctx.layout.train}
    for name, version in versions.items():
        if version is None or version < 0:
            continue
        try:
            if table_version(paths[name]) > version:
                logger.warning("%s %s table past version %d: restoring it", why, name, version)
                restore_table(ctx.spark, paths[name], version, ctx.cfg.output.writer)
        except Exception as e:  # never hide the run's own error behind a restore error
            logger.error("could not restore the %s table to version %d: %s", name, version, e)


#: New-row ids up to this many are broadcast to the joins that find them (no shuffle of the
#: stored votes or the corpus); more are joined by shuffling.
BROADCAST_IDS_MAX = 2_000_000


def _id_keys(ids: Any, n: int) -> Any:
    """``ids`` (a one-column frame of ``n`` ids) as the small side of a join: broadcast up to
    :data:`BROADCAST_IDS_MAX`."""
    return F.broadcast(ids) if n <= BROADCAST_IDS_MAX else ids


def _new_rows(ctx: RunContext, corpus: Any, stored: Any) -> tuple[Any, int, bool]:
    """(the new rows as a corpus DataFrame, how many, whether the config named them)."""
    inc, src = ctx.cfg.incremental, ctx.cfg.source
    id_col = src.id_col
    with ctx.stage("find new rows"):
        if inc.where or inc.files or inc.delta_versions:
            if inc.where:
                new = corpus.where(F.expr(inc.where))
            elif inc.files:
                new = load_source(ctx.spark, src, paths=list(inc.files))
            else:
                a, b = (int(v) for v in inc.delta_versions or ())
                files = delta_added_files(str(src.path), a, b)
                new = load_source(ctx.spark, src, paths=files) if files else corpus.limit(0)
            return new, new.count(), True
        ids = corpus.select(F.col(id_col).alias("id")).join(stored.select("id"), "id", "left_anti")
        n = ids.count()
        if n == 0:
            return corpus.limit(0), 0, False
        return corpus.join(_id_keys(ids, n).withColumnRenamed("id", "_new_id"),
                           F.col(id_col) == F.col("_new_id"), "left_semi"), n, False


def _count_upserts(new: Any, n_new: int, stored: Any, id_col: str) -> int:
    """How many of the new rows' ids the stored votes hold."""
    if n_new == 0:
        return 0
    ids = new.select(F.col(id_col).alias("id"))
    return int(stored.select("id").join(_id_keys(ids, n_new), "id", "left_semi").count())


def _apply_df(ctx: RunContext, df: Any, counters: Any, lfset: LFSet | None = None) -> Any:
    """``df`` → votes (a plain ``mapInArrow``; counters on classic Spark): of every LF as whole
    votes-table rows, or of ``lfset`` as ``(id, votes)``."""
    src, t = apply_step(ctx, df, report=False, counters=counters, lfset=lfset,
                        rows=lfset is None)  # fmt: skip
    return src.mapInArrow(t.fn, t.schema)


def _run(ctx: RunContext, state: RunState) -> PipelineResult:
    cfg, spark, lfset = ctx.cfg, ctx.spark, ctx.lfset
    plan = plan_lfs(state.columns, lfset.names, lfset.fingerprints, ctx.run_id)
    ctx.computed_by = tuple(c.computed_by for c in plan.columns)
    carry = [GOLD_COL] if ctx.has_gold else []
    corpus = load_corpus(ctx)
    stored = read_table(spark, ctx.layout.votes, version=state.votes_version)
    new, n_named, named = _new_rows(ctx, corpus, stored)
    counters = None if is_connect(spark) else (LFErrorCounter(spark), LFErrorCounter(spark))
    info: dict[str, Any] = {
        "base_run": state.run_id,
        "lfs": {"kept": [lfset.names[j] for j, _ in plan.keep], "added": list(plan.added),
                "changed": list(plan.changed), "removed": list(plan.removed)},
        "new_rows_from": _describe_new_rows(ctx),
    }  # fmt: skip
    upserts = 0
    if named:
        with ctx.stage("find upserted ids"):
            upserts = _count_upserts(new, n_named, stored, cfg.source.id_col)
    info["upserted_rows"] = upserts
    new_votes = _apply_df(ctx, new, counters)
    prev_stats = load_stats(ctx.layout, state)
    prev_params = load_model_params(ctx.layout, state.run_id)  # before a rerun overwrites it
    writer = resolve_writer(spark, cfg.output.writer)
    tap = writer == "delta-rs"
    if plan.same_columns and not upserts and not n_named:
        votes_version, batch, stats, partials, n_new = (state.votes_version, None, prev_stats,
                                                        state.partials, 0)  # fmt: skip
        info.update(votes="unchanged", stats="stored partials", new_rows=0)
    elif plan.same_columns and not upserts:
        with ctx.stage("apply LFs to new rows + add votes"):
            res = _write_votes(ctx, new_votes, "add", tap, info)
        with ctx.stage("LF statistics"):
            batch = _stats(ctx, res, tap, this_run_only=True) if res.num_rows else None
            stats = prev_stats if batch is None else prev_stats.merge(batch)
        votes_version, partials = res.version, state.partials
        if batch is not None:  # one file per commit: a rerun of this run id adds its own
            partials = (*partials, (ctx.run_id, batch_stats_file(res.version)))
        n_new = res.num_rows
        info.update(votes="new rows added", stats="stored partials + the new rows' partial",
                    new_rows=n_new)  # fmt: skip
    else:
        batch = None
        old = stored.select("id", VOTES_COL, *carry)
        if upserts:
            ids = new.select(F.col(cfg.source.id_col).alias("id"))
            old = old.join(_id_keys(ids, n_named), "id", "left_anti")
        if plan.compute:
            comp = LFSet.of([lfset.lfs[j] for j in plan.compute], lfset.k)
            computed = _apply_df(ctx, corpus, counters, lfset=comp)
            old = old.join(computed.select("id", F.col(VOTES_COL).alias(NEW_VOTES_COL)), "id")
        t = splice_transform(old, len(state.columns), plan.keep, plan.compute, lfset.m, lfset.k,
                             carry, {"lf_set_hash": lfset.hash, "run_id": ctx.run_id})  # fmt: skip
        spliced = old.mapInArrow(t.fn, t.schema)
        with ctx.stage("apply changed LFs + rewrite votes"):
            rows = spliced.unionByName(new_votes) if n_named else spliced
            res = _write_votes(ctx, rows, "overwrite", tap, info)
        with ctx.stage("LF statistics"):
            stats = _stats(ctx, res, tap, this_run_only=False)
        votes_version, partials = res.version, ((ctx.run_id, STATS_FILE),)
        n_new = n_named
        why = ("LFs changed: " + ", ".join(f"{k} {v}" for k, v in info["lfs"].items()
                                             if v and k != "kept")) if not plan.same_columns \
            else f"{upserts} new row(s) replace rows the tables held"  # fmt: skip
        info.update(votes="rewritten", stats="recomputed from the written votes", why_votes=why,
                    new_rows=n_new)  # fmt: skip
    # e.g. the model became dawid_skene (vote patterns), or the stored statistics predate the
    # third-order counts of two-class LF sets: a merge with them would drop the new partial's
    lacking = [what for what, wanted, held in (
        ("vote patterns", ctx.template.patterns is not None, stats.patterns is not None),
        ("third-order counts", ctx.template.triples is not None, stats.triples is not None),
    ) if wanted and not held]  # fmt: skip
    if lacking:
        with ctx.stage(f"LF statistics (with {' and '.join(lacking)})"):
            stats = stats_pass(ctx, votes_version, this_run_only=False)
        batch, partials = None, ((ctx.run_id, STATS_FILE),)
        info["stats"] = (f"recomputed from the votes: the label model needs the "
                         f"{' and '.join(lacking)} the stored statistics lack")  # fmt: skip
    if counters is not None:
        errors, seconds = counters[0].value, counters[1].value
    else:
        errors, seconds = {}, {}
    if stats.n == 0:
        raise DataError("the votes table has no rows after this run: the corpus is empty")
    model = fit_model(ctx, stats)
    params = save_artifacts(ctx.layout, ctx.run_id, model, stats)
    changed = _json(params) != _json(prev_params)
    votes = read_table(spark, ctx.layout.votes, version=votes_version)
    metrics = evaluate(ctx, votes, model, stats)
    metrics["lf_seconds"] = [round(seconds.get(nm, 0.0), 3) for nm in lfset.names]
    if changed:
        relabel, why = "all rows", "the refit label model differs from the previous run's"
    elif info["votes"] == "new rows added":
        relabel, why = "new rows", "the refit label model equals the previous run's"
    elif info["votes"] == "rewritten" and (upserts or n_new):
        relabel, why = "all rows", "rows were replaced or added while the votes were rewritten"
    else:
        relabel, why = "none", "same label model and no new rows: the labels stay as they are"
    info.update(labels=relabel, why_labels=why, model_changed=changed)
    metrics["incremental"] = info
    meta = labels_meta(ctx, votes_version, cfg.label_model.kind, params, metrics, errors)
    if relabel == "all rows":
        labels_version = write_labels(ctx, votes, model, stats, meta, mode="overwrite")
    elif relabel == "new rows":
        rows = votes.where(F.col("run_id") == ctx.run_id)
        labels_version = write_labels(ctx, rows, model, stats, meta, mode="add")
    else:
        labels_version = state.labels_version
    save_state(ctx.layout, RunState(ctx.run_id, plan.columns, lfset.k, partials, ctx.has_gold),
               batch_stats=batch, batch_file=batch_stats_file(votes_version))  # fmt: skip
    result = PipelineResult(
        run_id=ctx.run_id, stats=stats, model=model, layout=ctx.layout,
        votes_version=votes_version, labels_version=labels_version, timings=ctx.timings,
        metrics=metrics, lf_errors=errors, lf_versions=ctx.lf_versions,
    )  # fmt: skip
    if cfg.output.training_table:
        if relabel != "none" or state.train_version is None:
            result.train_version = write_training_table(ctx, corpus, result, this_run_only=False)
        else:
            result.train_version = state.train_version
    logger.info("incremental run %s: votes %s, labels %s (%s)", ctx.run_id, info["votes"],
                relabel, why)  # fmt: skip
    save_summary(result)
    return result


def _write_votes(ctx: RunContext, df: Any, mode: str, tap: bool, info: dict[str, Any]) -> Any:
    cfg = ctx.cfg
    template = ctx.template
    factory = (lambda: VotesTap(template)) if tap else None
    return write_table(
        df, ctx.layout.votes, run_id=ctx.run_id, mode=mode,
        metadata={**ctx.commit_meta, "stage": "votes", "incremental": info},
        writer=cfg.output.writer, description=f"incremental votes ({mode})",
        tap_factory=factory,
    )  # fmt: skip


def _stats(ctx: RunContext, res: Any, tap: bool, this_run_only: bool) -> LFStats:
    """The statistics of what ``res`` wrote: from the taps, else a pass over the votes."""
    if tap:
        _, _, parts = VotesTap.combine(res.taps or [])
        return merge_partials(parts, ctx.template)
    return stats_pass(ctx, res.version, this_run_only)


def _describe_new_rows(ctx: RunContext) -> str:
    inc = ctx.cfg.incremental
    if inc.where:
        return f"where {inc.where}"
    if inc.files:
        return f"{len(inc.files)} file(s)"
    if inc.delta_versions:
        return f"Delta source versions {list(inc.delta_versions)}"
    return "source ids the votes table lacks"


def _json(params: Any) -> str:
    return json.dumps(params, sort_keys=True, default=str)

