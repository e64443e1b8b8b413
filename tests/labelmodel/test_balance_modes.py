"""A binary class-balance estimate must beat the rival local optimum with the other majority class.

Issue 14: on a held-out relation set (8% positives, most LFs voting the positive class, LFs firing
together on a shared context) the default estimated 56% positives and fell 5 F1 points below
majority vote. ``scripts/bench_structure.py --context 12`` reproduces the shape when the negative
LFs are confused (worse than random for their class): the moment fit started from the vote shares
stays in the basin where the voted-more class is the majority.

These problems now take their balance from third-order counts (``test_triplets.py``); the rival
check still guards statistics without them (more than 32 LFs, or saved before they existed), so
these tests drop them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from test_structure import _bench

from wsup_spark import LabelModel, LFStats


def _pairwise_only(L: np.ndarray) -> LFStats:
    """Binary statistics without third-order counts."""
    return dataclasses.replace(LFStats.from_matrix(L, 2), triples=None)


def test_estimate_with_an_equally_good_rival_falls_back_to_uniform():
    # shared-context problem 5 (seed 2, confused negative LFs): the vote-share estimate is 93%
    # positives (truth 6.4%), the reversed start finds 9% positives and fits the counts better,
    # so neither is trusted
    Ltr, _, _, p, _ = _bench().context_problem(5)
    stats = _pairwise_only(Ltr)
    model = LabelModel(2).fit(stats)
    info = model.fit_info
    assert info["balance"] == "uniform"
    assert "two estimates" in info["balance_rejected"]
    assert info["balance_estimate"][1] > 0.8 and info["balance_alternative"][1] < 0.2
    assert info["balance_alternative_qaic"] < 0  # the rival explains the counts better
    np.testing.assert_allclose(model.class_balance, [0.5, 0.5])
    # balance="estimate" still takes the vote-share start's optimum: forcing it is the user's call
    forced = LabelModel(2, balance="estimate").fit(stats)
    assert forced.class_balance[1] > 0.8 and p < 0.1


def test_estimate_that_beats_its_rival_is_kept():
    # rare-class problem 2 (5.5% positives): the estimate (27% positives) explains the counts
    # better than the reversed start's optimum (68%) by far more than the 2 QAIC units it must
    Ltr, _, _, p, _ = _bench().rare_problem(2)
    model = LabelModel(2).fit(_pairwise_only(Ltr))
    info = model.fit_info
    assert info["balance"] == "estimated"
    assert info["balance_alternative"][1] > 0.5 > model.class_balance[1] > p
    assert info["balance_alternative_qaic"] > 2


def test_multiclass_fits_have_no_rival():
    rng = np.random.default_rng(3)
    y = rng.choice(3, 20_000, p=[0.6, 0.3, 0.1])
    L = np.stack(
        [np.where(rng.random(y.size) < a, y, rng.integers(0, 3, y.size)) for a in (0.9, 0.8, 0.7)]
        + [np.where(rng.random(y.size) < 0.5, np.where(rng.random(y.size) < 0.75, y, 0), -1)],
        axis=1,
    )
    info = LabelModel(3, balance="estimate").fit(LFStats.from_matrix(L, 3)).fit_info
    assert "balance_alternative" not in info


def test_shared_context_suite_never_far_below_majority_vote():
    # scripts/bench_structure.py --context 12 (24 problems, F1 points): before the rival check
    # problems 5 and 17 were 8.6 and 10.5 points below majority vote (estimated 93% and 92%
    # positives)
    diffs, given = _bench().run_rare(24, {}, {}, suite="shared-context")
    assert min(diffs) > -2.0, diffs
    assert min(given) > 10.0, given  # the true balance, when given, is worth 11-28 points
    # the triplet balance (test_triplets.py): +14.97 on average (−0.11 before it, the uniform
    # balance on all 24)
    assert np.mean(diffs) > 10.0, diffs


def test_shared_context_with_undeclared_near_copies():
    # scripts/bench_structure.py --context-copies 12, first 6 draws: near-copies of two positive
    # LFs are learned as edges and share no triplet; the triplet balance still holds (+5.2 to
    # +25.4 points; −0.9 to +0.1 before it)
    diffs, _ = _bench().run_rare(6, {}, {}, suite="shared-context + copies")
    assert min(diffs) > 4.0, diffs


def test_ten_class_suite_reproduces_the_held_out_gap():
    # scripts/bench_structure.py --multiclass 12 (first 6 problems): shaped like issue 14's
    # 10-class relation set, where most classes have fewer than 3 LFs, so the default keeps the
    # uniform balance (at majority vote's level: −2.90 to +3.50 points over 12) although the
    # true balance is worth +6.9 to +23.2 points. This pins the gap the default leaves, and the
    # reason it leaves it: the balance is not identifiable by its rule.
    bench = _bench()
    diffs, given = bench.run_rare(6, {}, {}, suite="10-class")
    assert abs(np.mean(diffs)) < 3.0, diffs
    assert min(given) > 5.0, given
    L = bench.multiclass_problem(0)[0]
    info = LabelModel(10).fit(LFStats.from_matrix(L, 10)).fit_info
    assert info["balance"] == "uniform" and info["min_independent_lfs_per_class"] < 3
