"""Policies: JSON round trip, hash, validation, determinism by (seed, row id)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from augment_helpers import blobs

from wsup_spark import ConfigError
from wsup_spark.augment.apply import augment_arrays
from wsup_spark.augment.images import IMAGE_TFS
from wsup_spark.augment.policy import Policy, n_actions

NAMES = [t.name for t in IMAGE_TFS]
A = n_actions(len(NAMES), 3)


def _policies() -> list[Policy]:
    p = np.random.default_rng(0).dirichlet(np.ones(A))
    return [
        Policy("none", NAMES),
        Policy("apply_one", NAMES, tf_index=3, strength=0.7),
        Policy("apply_all", NAMES),
        Policy("random", NAMES, seq_len=3, strength=0.5),
        Policy("trivial", NAMES),
        Policy("meanfield", NAMES, seq_len=2, probs=tuple(p), meta={"note": "x"}),
    ]


@pytest.mark.parametrize("policy", _policies(), ids=lambda p: p.kind)
def test_json_round_trip_and_determinism(policy: Policy, tmp_path) -> None:
    back = Policy.from_json(policy.to_json())
    assert back == policy and back.hash == policy.hash
    policy.save(tmp_path / "p.json")
    assert Policy.load(tmp_path / "p.json") == policy
    x = blobs(30)
    ids = np.arange(500, 530)
    a = augment_arrays(x, policy, IMAGE_TFS, seed=5, ids=ids, n_copies=2)
    b = augment_arrays(x, back, IMAGE_TFS, seed=5, ids=ids, n_copies=2, batch_size=7)
    assert np.array_equal(a.values, b.values) and a.lineage == b.lineage
    # a row's output depends on (seed, id, copy) only, not on the rest of the batch
    c = augment_arrays(x[10:12], policy, IMAGE_TFS, seed=5, ids=ids[10:12], n_copies=2)
    assert np.array_equal(c.values, a.values[30:36])
    if policy.kind != "none":
        d = augment_arrays(x, policy, IMAGE_TFS, seed=6, ids=ids, n_copies=2)
        assert not np.array_equal(d.values, a.values)


def test_hash_ignores_meta_and_validation_names_the_field() -> None:
    p = _policies()[-1]
    q = Policy.from_dict({**p.to_dict(), "meta": {"other": 1}})
    assert q.hash == p.hash
    with pytest.raises(ConfigError, match="kind='bogus'"):
        Policy("bogus", NAMES)
    with pytest.raises(ConfigError, match="probs has 3 entries"):
        Policy("meanfield", NAMES, probs=(0.2, 0.3, 0.5))
    with pytest.raises(ConfigError, match="unknown keys"):
        Policy.from_dict({"kind": "none", "tfs": [], "colour": 1})
    with pytest.raises(ConfigError, match="does not parse"):
        Policy.from_json("{")
    assert json.loads(p.to_json())["kind"] == "meanfield"


def test_meanfield_sampling_follows_probs() -> None:
    probs = np.zeros(A)
    probs[0], probs[1 + 3 * 2 + 1] = 0.25, 0.75  # identity, shear@0.667
    pol = Policy("meanfield", NAMES, seq_len=1, probs=tuple(probs))
    ops, strengths = pol.sample(np.arange(4000, dtype=np.uint64))
    assert abs((ops[:, 0] == -1).mean() - 0.25) < 0.03
    assert set(ops[ops >= 0].tolist()) == {2}
    assert np.allclose(strengths[ops >= 0], 2 / 3)
