"""Failure modes on real Spark + real Delta: bad input, bad LFs, degenerate stats, determinism.

Atomic writes and idempotent reruns of the writer itself are covered in tests/io.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest
from deltalake import DeltaTable
from pyspark import cloudpickle

from wsup_spark.config import load_config, parse_config
from wsup_spark.errors import ConfigError, DataError
from wsup_spark.lf.base import ABSTAIN, labeling_function, vectorized_lf
from wsup_spark.pipeline import run_pipeline

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _read(path, version=None):
    dt = DeltaTable(path, version=version)
    return pads.dataset(dt.file_uris(), format="parquet").to_table().to_pandas()


@labeling_function()
def lf_len(x):
    return 1 if len(x.text.split()) > 3 else 0  # fails on a null text


@vectorized_lf(columns=["text"])
def lf_has_a(df):
    return np.where(df["text"].fillna("").str.contains("a"), 1, ABSTAIN)


@vectorized_lf(columns=["text"])
def lf_has_e(df):
    return np.where(df["text"].fillna("").str.contains("e"), 0, ABSTAIN)


@labeling_function()
def lf_bad_value(x):
    return 7 if x.text == "seven" else ABSTAIN


LFS = [lf_len, lf_has_a, lf_has_e]
BAD = [lf_has_a, lf_has_e, lf_bad_value]


def _no_files(path) -> bool:
    """Nothing was written: no data file and no Delta log under ``path`` (empty dirs are fine;
    so are the closed-write tombstones ``_wsup_writes/<write>/CLOSED``, see io.write_task, and
    the run manifest ``_runs/_manifest``, which records the failed run's start and abort)."""
    if not path.exists():
        return True
    files = [p for p in path.rglob("*") if p.is_file()]
    manifest = path / "_runs" / "_manifest"
    return all(
        (p.name == "CLOSED" and p.parent.parent.name == "_wsup_writes") or manifest in p.parents
        for p in files
    )


def _write_corpus(spark, path, texts, ids=None):
    ids = list(range(len(texts))) if ids is None else ids
    pdf = pd.DataFrame({"id": ids, "text": texts})
    spark.createDataFrame(pdf, "id long, text string").write.mode("overwrite").parquet(str(path))


def _cfg(tmp_path, corpus, **over):
    raw = {
        "source": {"format": "parquet", "path": str(corpus)},
        "lfs": {"modules": [f"{__name__}:LFS"]},
        "output": {"path": str(tmp_path / "out")},
        "run_id": "r",
    }
    for key, value in over.items():
        sec, _, name = key.partition("__")
        raw.setdefault(sec, {})[name] = value
    return parse_config(raw)


TEXTS = ["a short one", "the quick brown fox jumps", "eee", "banana bread is great", "xyz"] * 40


def test_null_text_raises_naming_lf_and_row_then_abstain_counts(spark, tmp_path):
    texts = list(TEXTS)
    texts[7] = None
    _write_corpus(spark, tmp_path / "c", texts)
    with pytest.raises(Exception, match=r"lf_len.*row id 7"):
        run_pipeline(_cfg(tmp_path, tmp_path / "c"), spark)
    assert _no_files(tmp_path / "out"), "nothing written on failure"
    res = run_pipeline(_cfg(tmp_path, tmp_path / "c", lfs__on_error="abstain"), spark)
    assert res.lf_errors == {"lf_len": 1}
    meta = DeltaTable(res.labels_path).history()[0]
    assert '"lf_errors": {"lf_len": 1}' in str(meta) or "lf_len" in str(meta)
    assert len(_read(res.labels_path)) == len(texts)


def test_out_of_range_vote_names_lf_value_and_row(spark, tmp_path):
    texts = list(TEXTS)
    texts[11] = "seven"
    _write_corpus(spark, tmp_path / "c", texts)
    with pytest.raises(Exception, match=r"lf_bad_value.*voted 7 for row id 11"):
        run_pipeline(_cfg(tmp_path, tmp_path / "c", lfs__modules=[f"{__name__}:BAD"]), spark)


def test_null_and_duplicate_ids(spark, tmp_path):
    _write_corpus(spark, tmp_path / "dup", TEXTS[:6], ids=[1, 2, 3, 3, 4, 4])
    with pytest.raises(DataError, match=r"repeated values \(e.g. 3 x2, 4 x2\)"):
        run_pipeline(_cfg(tmp_path, tmp_path / "dup", source__check_ids=True), spark)
    pdf = pd.DataFrame({"id": [1.0, None, 3.0], "text": ["a", "b", "c"]})
    spark.createDataFrame(pdf, "id double, text string").write.parquet(str(tmp_path / "nul"))
    with pytest.raises(Exception, match="id column 'id' has 1 null"):
        run_pipeline(_cfg(tmp_path, tmp_path / "nul"), spark)
    with pytest.raises(DataError, match="has null values"):
        run_pipeline(_cfg(tmp_path, tmp_path / "nul", source__check_ids=True), spark)
    assert _no_files(tmp_path / "out")


def test_no_stray_file_from_a_slow_sibling_task(spark, tmp_path):
    """One task fails at once while its siblings are still applying LFs: when run_pipeline
    raises, no data file is left, and none appears later (the siblings see the closed write)."""
    import time

    @vectorized_lf(columns=["id", "text"])
    def lf_fail_or_sleep(df):
        if (df["id"] == 0).any():
            raise RuntimeError("boom")
        time.sleep(1.5)
        return np.zeros(len(df), dtype=np.int64)

    ids = list(range(len(TEXTS)))
    _write_corpus(spark, tmp_path / "c", TEXTS, ids=ids)
    corpus = spark.read.parquet(str(tmp_path / "c"))
    assert corpus.rdd.getNumPartitions() >= 2, "the test needs sibling tasks"
    with pytest.raises(Exception, match="lf_fail_or_sleep"):
        run_pipeline(_cfg(tmp_path, tmp_path / "c"), spark, lfs=[lf_has_a, lf_fail_or_sleep])
    assert _no_files(tmp_path / "out")
    time.sleep(3.0)  # any sibling still running has finished by now
    assert _no_files(tmp_path / "out")


def test_empty_corpus_and_missing_things(spark, tmp_path):
    _write_corpus(spark, tmp_path / "empty", [])
    with pytest.raises(DataError, match="has no rows; nothing was written"):
        run_pipeline(_cfg(tmp_path, tmp_path / "empty"), spark)
    _write_corpus(spark, tmp_path / "c", TEXTS)
    with pytest.raises(DataError, match="id column 'doc'"):
        run_pipeline(_cfg(tmp_path, tmp_path / "c", source__id_col="doc"), spark)
    with pytest.raises(ConfigError, match="source.path .* does not exist"):
        run_pipeline(_cfg(tmp_path, tmp_path / "nope"), spark)
    with pytest.raises(ConfigError, match="has no attribute 'NOPE'"):
        run_pipeline(_cfg(tmp_path, tmp_path / "c", lfs__modules=[f"{__name__}:NOPE"]), spark)
    with pytest.raises(ConfigError, match="unknown LF"):
        run_pipeline(_cfg(tmp_path, tmp_path / "c", lfs__exclude=["lf_typo"]), spark)
    assert _no_files(tmp_path / "out")


def test_cardinality_mismatch_is_a_clear_error(spark, tmp_path):
    @vectorized_lf(columns=["text"])
    def votes_two(df):
        return np.full(len(df), 2)

    _write_corpus(spark, tmp_path / "c", TEXTS)
    with pytest.raises(Exception, match=r"votes_two.*voted 2.*cardinality=2"):
        run_pipeline(_cfg(tmp_path, tmp_path / "c"), spark, lfs=[lf_has_a, votes_two])


def test_degenerate_lfs_warn_and_never_nan(spark, tmp_path):
    @vectorized_lf(columns=["text"])
    def never(df):
        return np.full(len(df), ABSTAIN)

    @vectorized_lf(columns=["text"])
    def has_a_again(df):
        return np.where(df["text"].fillna("").str.contains("a"), 1, ABSTAIN)

    _write_corpus(spark, tmp_path / "c", TEXTS)
    res = run_pipeline(_cfg(tmp_path, tmp_path / "c"), spark, lfs=[lf_has_a, has_a_again, never])
    warnings = " ".join(res.metrics["model_warnings"])
    assert "never vote" in warnings and "vote identically" in warnings
    assert "fewer than 3" in warnings and "class(es) [0]" in warnings
    P = np.stack(_read(res.labels_path)["probs"].to_numpy())
    assert np.isfinite(P).all()


def test_bit_identical_across_partition_counts_and_reruns(spark, tmp_path):
    probs = []
    for parts in (1, 3, 7):
        cfg = load_config("conf/demo.yaml", ["source.n_rows=3000", f"source.num_partitions={parts}",
                                             f"output.path={tmp_path / str(parts)}"])  # fmt: skip
        res = run_pipeline(cfg, spark)
        labels = _read(res.labels_path).sort_values("id")
        probs.append(np.stack(labels["probs"].to_numpy()))
    assert np.array_equal(probs[0], probs[1]) and np.array_equal(probs[0], probs[2])


def test_config_is_data_not_code(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("run_id: !!python/object/apply:os.getcwd []\nlfs: {modules: [x]}\n")
    with pytest.raises(Exception, match="constructor"):
        load_config(p)


def test_slow_lf_guard_names_the_lf(spark, tmp_path):
    import time

    @labeling_function()
    def lf_sleepy(x):
        time.sleep(0.002)
        return ABSTAIN

    _write_corpus(spark, tmp_path / "c", TEXTS * 5)  # batches of >= 100 rows are checked
    cfg = _cfg(tmp_path, tmp_path / "c", lfs__max_ms_per_row=0.5)
    with pytest.raises(Exception, match=r"lf_sleepy.*max_ms_per_row=0.5"):
        run_pipeline(cfg, spark, lfs=[lf_has_a, lf_sleepy])
    assert _no_files(tmp_path / "out")

    @labeling_function()
    def lf_hangs(x):
        while True:  # a bug: never returns
            try:
                time.sleep(0.01)
            except Exception:  # and swallows what it can
                pass

    t0 = time.monotonic()
    with pytest.raises(Exception, match=r"lf_hangs.*was stopped after .*max_ms_per_row=2"):
        run_pipeline(_cfg(tmp_path, tmp_path / "c", lfs__max_ms_per_row=2, lfs__on_error="abstain"),
                     spark, lfs=[lf_has_a, lf_hangs])  # fmt: skip
    assert time.monotonic() - t0 < 60 and _no_files(tmp_path / "out")
    res = run_pipeline(_cfg(tmp_path, tmp_path / "c"), spark, lfs=[lf_has_a, lf_has_e])
    assert len(res.metrics["lf_seconds"]) == 2 and all(s >= 0 for s in res.metrics["lf_seconds"])


def test_gold_values_that_are_not_integers_become_null_as_documented(spark, tmp_path):
    pdf = pd.DataFrame({"id": range(6), "text": ["a b c d e", "x", "aaa", "e", "ab", "q"],
                        "label": ["1", "0", "spam", "", "1", None]})  # fmt: skip
    spark.createDataFrame(pdf).write.parquet(str(tmp_path / "c"))
    res = run_pipeline(_cfg(tmp_path, tmp_path / "c", source__gold_col="label"), spark)
    gold = dict(zip(*(_read(res.votes_path)[c] for c in ("id", "gold")), strict=True))
    got = [None if pd.isna(gold[i]) else int(gold[i]) for i in range(6)]
    assert got == [1, 0, None, None, 1, None]


def test_a_malformed_csv_line_fails_the_run_by_default(spark, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text('id,text\n1,"fine"\n2,"one",too many,fields\n3,"ok"\n')
    with pytest.raises(Exception, match=r"(?i)malformed|FAILFAST"):
        run_pipeline(_cfg(tmp_path, csv, source__format="csv"), spark)
    assert _no_files(tmp_path / "out")


def test_an_lf_that_kills_its_python_worker_is_named_as_a_crash(spark, tmp_path):
    import os as _os

    @vectorized_lf(columns=["text"])
    def lf_crashes(df):
        _os._exit(1)

    _write_corpus(spark, tmp_path / "c", TEXTS)
    with pytest.raises(Exception, match="a Python worker crashed") as err:
        run_pipeline(_cfg(tmp_path, tmp_path / "c"), spark, lfs=[lf_has_a, lf_crashes])
    assert "faulthandler" in str(err.value)
    assert _no_files(tmp_path / "out")
