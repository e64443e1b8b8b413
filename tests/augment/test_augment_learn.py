"""Learned policies: REINFORCE gradient sign, GRU export equivalence, a short TANDA run, the
entropy floor and the export temperature."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from augment_helpers import blobs  # noqa: E402

from wsup_spark.augment import vectorized_tf  # noqa: E402
from wsup_spark.augment.images import blur, heavy_noise, noise, shift  # noqa: E402
from wsup_spark.augment.learn import (  # noqa: E402
    LearnConfig,
    MeanFieldGenerator,
    SequenceGenerator,
    _label_keep,
    entropy_share,
    fit_image_classifier,
    learn_policy,
    reinforce_loss,
    temperature_for_entropy,
    with_temperature,
)
from wsup_spark.augment.policy import Policy, gru_numpy_step  # noqa: E402
from wsup_spark.errors import DataError  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Any:
    """Tiny models: one thread is fastest and does not thrash on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    loss.backward()  # type: ignore[no-untyped-call]
    if isinstance(gen, MeanFieldGenerator):  # gradient sign: descending raises the best logit
        g = gen.logits.grad
        assert g is not None
        assert g[best] < 0 and (g[[i for i in range(a) if i != best]] > 0).all()
    for _ in range(30):
        acts = gen.sample(256, 1, tg)
        reward = (acts[:, 0] == best).float()
        lp, _ = gen.log_prob(acts)
        opt.zero_grad()
        reinforce_loss(lp, reward, float(reward.mean())).backward()  # type: ignore[no-untyped-call]
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
    pol = Policy("sequence", tuple(f"t{i}" for i in range(2)), seq_len=2, gru=gen.export())
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
    pol = Policy("meanfield", ("a",), seq_len=2, levels=(0.3, 0.6, 0.9), probs=tuple(p))
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
    seq = Policy("sequence", ("a",), seq_len=2, levels=(0.3, 0.6, 0.9), gru=gen.export())
    s1, s4 = entropy_share(seq), entropy_share(with_temperature(seq, 4.0))
    assert s1 < s4 <= 1.0


def _bars(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 8, 8) images of one bar each: class 0 horizontal, class 1 vertical (alternating)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 8, 8), np.float32)
    y = np.arange(n) % 2
    for i in range(n):
        r, c0, length = rng.integers(1, 7), rng.integers(0, 3), rng.integers(4, 6)
        x[i, r, c0 : c0 + length] = 1.0
        if y[i]:
            x[i] = x[i].T
    return x, y


@vectorized_tf()  # type: ignore[untyped-decorator]
def transpose(xs: Any) -> np.ndarray:
    """Swap rows and columns: a realistic, large change that turns every bar into the other
    class (the kind of TF a realism-only reward cannot see through)."""
    return np.ascontiguousarray(np.swapaxes(np.asarray(xs), 1, 2))


def test_label_keep_is_zero_for_the_identity_and_negative_for_a_class_flip() -> None:
    x, y = _bars(80)
    clf = fit_image_classifier(x[:40], y[:40], [shift], epochs=20, seed=0)
    with torch.no_grad():
        assert float((clf(torch.as_tensor(x[40:])).argmax(1).numpy() == y[40:]).mean()) > 0.9
    fx = torch.as_tensor(x[40:])
    assert torch.equal(_label_keep(clf, fx, fx), torch.zeros(40))
    flipped = _label_keep(clf, fx, torch.as_tensor(np.swapaxes(x[40:], 1, 2).copy()))
    assert float(flipped.mean()) < -2.0 and float(flipped.max()) <= 0.0 + 1e-6
    # deterministic by seed
    again = fit_image_classifier(x[:40], y[:40], [shift], epochs=20, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(clf.parameters(), again.parameters(), strict=True))
    with pytest.raises(DataError, match="fit_image_classifier"):
        fit_image_classifier(x[:40].reshape(40, -1), y[:40], [shift])


def test_label_term_vetoes_a_realistic_class_flipping_tf() -> None:
    """Realism and change cannot tell ``transpose`` (flips the class) from ``shift`` (keeps it):
    without the label-preservation term TANDA prefers the flip; with it, REINFORCE moves to the
    preserving TF on every seed."""
    x, y = _bars(200)
    clf = fit_image_classifier(x[:40], y[:40], [shift], epochs=20, seed=0)
    for seed in (0, 1):
        probs = {}
        for weight in (0.0, 1.0):
            cfg = LearnConfig(kind="meanfield", seq_len=1, steps=40, batch_size=32,
                              progress=False, levels=(1.0,), lr_generator=0.05,
                              min_entropy=None, label_weight=weight, seed=seed)  # fmt: skip
            res = learn_policy(x[40:], [shift, transpose], cfg, classifier=clf)
            probs[weight] = np.asarray(res.policy.probs)  # identity, shift@1, transpose@1
        assert probs[1.0][1] > 0.5 > probs[1.0][2] + 0.4, probs
        assert probs[0.0][2] > probs[0.0][1], probs  # the realism-only failure this fixes
        assert "label_keep" in res.history[-1]


@pytest.mark.parametrize(("kind", "lr"), [("meanfield", 0.05), ("sequence", 0.01)])
def test_larger_identity_threshold_moves_to_the_stronger_level(kind: str, lr: float) -> None:
    """``noise`` at levels 0.3 / 1.0 on blobs: the discriminator spots strong noise, so with
    TANDA's small delta the weak level wins on most seeds; a large delta (the penalty then
    rewards change up to delta) makes REINFORCE pick the strong one on every seed."""
    x = blobs(300)
    strong: dict[float, list[float]] = {0.05: [], 0.3: []}
    for delta, alpha in ((0.05, 1.0), (0.3, 5.0)):
        for seed in (0, 1, 2):
            cfg = LearnConfig(kind=kind, seq_len=1, steps=40, batch_size=32, progress=False,
                              levels=(0.3, 1.0), lr_generator=lr, min_entropy=None,
                              identity_threshold=delta, identity_penalty=alpha,
                              seed=seed)  # fmt: skip
            strong[delta].append(float(learn_policy(x, [noise], cfg).policy.action_probs(4096)[2]))
    assert min(strong[0.3]) > 0.8, strong
    assert np.mean(strong[0.05]) < 0.6 and np.mean(strong[0.3]) > np.mean(strong[0.05]) + 0.3
