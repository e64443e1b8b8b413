"""Multi-task statistics on a real local SparkSession equal the in-memory ones exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from wsup_spark.labelmodel.multitask_stats import MultiTaskStats
from wsup_spark.tasks import Task, TaskGraph

TREE = TaskGraph(
    [Task("coarse", 3), Task("fine", 6, parent="coarse", parent_of=(0, 0, 1, 1, 2, 2))]
)
XRAY = TaskGraph([Task("abnormal", 2), Task("finding", 3, parent="abnormal", active_when=(1,))])


def _votes(graph: TaskGraph, n: int, tasks: list[str], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cols = []
    for t in tasks:
        k = graph.task(t).cardinality
        cols.append(np.where(rng.random(n) < 0.6, rng.integers(0, k, n), -1))
    return np.stack(cols, axis=1).astype(np.int16)


@pytest.mark.parametrize(
    ("graph", "tasks", "dtype"),
    [
        (TREE, ["coarse", "coarse", "fine", "fine", "fine"], "smallint"),
        (XRAY, ["abnormal", "finding", "abnormal", "finding"], "tinyint"),
    ],
)
@pytest.mark.parametrize("n_parts", [1, 3, 7])
def test_spark_multitask_stats_equal_in_memory(
    spark: Any, graph: TaskGraph, tasks: list[str], dtype: str, n_parts: int
) -> None:
    from wsup_spark.spark.multitask import compute_multitask_stats

    L = _votes(graph, 1500, tasks, seed=n_parts)
    names = [f"lf{i}" for i in range(len(tasks))]
    pdf = pd.DataFrame({"id": np.arange(len(L)), "votes": list(L)})
    df = spark.createDataFrame(pdf, f"id long, votes array<{dtype}>").repartition(n_parts)
    got = compute_multitask_stats(df, graph, tasks, names)
    want = MultiTaskStats.from_matrix(L, graph, tasks, names)
    assert got == want and got.lf_names == tuple(names)
    assert got.counts.dtype == np.int64


def test_spark_multitask_stats_of_empty_table(spark: Any) -> None:
    from wsup_spark.spark.multitask import compute_multitask_stats

    df = spark.createDataFrame([], "id long, votes array<smallint>")
    got = compute_multitask_stats(df, TREE, ["coarse", "fine"])
    assert got == MultiTaskStats.empty(TREE, ["coarse", "fine"]) and got.n == 0


def test_partials_serialise_only_the_columns_that_fired() -> None:
    L = np.array([[0, 1], [2, -1], [-1, 5]])
    s = MultiTaskStats.from_matrix(L, TREE, ["coarse", "fine"])
    back = MultiTaskStats.from_bytes(s.to_bytes())
    assert back == s and back.counts.shape == (9, 9)
    big = TaskGraph([Task("c", 2), Task("f", 200, parent="c", parent_of=(0,) * 100 + (1,) * 100)])
    Lb = np.array([[0, 3], [1, 150]] * 50)
    sb = MultiTaskStats.from_matrix(Lb, big, ["c", "f", "f", "f"][:2])
    assert len(sb.to_bytes()) < 20000  # d = 202: a dense (d, d) int64 would be 326 kB
    assert MultiTaskStats.from_bytes(sb.to_bytes()) == sb
