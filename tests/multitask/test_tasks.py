"""Task structure: hierarchy enumeration, explicit feasible sets, vote sets, JSON, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsup_spark import ConfigError
from wsup_spark.tasks import NA, Task, TaskGraph


def xray() -> TaskGraph:
    return TaskGraph([
        Task("abnormal", 2, ("NORMAL", "ABNORMAL")),
        Task("finding", 3, ("consolidation", "pneumothorax", "effusion"), parent="abnormal",
             active_when=(1,)),
    ])  # fmt: skip


def test_hierarchy_child_is_na_outside_active_parent_values() -> None:
    g = xray()
    assert g.feasible.tolist() == [[0, NA], [1, 0], [1, 1], [1, 2]]
    assert g.can_be_na("finding") and not g.can_be_na("abnormal")
    assert np.allclose(g.uniform_balance(), [0.5, 1 / 6, 1 / 6, 1 / 6])


def test_tree_parent_of_and_marginals() -> None:
    g = TaskGraph([Task("c", 2), Task("f", 4, parent="c", parent_of=(1, 0, 1, 0))])
    assert g.feasible.tolist() == [[0, 1], [0, 3], [1, 0], [1, 2]]
    P = np.array([[0.1, 0.2, 0.3, 0.4]])
    marg = g.marginals(P)
    assert np.allclose(marg["c"], [[0.3, 0.7]])
    assert np.allclose(marg["f"], [[0.3, 0.1, 0.4, 0.2]])
    assert g.partial_vote_set("f", [0, 2]).tolist() == [False, False, True, True]


def test_single_task_and_explicit_feasible() -> None:
    assert TaskGraph.single(3).feasible.tolist() == [[0], [1], [2]]
    g = TaskGraph([Task("a", 2), Task("b", 2)], feasible=[[0, 0], [1, 1], [1, -1]])
    assert g.n_joint == 3 and g.vote_sets("b").tolist() == [[True, False, False],
                                                            [False, True, False]]  # fmt: skip


@pytest.mark.parametrize("graph", [xray(), TaskGraph([Task("a", 2), Task("b", 2)],
                                                     feasible=[[0, 0], [1, 1]])])  # fmt: skip
def test_json_round_trip(graph: TaskGraph) -> None:
    back = TaskGraph.from_dict(json.loads(json.dumps(graph.to_dict())))
    assert back == graph and back.tasks == graph.tasks


def test_from_dict_accepts_parent_class_names() -> None:
    g = TaskGraph.from_dict({"tasks": [
        {"name": "coarse", "cardinality": 2, "class_names": ["LOC", "NUM"]},
        {"name": "fine", "cardinality": 3, "parent": "coarse", "parent_of": ["LOC", "NUM", "NUM"]},
    ]})  # fmt: skip
    assert g.task("fine").parent_of == (0, 1, 1)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"tasks": [{"name": "a", "cardinality": 1}]}, ["'a'", "cardinality"]),
        ({"tasks": [{"name": "b", "cardinality": 2, "parent": "zz"}]}, ["'b'", "'zz'"]),
        ({"tasks": [{"name": "a", "cardinality": 2},
                    {"name": "b", "cardinality": 2, "parent": "a", "parent_of": [0, 5]}]},
         ["'b'", "5", "'a'"]),
        ({"tasks": [{"name": "a", "cardinality": 2, "colour": 1}]}, ["'a'", "colour"]),
        ({"tasks": [{"name": "a", "cardinality": 2, "class_names": ["x", "y"]},
                    {"name": "b", "cardinality": 2, "parent": "a", "parent_of": ["x", "q"]}]},
         ["'a'", "'q'"]),
        ({"tasks": [{"name": "a", "cardinality": 2}], "feasible": [[3]]}, ["'a'", "3"]),
        ({"tasks": [{"name": "a", "cardinality": 2}, {"name": "a", "cardinality": 3}]}, ["'a'"]),
    ],
)  # fmt: skip
def test_errors_name_task_and_value(spec: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        TaskGraph.from_dict(spec)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert isinstance(err.value, ValueError)


def test_unknown_task_and_infeasible_vector() -> None:
    g = xray()
    with pytest.raises(ConfigError, match="'nope'"):
        g.index("nope")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        g.joint_index([0, 1])
    with pytest.raises(ConfigError, match="'finding'.*'pleura'"):
        g.partial_vote_set("finding", ["pleura"])
