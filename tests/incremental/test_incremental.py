"""Incremental runs on real Spark and real Delta tables: changed, removed and added LFs, new rows,
upserts, reruns of a run id, and a failure midway (README "Incremental runs")."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark import cloudpickle

from wsup_spark.config import parse_config
from wsup_spark.errors import ConfigError
from wsup_spark.io.files import read_bytes, write_bytes
from wsup_spark.lf.base import ABSTAIN, labeling_function, vectorized_lf
from wsup_spark.pipeline import run_pipeline
from wsup_spark.run.layout import STATS_FILE
from wsup_spark.stats.lfstats import LFStats

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WORDS = ["good", "great", "bad", "awful", "fine", "meh", "ok", "poor", "nice", "terrible"]


def write_day(root: Path, day: int, ids: range, seed: int, change: dict[int, str] | None = None):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 7)))) for _ in ids]
    for i, t in (change or {}).items():
        texts[list(ids).index(i)] = t
    gold = [int(any(w in t for w in ("good", "great", "nice"))) for t in texts]
    table = pa.table({"id": pa.array(list(ids), pa.int64()), "text": texts,
                      "day": pa.array([day] * len(ids), pa.int32()), "label": gold})
    (root / f"day={day}").mkdir(parents=True, exist_ok=True)
    pq.write_table(table.drop(["day"]), root / f"day={day}" / "part-0.parquet")


@vectorized_lf(name="pos", columns=["text"])
def lf_pos(df):
    return np.where(df["text"].str.contains("good|great"), 1, ABSTAIN)


@labeling_function(name="neg", columns=["text"])
def lf_neg_v1(x):
    return 0 if "bad" in x.text else ABSTAIN


@labeling_function(name="neg", columns=["text"])
def lf_neg_v2(x):
    return 0 if ("bad" in x.text or "awful" in x.text) else ABSTAIN


@labeling_function(name="nice", columns=["text"])
def lf_nice(x):
    return 1 if "nice" in x.text else ABSTAIN


@vectorized_lf(name="poor", columns=["text"])
def lf_poor(df):
    return np.where(df["text"].str.contains("poor|terrible"), 0, ABSTAIN)


def config(
    corpus: Path, out: Path, run_id: str, incremental: bool = True, kind: str = "label_model",
    **inc: object,
) -> object:
    raw = {
        "label_model": {"kind": kind},
        "run_id": run_id,
        "source": {"format": "parquet", "path": str(corpus), "gold_col": "label",
                   "num_partitions": 3},
        "lfs": {"modules": ["unused:LFS"], "cardinality": 2},
        "output": {"path": str(out)},
        "incremental": {"enabled": incremental, **inc},
    }
    return parse_config(raw)


def read(path: str, version: int | None = None):
    dt = DeltaTable(path, version=version)
    return pads.dataset(dt.file_uris(), format="parquet").to_table().to_pandas()


def by_id(df):
    return df.sort_values("id").reset_index(drop=True)


def assert_same_run(inc, full):
    """The incremental run's tables and statistics equal a full run's, row for row."""
    assert inc.stats == full.stats
    vi, vf = by_id(read(inc.votes_path)), by_id(read(full.votes_path))
    assert vi["id"].tolist() == vf["id"].tolist()
    assert [list(v) for v in vi["votes"]] == [list(v) for v in vf["votes"]]
    li, lf_ = by_id(read(inc.labels_path)), by_id(read(full.labels_path))
    assert li["id"].tolist() == lf_["id"].tolist()
    assert np.array_equal(np.stack(li["probs"]), np.stack(lf_["probs"]))  # bit-identical


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    write_day(root, 1, range(0, 300), seed=1)
    write_day(root, 2, range(300, 600), seed=2)
    return root


def test_changed_removed_and_added_lfs_equal_a_full_run(spark, corpus, tmp_path):
    out = tmp_path / "out"
    base = run_pipeline(config(corpus, out, "r1"), spark, lfs=[lf_pos, lf_neg_v1, lf_nice])
    assert base.metrics["incremental"]["base_run"] is None  # nothing to build on: a full run

    # one LF changed: only it is recomputed, labels equal a full run with the new LF set
    lfs2 = [lf_pos, lf_neg_v2, lf_nice]
    inc = run_pipeline(config(corpus, out, "r2"), spark, lfs=lfs2)
    info = inc.metrics["incremental"]
    assert info["lfs"] == {"kept": ["pos", "nice"], "added": [], "changed": ["neg"], "removed": []}
    assert info["votes"] == "rewritten" and info["labels"] == "all rows"
    full = run_pipeline(config(corpus, tmp_path / "full2", "f2", incremental=False), spark,
                        lfs=lfs2)  # fmt: skip
    assert_same_run(inc, full)
    meta = json.loads(DeltaTable(inc.votes_path).history(1)[0]["userMetadata"])
    assert meta["lf_computed_by"] == ["r1", "r2", "r1"]

    # one removed, one added (and reordered)
    lfs3 = [lf_poor, lf_pos, lf_neg_v2]
    inc3 = run_pipeline(config(corpus, out, "r3"), spark, lfs=lfs3)
    info3 = inc3.metrics["incremental"]
    assert info3["lfs"]["added"] == ["poor"] and info3["lfs"]["removed"] == ["nice"]
    full3 = run_pipeline(config(corpus, tmp_path / "full3", "f3", incremental=False), spark,
                         lfs=lfs3)  # fmt: skip
    assert_same_run(inc3, full3)

    # nothing changed: no table is written
    v, lab = inc3.votes_version, inc3.labels_version
    same = run_pipeline(config(corpus, out, "r4"), spark, lfs=lfs3)
    assert same.metrics["incremental"]["labels"] == "none"
    assert (same.votes_version, same.labels_version) == (v, lab)
    assert same.stats == full3.stats


def test_new_rows_merge_statistics_exactly_and_reruns_are_idempotent(spark, corpus, tmp_path):
    out = tmp_path / "out"
    lfs = [lf_pos, lf_neg_v1, lf_nice]
    run_pipeline(config(corpus, out, "d2"), spark, lfs=lfs)
    write_day(corpus, 3, range(600, 660), seed=3)  # a day of new rows
    cfg = config(corpus, out, "d3", where="day = 3")
    inc = run_pipeline(cfg, spark, lfs=lfs)
    info = inc.metrics["incremental"]
    assert info["votes"] == "new rows added" and info["new_rows"] == 60
    assert info["stats"].startswith("stored partials")
    full = run_pipeline(config(corpus, tmp_path / "full", "f", incremental=False), spark, lfs=lfs)
    assert inc.stats == full.stats  # merged partials == a full recompute
    votes, labels = read(inc.votes_path), read(inc.labels_path)
    assert len(votes) == votes["id"].nunique() == 660
    assert len(labels) == labels["id"].nunique() == 660
    assert info["labels"] == "all rows" and info["model_changed"]  # the refit model moved
    assert_same_run(inc, full)

    # the same run id again: nothing duplicated, statistics unchanged
    again = run_pipeline(cfg, spark, lfs=lfs)
    assert again.stats == full.stats
    votes = read(again.votes_path)
    assert len(votes) == votes["id"].nunique() == 660
    assert again.metrics["incremental"]["upserted_rows"] == 60


def test_an_unchanged_model_labels_only_the_new_rows(spark, corpus, tmp_path):
    """Majority vote's parameters do not depend on the statistics: adding rows leaves the model
    as it was, so only the new rows are labeled (and the old rows keep their labels' run)."""
    out = tmp_path / "out"
    lfs = [lf_pos, lf_neg_v1, lf_nice]
    base = run_pipeline(config(corpus, out, "m1", kind="majority_vote"), spark, lfs=lfs)
    write_day(corpus, 3, range(600, 640), seed=5)
    inc = run_pipeline(config(corpus, out, "m2", kind="majority_vote"), spark, lfs=lfs)
    info = inc.metrics["incremental"]
    assert info["new_rows_from"] == "source ids the votes table lacks"
    assert (info["votes"], info["labels"], info["model_changed"]) == ("new rows added",
                                                                      "new rows", False)
    labels = read(inc.labels_path)
    assert len(labels) == labels["id"].nunique() == 640
    assert set(labels[labels["run_id"] == "m2"]["id"]) == set(range(600, 640))
    assert DeltaTable(inc.labels_path).version() == base.labels_version + 1
    full = run_pipeline(config(corpus, tmp_path / "full", "f", incremental=False,
                               kind="majority_vote"), spark, lfs=lfs)  # fmt: skip
    assert_same_run(inc, full)


def test_upserted_rows_replace_the_stored_ones(spark, corpus, tmp_path):
    out = tmp_path / "out"
    lfs = [lf_pos, lf_neg_v1]
    run_pipeline(config(corpus, out, "u1"), spark, lfs=lfs)
    # day 3 re-delivers id 5 with new text, and brings ids 600..609
    write_day(corpus, 3, range(600, 610), seed=4)
    pq.write_table(pa.table({"id": pa.array([5], pa.int64()), "text": ["great great"],
                             "label": [1]}), corpus / "day=3" / "part-1.parquet")  # fmt: skip
    # ...and the old copy of id 5 is gone from day 1 (the source's own upsert)
    t = pq.read_table(corpus / "day=1" / "part-0.parquet")
    pq.write_table(t.filter(pa.compute.not_equal(t["id"], 5)), corpus / "day=1" / "part-0.parquet")
    inc = run_pipeline(config(corpus, out, "u2", where="day = 3"), spark, lfs=lfs)
    assert inc.metrics["incremental"]["upserted_rows"] == 1
    votes = read(inc.votes_path)
    assert len(votes) == votes["id"].nunique() == 610
    row = votes[votes["id"] == 5].iloc[0]
    assert list(row["votes"]) == [1, ABSTAIN] and row["run_id"] == "u2"
    full = run_pipeline(config(corpus, tmp_path / "full", "f", incremental=False), spark, lfs=lfs)
    assert_same_run(inc, full)


def test_a_failure_midway_leaves_both_tables_at_their_previous_version(
    spark, corpus, tmp_path, monkeypatch
):
    import wsup_spark.pipeline.incremental as incremental

    out = tmp_path / "out"
    base = run_pipeline(config(corpus, out, "b1"), spark, lfs=[lf_pos, lf_neg_v1])
    before_votes = by_id(read(base.votes_path))
    before_labels = by_id(read(base.labels_path))

    def broken(*args, **kwargs):
        raise RuntimeError("the labels write died")

    monkeypatch.setattr(incremental, "write_labels", broken)
    with pytest.raises(RuntimeError, match="labels write died"):
        run_pipeline(config(corpus, out, "b2"), spark, lfs=[lf_pos, lf_neg_v2])
    # the votes commit of b2 was undone: content equals the previous run's
    assert DeltaTable(base.votes_path).version() > base.votes_version  # restored by a commit
    after = by_id(read(base.votes_path))
    assert [list(v) for v in after["votes"]] == [list(v) for v in before_votes["votes"]]
    assert DeltaTable(base.labels_path).version() == base.labels_version
    assert by_id(read(base.labels_path))["probs"].map(list).tolist() == \
        before_labels["probs"].map(list).tolist()  # fmt: skip
    monkeypatch.undo()
    # the retry builds on b1 (the manifest's last commit) and succeeds
    retry = run_pipeline(config(corpus, out, "b2"), spark, lfs=[lf_pos, lf_neg_v2])
    assert retry.metrics["incremental"]["base_run"] == "b1"
    assert retry.metrics["incremental"]["lfs"]["changed"] == ["neg"]


def test_incremental_config_errors_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="incremental.enabled is false"):
        config(tmp_path, tmp_path / "o", "x", incremental=False, where="day = 3")
    with pytest.raises(ConfigError, match="keep one"):
        config(tmp_path, tmp_path / "o", "x", where="day = 3", files=["a.parquet"])
    with pytest.raises(ConfigError, match="needs a Delta source"):
        config(tmp_path, tmp_path / "o", "x", delta_versions=[1, 2])


