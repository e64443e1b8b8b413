"""Multi-task end model: N/A rows are masked out of the loss; heads, parent feeding, targets."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch
from torch import nn

from wsup_spark.endmodel.loss import soft_cross_entropy
from wsup_spark.endmodel.multitask import (
    MultiTaskModel,
    multitask_soft_cross_entropy,
    targets_from_arrow,
)
from wsup_spark.errors import ModelError

TASKS = [("abnormal", 2), ("finding", 3)]


def _model(feed_parent: bool = False) -> MultiTaskModel:
    torch.manual_seed(0)
    return MultiTaskModel(nn.Linear(4, 6), 6, TASKS, parents={"finding": "abnormal"},
                          feed_parent=feed_parent)  # fmt: skip


def test_na_rows_are_masked_out_of_the_loss() -> None:
    torch.manual_seed(1)
    x = torch.randn(6, 4)
    pa_ = torch.softmax(torch.randn(6, 2), 1)
    pf = torch.softmax(torch.randn(6, 3), 1)
    applies = torch.tensor([True, False, True, False, False, True])
    model = _model()
    out = model(x)
    loss = multitask_soft_cross_entropy(
        out, {"abnormal": pa_, "finding": pf},
        {"abnormal": torch.ones(6, dtype=torch.bool), "finding": applies},
    )  # fmt: skip
    want = soft_cross_entropy(out["abnormal"], pa_) + soft_cross_entropy(
        out["finding"][applies], pf[applies]
    )
    assert torch.isclose(loss, want)
    # whatever the N/A rows' targets hold (NaN included), loss and gradients are the same
    junk = pf.clone()
    junk[~applies] = float("nan")
    model.zero_grad()
    loss.backward()
    g1 = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    again = multitask_soft_cross_entropy(
        model(x), {"abnormal": pa_, "finding": junk},
        {"abnormal": torch.ones(6, dtype=torch.bool), "finding": applies},
    )  # fmt: skip
    again.backward()
    assert torch.isclose(again, loss)
    assert all(torch.equal(a, p.grad) for a, p in zip(g1, model.parameters(), strict=True))
    # an N/A row's features do not reach the finding head's gradient
    x2 = x.clone()
    x2[1] = 100.0  # row 1: finding N/A
    model.zero_grad()
    multitask_soft_cross_entropy(
        model(x2), {"abnormal": pa_, "finding": pf},
        {"abnormal": torch.zeros(6, dtype=torch.bool), "finding": applies},
    ).backward()  # fmt: skip
    gf = model.heads["finding"].weight.grad.clone()
    model.zero_grad()
    multitask_soft_cross_entropy(
        model(x), {"abnormal": pa_, "finding": pf},
        {"abnormal": torch.zeros(6, dtype=torch.bool), "finding": applies},
    ).backward()  # fmt: skip
    assert torch.allclose(gf, model.heads["finding"].weight.grad)


def test_a_task_with_no_applicable_row_contributes_nothing() -> None:
    model = _model()
    out = model(torch.randn(4, 4))
    pa_ = torch.tensor([[1.0, 0.0]] * 4)
    none = torch.zeros(4, dtype=torch.bool)
    loss = multitask_soft_cross_entropy(
        out, {"abnormal": pa_, "finding": torch.full((4, 3), float("nan"))},
        {"abnormal": torch.ones(4, dtype=torch.bool), "finding": none},
    )  # fmt: skip
    assert torch.isclose(loss, soft_cross_entropy(out["abnormal"], pa_))
    loss.backward()
    assert torch.count_nonzero(model.heads["finding"].weight.grad) == 0
    assert torch.count_nonzero(model.heads["abnormal"].weight.grad) > 0


def test_task_weights_and_errors() -> None:
    model = _model()
    out = model(torch.randn(3, 4))
    t = {"abnormal": torch.tensor([[0.5, 0.5]] * 3), "finding": torch.tensor([[1.0, 0, 0]] * 3)}
    m = {k: torch.ones(3, dtype=torch.bool) for k in t}
    base = multitask_soft_cross_entropy(out, t, m)
    half = multitask_soft_cross_entropy(out, t, m, task_weights={"finding": 0.5})
    fin = soft_cross_entropy(out["finding"], t["finding"])
    assert torch.isclose(base - half, 0.5 * fin)
    with pytest.raises(ModelError, match="no targets for task 'finding'"):
        multitask_soft_cross_entropy(out, {"abnormal": t["abnormal"]}, m)
    with pytest.raises(ModelError, match="mask of task"):
        multitask_soft_cross_entropy(out, t, {**m, "finding": torch.ones(2, dtype=torch.bool)})
    with pytest.raises(ModelError, match="listed before"):
        MultiTaskModel(nn.Linear(2, 2), 2, [("f", 3), ("a", 2)], parents={"f": "a"})


def test_feed_parent_conditions_the_child_head() -> None:
    model = _model(feed_parent=True)
    assert model.heads["finding"].in_features == 6 + 2
    x = torch.randn(5, 4)
    out = model(x)
    with torch.no_grad():  # moving only the parent head changes the child's logits
        model.heads["abnormal"].bias += torch.tensor([3.0, -3.0])
    assert not torch.allclose(model(x)["finding"], out["finding"])


def test_targets_from_a_multitask_labels_batch() -> None:
    b = pa.record_batch({
        "probs_abnormal": pa.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], pa.list_(pa.float64())),
        "probs_finding": pa.array([None, [0.1, 0.6, 0.3], [1.0, 0.0, 0.0]],
                                  pa.list_(pa.float64())),
    })  # fmt: skip
    P, M = targets_from_arrow(b, TASKS)
    assert M["abnormal"].tolist() == [True] * 3 and M["finding"].tolist() == [False, True, True]
    assert torch.allclose(P["finding"][1], torch.tensor([0.1, 0.6, 0.3]))
    assert P["finding"][0].tolist() == [0.0, 0.0, 0.0]
    model = _model()
    loss = multitask_soft_cross_entropy(model(torch.randn(3, 4)), P, M)
    assert torch.isfinite(loss)
