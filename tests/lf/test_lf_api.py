"""The LF API: decorators, validation, the batch kernel, LF loading, configs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from wsup_spark.config import apply_overrides, load_config, parse_config
from wsup_spark.errors import ConfigError, DataError, LFError, WsupError
from wsup_spark.lf.base import (
    ABSTAIN,
    Record,
    check_unique_names,
    labeling_function,
    lf_set_hash,
    validate_votes,
    vectorized_lf,
    vote_dtype,
)
from wsup_spark.lf.kernel import apply_lfs_local, apply_lfs_to_batch
from wsup_spark.lf.loading import load_lfs


@labeling_function(resources={"words": {"pneumothorax", "effusion"}})
def lf_kb(x, words):
    return 1 if any(w in words for w in x.text.lower().split()) else ABSTAIN


def _lower(x: Record) -> Record:
    return Record(x, text=x.text.lower())


@labeling_function(pre=[_lower])
def lf_pre(x):
    return 0 if "normal" in x.text else ABSTAIN


@vectorized_lf(columns=["age"])
def lf_age(df):
    return np.where(df["age"] > 80, 1, ABSTAIN)


def test_row_lf_resources_and_preprocessors():
    assert lf_kb(Record(text="Small effusion")) == 1
    assert lf_kb(Record(text="clear")) == ABSTAIN
    assert lf_pre(Record(text="NORMAL study")) == 0
    with pytest.raises(AttributeError, match="no column 'missing'"):
        _ = Record(text="x").missing


def test_errors_are_builtin_subclasses():
    assert issubclass(LFError, ValueError) and issubclass(LFError, WsupError)
    assert issubclass(ConfigError, ValueError)


def test_validate_votes_names_lf_value_and_row():
    with pytest.raises(LFError, match=r"'f' voted 3 for row id 'r2'.*cardinality=2"):
        validate_votes("f", [0, 1, 3], 3, 2, ["r0", "r1", "r2"])
    with pytest.raises(LFError, match="non-integer vote 0.5"):
        validate_votes("f", [0.5, 1.0], 2, 2)
    with pytest.raises(LFError, match="non-integer vote 'a'"):
        validate_votes("f", ["a", 1], 2, 2)
    with pytest.raises(LFError, match="returned shape"):
        validate_votes("f", [0, 1], 3, 2)
    assert validate_votes("f", np.array([1.0, -1.0]), 2, 2).tolist() == [1, -1]


def test_unique_names_and_types():
    with pytest.raises(LFError, match="duplicate LF name 'lf_kb'"):
        check_unique_names([lf_kb, lf_kb])
    with pytest.raises(LFError, match="not a LabelingFunction"):
        check_unique_names([lf_kb, print])  # type: ignore[list-item]
    with pytest.raises(LFError, match="no labeling functions"):
        check_unique_names([])


def test_vote_dtype_and_hash():
    assert vote_dtype(2) == np.int8 and vote_dtype(300) == np.int16
    h1 = lf_set_hash([lf_kb, lf_pre])
    assert h1 != lf_set_hash([lf_pre, lf_kb]) and len(h1) == 16


def test_batch_kernel_mixes_row_and_vector_lfs():
    df = pd.DataFrame(
        {"id": [10, 11, 12], "text": ["Normal", "effusion seen", "x"], "age": [90, 20, 85]}
    )
    L = apply_lfs_local(df, [lf_kb, lf_pre, lf_age], 2, "id")
    assert L.dtype == np.int8
    assert L.tolist() == [[-1, 0, 1], [1, -1, -1], [-1, -1, 1]]
    empty = apply_lfs_to_batch(pa.RecordBatch.from_pandas(df.iloc[:0]), [lf_kb], 2, "id")
    assert empty.shape == (0, 1)


def test_batch_lf_failures_under_both_policies():
    @vectorized_lf()
    def half_bad(df):
        return np.array([0, 7, 1][: len(df)])

    batch = pa.RecordBatch.from_pandas(pd.DataFrame({"id": ["a", "b", "c"]}))
    with pytest.raises(LFError, match="'half_bad' voted 7 for row id 'b'"):
        apply_lfs_to_batch(batch, [half_bad], 2, "id")
    errors: dict[str, int] = {}
    L = apply_lfs_to_batch(batch, [half_bad], 2, "id", on_error="abstain", errors=errors)
    assert L[:, 0].tolist() == [0, -1, 1] and errors == {"half_bad": 1}


def test_missing_column_is_a_data_error():
    with pytest.raises(DataError, match="'lf_age' reads column.*'age'"):
        apply_lfs_local(pd.DataFrame({"id": [1], "text": ["a"]}), [lf_age], 2, "id")


def test_load_lfs_by_import_path():
    lfs = load_lfs(["test_lf_api:lf_kb", "test_lf_api:lf_pre"])
    assert [lf.name for lf in lfs] == ["lf_kb", "lf_pre"]
    assert [lf.name for lf in load_lfs(["test_lf_api:lf_kb", "test_lf_api:lf_pre"],
                                       exclude=["lf_pre"])] == ["lf_kb"]  # fmt: skip
    with pytest.raises(ConfigError, match="cannot import LF module 'no_such_mod'"):
        load_lfs(["no_such_mod"])
    with pytest.raises(ConfigError, match="has no attribute 'NOPE'"):
        load_lfs(["test_lf_api:NOPE"])
    with pytest.raises(ConfigError, match="unknown LF"):
        load_lfs(["test_lf_api:lf_kb"], exclude=["typo"])


def test_config_parsing_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("source: {format: demo, n_rows: 10}\nlfs: {modules: a.b}\n")
    cfg = load_config(
        p, ["source.n_rows=7", "output.path=/x", "label_model.class_balance=[0.3, 0.7]"]
    )
    assert cfg.source.n_rows == 7 and cfg.output.path == "/x"
    assert cfg.lfs.modules == ["a.b"] and list(cfg.label_model.class_balance) == [0.3, 0.7]
    same = ["source.n_rows=7", "output.path=/x", "label_model.class_balance=[0.3, 0.7]"]
    assert cfg.fingerprint() == load_config(p, same).fingerprint()
    with pytest.raises(
        ConfigError, match=r"unknown key\(s\) \['n_row'\] in config section 'source'"
    ):
        parse_config({"source": {"n_row": 1}, "lfs": {"modules": ["a"]}})
    with pytest.raises(ConfigError, match="lfs.modules is empty"):
        parse_config({})
    with pytest.raises(ConfigError, match="class_balance has 1 entries"):
        parse_config({"lfs": {"modules": ["a"]}, "label_model": {"class_balance": [1.0]}})
    with pytest.raises(ConfigError, match="needs source.path"):
        parse_config({"lfs": {"modules": ["a"]}, "source": {"format": "csv"}})
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "code.yaml"
    bad.write_text("lfs: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        load_config(bad)


def test_slow_lf_is_interrupted_and_the_alarm_restored():
    import signal
    import time

    @labeling_function()
    def spins(x):
        while True:
            try:
                time.sleep(0.001)
            except Exception:
                pass

    @labeling_function()
    def quick(x):
        return 1

    batch = pa.RecordBatch.from_pydict({"id": list(range(50)), "text": ["a"] * 50})
    before = signal.getsignal(signal.SIGALRM)
    t0 = time.monotonic()
    with pytest.raises(LFError, match=r"'spins' was stopped .*batch of 50 rows.*budget 0.10 s"):
        apply_lfs_to_batch(batch, [quick, spins], 2, "id", on_error="abstain", max_ms_per_row=1)
    assert time.monotonic() - t0 < 5
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    L = apply_lfs_to_batch(batch, [quick], 2, "id", max_ms_per_row=1)  # a fast LF passes
    assert (L == 1).all()


def test_an_lf_calling_sys_exit_is_an_lf_failure_naming_lf_and_row():
    import sys

    @labeling_function()
    def lf_exits(x):
        if x.text == "bye":
            sys.exit(3)
        return 1

    @vectorized_lf(columns=["text"])
    def lf_batch_exits(df):
        raise SystemExit(4)

    df = pd.DataFrame({"id": ["r0", "r1", "r2"], "text": ["a", "bye", "c"]})
    with pytest.raises(LFError, match=r"lf_exits.*raised SystemExit: 3 on row id 'r1'"):
        apply_lfs_local(df, [lf_exits], 2, "id")
    with pytest.raises(LFError, match=r"lf_batch_exits.*raised SystemExit: 4.*first row id 'r0'"):
        apply_lfs_local(df, [lf_batch_exits], 2, "id")
    L = apply_lfs_local(df, [lf_exits, lf_batch_exits], 2, "id", on_error="abstain")
    assert L.tolist() == [[1, -1], [-1, -1], [1, -1]]


def test_text_that_is_not_utf8_names_the_column_and_the_row():
    @labeling_function()
    def lf_text(x):
        return 1 if "a" in x.text else -1

    text = pa.array([b"ok a", b"bad \xff\xfe", b"fine"], pa.binary()).view(pa.string())
    batch = pa.record_batch([pa.array(["r0", "r1", "r2"]), text], names=["id", "text"])
    with pytest.raises(DataError, match=r"column 'text' of row id 'r1' holds bytes that are not"):
        apply_lfs_to_batch(batch, [lf_text], 2, "id")
