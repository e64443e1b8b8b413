"""Learned policies: REINFORCE gradient sign, GRU export equivalence, a short TANDA run, the
entropy floor and the export temperature."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from augment_helpers import blobs  # noqa: E402

from wsup_spark.augment.images import blur, heavy_noise, shift  # noqa: E402
from wsup_spark.augment.learn import (  # noqa: E402
    LearnConfig,
    MeanFieldGenerator,
    SequenceGenerator,
    entropy_share,
    learn_policy,
    reinforce_loss,
    temperature_for_entropy,
    with_temperature,
)
from wsup_spark.augment.policy import Policy, gru_numpy_step  # noqa: E402


@pytest.mark.parametrize("kind", ["meanfield", "sequence"])
def test_reinforce_pushes_towards_the_best_tf(kind: str) -> None:
    torch.manual_seed(0)
    a, best = 5, 3
    gen = MeanFieldGenerator(a) if kind == "meanfield" else SequenceGenerator(a, 8, 16)
    opt = torch.optim.Adam(gen.parameters(), lr=0.05)
    tg = torch.Generator().manual_seed(0)

    def p_best() -> float:
        acts = gen.sample(2000, 1, tg)
        return float((acts == best).float().mean())

    before = p_best()
    acts = gen.sample(256, 1, tg)
    reward = (acts[:, 0] == best).float()
    lp, _ = gen.log_prob(acts)
    loss = reinforce_loss(lp, reward, float(reward.mean()))
    loss.backward()
    if kind == "meanfield":  # gradient sign: descending raises the best action's logit
        g = gen.logits.grad
        assert g[best] < 0 and (g[[i for i in range(a) if i != best]] > 0).all()
    for _ in range(30):
        acts = gen.sample(256, 1, tg)
        reward = (acts[:, 0] == best).float()
        lp, _ = gen.log_prob(acts)
        opt.zero_grad()
        reinforce_loss(lp, reward, float(reward.mean())).backward()
        opt.step()
    assert p_best() > max(0.8, before + 0.4)


def test_gru_export_matches_torch() -> None:
    torch.manual_seed(1)
    gen = SequenceGenerator(7, 4, 6)
    for prm in gen.parameters():
        torch.nn.init.normal_(prm, std=0.5)
    w = {k: np.asarray(v) for k, v in gen.export().items()}
    prev = torch.tensor([7, 2, 5])
    h = torch.randn(3, 6)
    logp, h2 = gen._step(prev, h)
    logits, h2n = gru_numpy_step(w, prev.numpy(), h.double().numpy())
    assert np.allclose(h2n, h2.detach().numpy(), atol=1e-5)
    ref = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert np.allclose(ref, logp.detach().numpy(), atol=1e-5)
    pol = Policy("sequence", [f"t{i}" for i in range(2)], seq_len=2, gru=gen.export())
    assert Policy.from_json(pol.to_json()) == pol


@pytest.mark.slow
def test_tanda_learns_to_avoid_a_destructive_tf() -> None:
    x = blobs(300)
    cfg = LearnConfig(kind="meanfield", seq_len=1, steps=60, batch_size=32, progress=False,
                      levels=(0.5,), lr_generator=0.05, min_entropy=None)  # fmt: skip
    res = learn_policy(x, [shift, heavy_noise], cfg)
    probs = np.asarray(res.policy.probs)  # identity, shift@0.5, heavy_noise@0.5
    assert probs[2] < 0.2 < probs[1], probs
    # the default floor (0.9 of log 3 here: a strong one for 3 actions) keeps the veto's order
    floored = with_temperature(res.policy, temperature_for_entropy(res.policy, 0.9))
    fp = np.asarray(floored.probs)
    assert fp[2] < fp[1] and entropy_share(floored) >= 0.9, fp
    assert res.history and res.policy.meta["learned"]["kind"] == "meanfield"


@pytest.mark.parametrize("kind", ["meanfield", "sequence"])
def test_learn_policy_is_deterministic_by_seed(kind: str) -> None:
    x = blobs(40)
    cfg = LearnConfig(kind=kind, seq_len=2, steps=4, batch_size=8, progress=False, seed=3)
    torch.manual_seed(123)  # the global torch state must not matter
    a = learn_policy(x, [shift, heavy_noise], cfg).policy
    torch.rand(5)
    b = learn_policy(x, [shift, heavy_noise], cfg).policy
    assert a == b and a.hash == b.hash


def _toy_policy(kind: str, min_entropy: float | None) -> Policy:
    """A short TANDA run on blobs whose generator collapses without an entropy floor."""
    cfg = LearnConfig(kind=kind, seq_len=1, steps=40, batch_size=32, progress=False,
                      levels=(0.5,), lr_generator=0.05, min_entropy=min_entropy)  # fmt: skip
    return learn_policy(blobs(200), [shift, heavy_noise, blur], cfg).policy


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["meanfield", "sequence"])
def test_min_entropy_floor_stops_the_collapse(kind: str) -> None:
    free = _toy_policy(kind, None)
    floored = _toy_policy(kind, 0.8)
    assert entropy_share(free, 0) < 0.6  # the toy collapses without the floor ...
    assert entropy_share(floored, 0) >= 0.8  # ... and the exported policy keeps the floor
    assert floored.meta["temperature"] > 1.0 and free.meta["temperature"] == 1.0
    assert floored.meta["entropy_share"]["learned"] < 0.6
    # same training (the floor only tempers the export): the learned ranking is kept
    fa, fb = free.action_probs(4096), floored.action_probs(4096)
    assert np.argmax(fa) == np.argmax(fb) and fb.max() < fa.max()


def test_with_temperature_keeps_the_order_and_tends_to_uniform() -> None:
    p = np.array([0.5, 0.3, 0.15, 0.05])
    pol = Policy("meanfield", ["a"], seq_len=2, levels=(0.3, 0.6, 0.9), probs=tuple(p))
    assert with_temperature(pol, 1.0) == pol
    q = np.asarray(with_temperature(pol, 2.0).probs)
    assert np.allclose(q, np.sqrt(p) / np.sqrt(p).sum())
    assert np.allclose(with_temperature(pol, 1e6).probs, 0.25, atol=1e-5)
    shares = [entropy_share(with_temperature(pol, t)) for t in (0.5, 1.0, 2.0, 8.0)]
    assert shares == sorted(shares) and shares[-1] < 1.0
    t = temperature_for_entropy(pol, 0.97)
    assert t > 1 and 0.97 <= entropy_share(with_temperature(pol, t)) < 0.971
    assert temperature_for_entropy(pol, 0.1) == 1.0
    torch.manual_seed(0)
    gen = SequenceGenerator(4, 4, 6)
    for prm in gen.parameters():
        torch.nn.init.normal_(prm, std=2.0)
    seq = Policy("sequence", ["a"], seq_len=2, levels=(0.3, 0.6, 0.9), gru=gen.export())
    s1, s4 = entropy_share(seq), entropy_share(with_temperature(seq, 4.0))
    assert s1 < s4 <= 1.0