def test_cli_incremental_run_and_analyze_show_what_was_recomputed(spark, tmp_path, capsys):
    """``wsup run --incremental`` on the demo: 30 more rows are the only ones the LFs see;
    ``wsup analyze`` shows each LF's version and the run that computed its column."""
    from wsup_spark.cli import main

    base = ["--config", "conf/demo.yaml", "--set", f"output.path={tmp_path}"]
    assert main(["run", *base, "--set", "source.n_rows=300", "--set", "run_id=c1"]) == 0
    capsys.readouterr()
    assert main(["run", *base, "--incremental", "--set", "source.n_rows=330",
                 "--set", "run_id=c2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "330 rows" in out and "incremental run on c1" in out
    assert "new rows: 30 (0 replace stored rows); votes: new rows added" in out
    train = read(str(tmp_path / "train"))  # the training table holds every row once
    assert sorted(train["id"]) == list(range(330))
    assert main(["analyze", *base, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["run_id"] == "c2"
    assert {row["computed_by"] for row in report["lfs"]} == {"c1"}  # no LF changed
    assert all(len(row["version"]) == 8 for row in report["lfs"])


def test_new_rows_named_by_files_or_by_delta_versions(spark, corpus, tmp_path):
    """``incremental.files`` and ``incremental.delta_versions`` name the new rows as
    ``incremental.where`` does; the result equals a full run either way."""
    from deltalake import write_deltalake

    lfs = [lf_pos, lf_neg_v1]
    out = tmp_path / "out"
    run_pipeline(config(corpus, out, "p1"), spark, lfs=lfs)
    write_day(corpus, 3, range(600, 650), seed=6)
    new_file = corpus / "day=3" / "part-0.parquet"
    inc = run_pipeline(config(corpus, out, "p2", files=[str(new_file)]), spark, lfs=lfs)
    assert (inc.metrics["incremental"]["new_rows"], inc.metrics["incremental"]["votes"]) == (
        50, "new rows added")
    assert_same_run(inc, run_pipeline(config(corpus, tmp_path / "f1", "f1", incremental=False),
                                      spark, lfs=lfs))  # fmt: skip

    source = tmp_path / "delta_source"
    first = pq.read_table(corpus / "day=1" / "part-0.parquet")
    write_deltalake(str(source), first)  # version 0
    delta = dict(format="delta", path=str(source), gold_col="label")

    def dcfg(out_: Path, run_id: str, incremental: bool = True, **inc_: object):
        raw = {"run_id": run_id, "source": delta, "output": {"path": str(out_)},
               "lfs": {"modules": ["unused:LFS"]},
               "incremental": {"enabled": incremental, **inc_}}  # fmt: skip
        return parse_config(raw)

    run_pipeline(dcfg(tmp_path / "d", "v0"), spark, lfs=lfs)
    write_deltalake(str(source), pq.read_table(corpus / "day=2" / "part-0.parquet"),
                    mode="append")  # version 1: 300 new rows  # fmt: skip
    inc = run_pipeline(dcfg(tmp_path / "d", "v1", delta_versions=[0, 1]), spark, lfs=lfs)
    assert inc.metrics["incremental"]["new_rows"] == 300
    assert inc.metrics["incremental"]["new_rows_from"] == "Delta source versions [0, 1]"
    assert_same_run(inc, run_pipeline(dcfg(tmp_path / "df", "df", incremental=False), spark,
                                      lfs=lfs))  # fmt: skip
    with pytest.raises(ConfigError, match="cannot be read at both versions"):
        run_pipeline(dcfg(tmp_path / "d", "v9", delta_versions=[1, 9]), spark, lfs=lfs)


def test_switching_to_a_model_that_needs_vote_patterns_recounts_them(spark, corpus, tmp_path):
    """The stored statistics of a label_model run have no vote patterns; an incremental run
    with dawid_skene (which needs them) recounts them from the stored votes."""
    out = tmp_path / "out"
    lfs = [lf_pos, lf_neg_v1, lf_nice]
    run_pipeline(config(corpus, out, "k1"), spark, lfs=lfs)
    inc = run_pipeline(config(corpus, out, "k2", kind="dawid_skene"), spark, lfs=lfs)
    info = inc.metrics["incremental"]
    assert info["stats"].startswith("recomputed from the votes") and info["labels"] == "all rows"
    full = run_pipeline(config(corpus, tmp_path / "f", "f", incremental=False, kind="dawid_skene"),
                        spark, lfs=lfs)  # fmt: skip
    assert_same_run(inc, full)


def test_statistics_stored_before_third_order_counts_are_recounted(spark, corpus, tmp_path):
    """Statistics a run stored before LFStats kept third-order counts (two classes) lack them; a
    merge with the new rows' partial would drop them, so an incremental run recounts them."""
    out = tmp_path / "out"
    lfs = [lf_pos, lf_neg_v1, lf_nice]
    first = run_pipeline(config(corpus, out, "t1"), spark, lfs=lfs)
    path = first.layout.artifact("t1", STATS_FILE)
    stored = LFStats.from_bytes(read_bytes(path))
    assert stored.triples is not None
    write_bytes(path, dataclasses.replace(stored, triples=None).to_bytes())
    inc = run_pipeline(config(corpus, out, "t2"), spark, lfs=lfs)
    info = inc.metrics["incremental"]
    assert info["stats"] == ("recomputed from the votes: the label model needs the third-order "
                             "counts the stored statistics lack")  # fmt: skip
    assert inc.stats.triples is not None
    full = run_pipeline(config(corpus, tmp_path / "f", "f", incremental=False), spark, lfs=lfs)
    assert_same_run(inc, full)
