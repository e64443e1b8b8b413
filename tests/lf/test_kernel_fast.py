"""The row-LF fast path of the batch kernel keeps the semantics of the plain one.

Records are built column by column (not with ``RecordBatch.to_pylist``), attribute loads run
inside :func:`~wsup_spark.lf.base.fast_field_access`, and the cyclic GC pauses while records are
built. What an LF sees, what it may return and what the errors say must not change.
"""

from __future__ import annotations

import datetime as dt
import gc
import signal
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from wsup_spark.errors import LFError
from wsup_spark.lf.base import ABSTAIN, Record, fast_field_access, labeling_function
from wsup_spark.lf.kernel import apply_lfs_to_batch


def _batch() -> pa.RecordBatch:
    """Five rows with nulls, nested values, a timestamp, a non-identifier column and a gold."""
    return pa.record_batch(
        {
            "id": ["r0", "r1", "r2", "r3", "r4"],
            "text": ["Pneumothorax.", None, "clear", "", "effusion"],
            "age": [81.5, None, 20.0, 45.0, 90.0],
            "tags": [["a"], [], None, ["b", "c"], ["a"]],
            "meta": [{"k": 1}, {"k": None}, None, {"k": 3}, {"k": 4}],
            "ts": pa.array([dt.datetime(2026, 1, 1)] * 4 + [None], pa.timestamp("us")),
            "patient age": [1, 2, 3, 4, 5],
            "gold": [1, 0, 0, 1, 1],
        }
    )


def _seen_by(columns: list[str] | None, hidden: tuple[str, ...] = ()) -> list[Record]:
    seen: list[Record] = []

    @labeling_function(columns=columns)
    def capture(x):
        seen.append(x)
        return ABSTAIN

    apply_lfs_to_batch(_batch(), [capture], 2, "id", hidden=hidden)
    return seen


@pytest.mark.parametrize(
    "columns",
    [["text"], ["id"], ["text", "age"], ["age", "meta", "tags", "text", "ts"], ["patient age"]],
)
def test_records_hold_what_to_pylist_gave_in_the_same_order(columns):
    seen = _seen_by(columns)
    expected = _batch().select(sorted(set(columns) | {"id"})).to_pylist()
    assert [type(r) for r in seen] == [Record] * 5
    assert [r.__dict__ for r in seen] == expected
    assert [list(r.keys()) for r in seen] == [list(d) for d in expected]


def test_records_of_lfs_reading_every_column_hide_the_gold():
    seen = _seen_by(None, hidden=("gold",))
    expected = _batch().drop_columns(["gold"]).to_pylist()
    assert [r.__dict__ for r in seen] == expected
    assert list(seen[0].keys()) == ["id", "text", "age", "tags", "meta", "ts", "patient age"]
    assert seen[0]["patient age"] == 1 and seen[4].ts is None and seen[1].meta == {"k": None}


def test_every_row_lf_gets_its_own_record_per_row_shared_across_lfs():
    a, b = [], []

    @labeling_function(columns=["text"])
    def first(x):
        a.append(x)
        return ABSTAIN

    @labeling_function(columns=["text"])
    def second(x):
        b.append(x)
        return ABSTAIN

    apply_lfs_to_batch(_batch(), [first, second], 2, "id")
    assert len({id(r) for r in a}) == 5
    assert all(x is y for x, y in zip(a, b, strict=True))  # built once per batch, as before


def test_votes_preprocessors_and_resources():
    def lower(x: Record) -> Record:
        return Record(x, text=(x.text or "").lower())

    @labeling_function(columns=["text"], pre=[lower])
    def lf_pneumo(x):
        return 1 if "pneumo" in x.text else ABSTAIN

    @labeling_function(columns=["text"], resources={"kb": {"clear", "effusion"}})
    def lf_kb(x, kb):
        return 0 if x.text in kb else ABSTAIN

    @labeling_function(columns=["age"])
    def lf_old(x):
        return 1 if x.age is not None and x.age > 80 else ABSTAIN

    @labeling_function(columns=["text"])
    def lf_optional(x):  # getattr with a default inside the fast pass
        return 1 if getattr(x, "not_a_column", None) is None and x.text == "" else ABSTAIN

    L = apply_lfs_to_batch(_batch(), [lf_pneumo, lf_kb, lf_old, lf_optional], 2, "id")
    assert L.dtype == np.int8
    assert L.T.tolist() == [[1, -1, -1, -1, -1], [-1, -1, 0, -1, 0], [1, -1, -1, -1, 1],
                            [-1, -1, -1, 1, -1]]  # fmt: skip


def test_a_missing_field_keeps_the_record_message_and_getattr_comes_back():
    @labeling_function(columns=["text"])
    def lf_typo(x):
        return 1 if x.txt else ABSTAIN

    with pytest.raises(
        LFError,
        match=r"'lf_typo' raised AttributeError: record has no column 'txt'; available columns: "
        r"\['id', 'text'\] on row id 'r0'",
    ):
        apply_lfs_to_batch(_batch(), [lf_typo], 2, "id")
    errors: dict[str, int] = {}
    L = apply_lfs_to_batch(_batch(), [lf_typo], 2, "id", on_error="abstain", errors=errors)
    assert (L == ABSTAIN).all() and errors == {"lf_typo": 5}
    assert "__getattr__" in vars(Record)
    with pytest.raises(AttributeError, match="no column 'missing'"):
        _ = Record(text="x").missing


@pytest.mark.parametrize(
    ("returns", "message", "votes_if_abstain", "failures"),
    [
        ([1, None, 0, 1, 0], r"non-integer vote None \(NoneType\) for row id 'r1'", None, 1),
        ([1, 0.5, 0, 1, 0], r"non-integer vote 0.5", None, 1),
        ([1, "neg", 0, 1, 0], r"non-integer vote 'neg'", None, 1),
        ([True, False, True, True, False], r"non-integer vote True \(output dtype bool\)", None, 5),
        ([1, 0, 2, 1, 0], r"'lf' voted 2 for row id 'r2', outside -1..1", None, 1),
        ([1, 0, -2, 1, 0], r"'lf' voted -2 for row id 'r2'", None, 1),
        ([1, 300, 0, 1, 0], r"'lf' voted 300 for row id 'r1'", None, 1),
    ],
)
def test_bad_votes_name_lf_row_and_value_and_count_under_abstain(
    returns, message, votes_if_abstain, failures
):
    @labeling_function(name="lf", columns=["text"])
    def lf(x):
        return returns[int(x.id[1])]

    with pytest.raises(LFError, match=message):
        apply_lfs_to_batch(_batch(), [lf], 2, "id")
    errors: dict[str, int] = {}
    L = apply_lfs_to_batch(_batch(), [lf], 2, "id", on_error="abstain", errors=errors)
    assert errors == {"lf": failures}
    ok = [v if type(v) is int and -1 <= v < 2 else ABSTAIN for v in returns]
    assert L[:, 0].tolist() == ok


@pytest.mark.parametrize(
    ("returns", "votes"),
    [
        ([1, 0.0, -1.0, 1, 0], [1, 0, -1, 1, 0]),  # integral floats pass, as in validate_votes
        ([True, 0, -1, 1, 0], [1, 0, -1, 1, 0]),  # a bool among ints is numpy's 1
        ([np.int8(1), np.int64(0), -1, 1, np.uint8(0)], [1, 0, -1, 1, 0]),
    ],
)
def test_accepted_votes_are_what_validate_votes_accepts(returns, votes):
    @labeling_function(name="lf", columns=["text"])
    def lf(x):
        return returns[int(x.id[1])]

    assert apply_lfs_to_batch(_batch(), [lf], 2, "id")[:, 0].tolist() == votes


def test_exceptions_name_the_row_and_count_under_abstain():
    @labeling_function(columns=["text"])
    def lf_len(x):
        return 1 if len(x.text) > 3 else ABSTAIN  # TypeError on the null text of r1

    with pytest.raises(LFError, match=r"'lf_len' raised TypeError: .*NoneType.* on row id 'r1'"):
        apply_lfs_to_batch(_batch(), [lf_len], 2, "id")
    errors: dict[str, int] = {}
    L = apply_lfs_to_batch(_batch(), [lf_len], 2, "id", on_error="abstain", errors=errors)
    assert L[:, 0].tolist() == [1, -1, 1, -1, 1] and errors == {"lf_len": 1}


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_the_slow_lf_guard_still_stops_a_row_lf_and_restores_the_record_class():
    @labeling_function(columns=["text"])
    def spins(x):
        while x.text is not None or True:
            time.sleep(0.001)

    batch = pa.RecordBatch.from_pydict({"id": list(range(50)), "text": ["a"] * 50})
    with pytest.raises(LFError, match=r"'spins' was stopped .*batch of 50 rows"):
        apply_lfs_to_batch(batch, [spins], 2, "id", max_ms_per_row=1)
    assert "__getattr__" in vars(Record)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_kernel_leaves_the_gc_as_it_found_it(enabled):
    @labeling_function(columns=["text"])
    def lf(x):
        return ABSTAIN

    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        apply_lfs_to_batch(_batch(), [lf], 2, "id")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_fast_field_access_is_reentrant_thread_safe_and_restores_on_error():
    r = Record(text="x")
    with fast_field_access():
        assert "__getattr__" not in vars(Record) and r.text == "x"
        with pytest.raises(AttributeError):
            _ = r.nope
        with fast_field_access():
            pass
        assert "__getattr__" not in vars(Record)  # the outer block still holds it
    assert "__getattr__" in vars(Record)
    with pytest.raises(RuntimeError), fast_field_access():
        raise RuntimeError
    assert "__getattr__" in vars(Record)

    barrier = threading.Barrier(4)

    def worker() -> None:
        for _ in range(200):
            with fast_field_access():
                barrier.wait() if _ == 0 else None
                assert r.text == "x"

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "__getattr__" in vars(Record)
    with pytest.raises(AttributeError, match="no column 'nope'"):
        _ = r.nope
