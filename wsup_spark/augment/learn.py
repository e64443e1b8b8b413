"""Learned augmentation policies (TANDA, Ratner et al. NeurIPS 2017) in torch.

A generator proposes TF sequences; a discriminator learns to tell real unlabeled examples from
transformed ones; the generator is rewarded for sequences whose outputs the discriminator takes
for real. TFs are arbitrary (non-differentiable) functions, so the generator is trained with
REINFORCE: ``loss = -mean((r - b) / s * log pi(sequence)) - beta * entropy``, with ``b`` an
exponential moving average of the reward (the baseline) and ``s`` the batch's reward standard
deviation (so the step size does not depend on the discriminator's confidence).

Reward of a transformed example ``x~ = h_tau(x)``::

    r = log D(x~) - alpha * max(0, delta - d(x, x~)) / delta

The first term is the (non-saturating) GAN generator objective: sequences that leave the data on
its manifold score high, destructive ones (heavy noise, inversion) score low. The second is
TANDA's guard against the trivial solution: the identity (or a near-identity sequence) fools any
discriminator, so transforms whose mean absolute change ``d`` is under ``delta`` pay up to
``alpha``. The discriminator only ever sees unlabeled data.

Optional label-preservation term (``classifier=``, weight ``LearnConfig.label_weight``)::

    r += gamma * (log p_c(y^ | x~) - log p_c(y^ | x)),   y^ = argmax_y p_c(y | x)

with ``p_c`` a frozen classifier fit on the few labeled examples (:func:`fit_image_classifier`
for images): how much of the classifier's confidence in the class of the *unlabeled* original
the transform costs (0 for the identity). Realism alone measures how real a copy looks, not
whether it is still an example of its class; on size-normalised digits it steers the policy away
from the geometric transforms a classifier needs and towards weak photometric ones. With this
term, a larger ``identity_threshold`` (the penalty then rewards change up to ``delta``) asks
for the strongest change that keeps the class, and destructive TFs pay twice. Fit the classifier
with augmentation over the same TFs (:func:`fit_image_classifier` does): a classifier fit on
the originals only is not invariant to any TF, and the term would then favour the TFs it is
already invariant to, i.e. the useless ones. Measured on scikit-learn's digits with 100 labels
(README, Benchmarks) the term did not help: even the augmented classifier loses confidence under
every strong transform, so it pulls the policy back to weak ones. What helped there is a large
delta alone (``identity_threshold=0.2, identity_penalty=5``, ``bench_augment.py``'s image
setting): realism vetoes what leaves the data manifold, the penalty asks for strong change.
It does catch what realism cannot see: a realistic transform that turns an example into one of
another class (tested on a toy where transposing a bar flips its class).

Generators
----------
``meanfield``  one categorical over actions, drawn independently at each step.
``sequence``   a GRU over the previous action (TANDA's sequence model).

Anti-collapse: REINFORCE with a discriminator reward tends to concentrate the generator on the
one or two actions the discriminator finds most realistic (the GRU especially), and an
augmentation policy needs diversity more than it needs realism. ``LearnConfig.min_entropy``
(default 0.9) is a floor on the exported policy's entropy per step, as a share of the uniform
policy's: a policy that learned to be sharper is exported at the temperature that brings it
back to the floor (:func:`with_temperature`; order of the actions kept). The learned policy
then mostly vetoes the actions whose outputs leave the data manifold and stays diverse
otherwise.

Actions are ``identity`` or (TF, strength level) pairs (:func:`~wsup_spark.augment.policy.
action_table`); the learned policy is exported as a plain-JSON :class:`Policy` that samples in
numpy (Spark executors need no torch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from wsup_spark.augment.apply import apply_ops, resolve_tfs
from wsup_spark.augment.base import TransformationFunction, check_unique_tfs
from wsup_spark.augment.policy import DEFAULT_LEVELS, Policy, action_table, n_actions
from wsup_spark.augment.randomness import POLICY_STREAM, BatchRandom, mix, row_keys
from wsup_spark.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = [
    "FeatureDiscriminator",
    "ImageClassifier",
    "ImageDiscriminator",
    "LearnConfig",
    "LearnResult",
    "MeanFieldGenerator",
    "SequenceGenerator",
    "action_names",
    "entropy_share",
    "fit_image_classifier",
    "learn_policy",
    "reinforce_loss",
    "temperature_for_entropy",
    "with_temperature",
]

GENERATOR_KINDS = ("meanfield", "sequence")


@dataclass(frozen=True)
class LearnConfig:
    """Settings of :func:`learn_policy`.

    Attributes
    ----------
    kind : {"meanfield", "sequence"}
    seq_len : int
        Steps per sequence (L).
    levels : tuple of float
        Strength levels; actions are identity + (TF, level) pairs.
    steps : int
        Generator/discriminator updates.
    batch_size : int
    lr_generator : float, optional
        Adam learning rate of the generator; default 0.01 (meanfield) or 0.002 (sequence: the
        GRU collapses onto one sequence at higher rates).
    lr_discriminator : float
        Adam learning rate of the discriminator.
    hidden, embed : int
        GRU state and action-embedding sizes (``sequence``).
    identity_penalty : float
        alpha: the most a near-identity transform pays.
    identity_threshold : float
        delta: mean absolute change below which a transform counts as near-identity (data in
        [0, 1]); the penalty ``alpha * max(0, 1 - d / delta)`` is the same as a reward
        ``alpha * min(1, d / delta)`` for change up to delta, so a larger delta asks for
        stronger transforms.
    label_weight : float
        gamma: weight of the label-preservation term (used only when :func:`learn_policy` gets
        a ``classifier``; 0 turns it off): ``gamma * (log p_c(y^ | x~) - log p_c(y^ | x))``,
        the classifier's log-confidence in the class it predicts for the unlabeled original,
        lost by the transform.
    baseline_decay : float
        EMA decay of the REINFORCE baseline.
    entropy_weight : float
        beta: entropy bonus (keeps the policy from collapsing on one sequence too early).
    min_entropy : float or None
        Entropy floor of the exported policy, as a share of the uniform policy's ``log A`` per
        step (:func:`entropy_share`): when learning ends below it, the policy is exported at
        the smallest temperature T > 1 that reaches it (:func:`temperature_for_entropy`). The
        learned ranking of the actions is kept (TFs the discriminator finds destructive stay
        the least likely) but no sequence can take over. ``None``: no floor.
    temperature : float
        Sampling temperature of the exported policy (its logits divided by T, at least the
        floor's); 1 = as learned.
    seed : int
    progress : bool
        Show a tqdm bar (and log every ``log_every`` steps).
    log_every : int
    """

    kind: str = "sequence"
    seq_len: int = 2
    levels: tuple[float, ...] = DEFAULT_LEVELS
    steps: int = 200
    batch_size: int = 64
    lr_generator: float | None = None
    lr_discriminator: float = 2e-3
    hidden: int = 32
    embed: int = 16
    identity_penalty: float = 1.0
    identity_threshold: float = 0.05
    label_weight: float = 1.0
    baseline_decay: float = 0.9
    entropy_weight: float = 0.1
    min_entropy: float | None = 0.9
    temperature: float = 1.0
    seed: int = 0
    progress: bool = True
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.kind not in GENERATOR_KINDS:
            raise ConfigError(f"LearnConfig kind={self.kind!r}; use one of {GENERATOR_KINDS}")
        for name in ("seq_len", "steps", "batch_size", "hidden", "embed", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"LearnConfig {name}={getattr(self, name)}; use 1 or more")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ConfigError(f"LearnConfig baseline_decay={self.baseline_decay}; use [0, 1)")
        if self.min_entropy is not None and not 0.0 <= self.min_entropy < 1.0:
            raise ConfigError(f"LearnConfig min_entropy={self.min_entropy}; use [0, 1) or None")
        if self.temperature <= 0:
            raise ConfigError(f"LearnConfig temperature={self.temperature}; use a positive value")
        if self.label_weight < 0:
            raise ConfigError(f"LearnConfig label_weight={self.label_weight}; use 0 or more")
        if self.identity_threshold <= 0:
            raise ConfigError(
                f"LearnConfig identity_threshold={self.identity_threshold}; use a positive value"
            )


class MeanFieldGenerator(nn.Module):
    """Independent draws from one learned categorical over A actions.

    Parameters
    ----------
    n_actions : int
        A.
    """

    def __init__(self, n_actions: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_actions))

    def log_prob(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of given sequences.

        Parameters
        ----------
        actions : (n, L) int64

        Returns
        -------
        log_prob : (n,) sum over steps
        entropy : (n,) sum over steps
        """
        logp = torch.log_softmax(self.logits, -1)
        ent = -(logp.exp() * logp).sum() * actions.shape[1]
        return logp[actions].sum(1), ent.expand(actions.shape[0])

    def sample(self, n: int, length: int, gen: torch.Generator) -> torch.Tensor:
        """(n, L) int64 actions."""
        p = torch.softmax(self.logits.detach(), -1)
        return torch.multinomial(p, n * length, replacement=True, generator=gen).view(n, length)


class SequenceGenerator(nn.Module):
    """A GRU over the previous action; its weights export to a ``sequence`` :class:`Policy`.

    Parameters
    ----------
    n_actions : int
        A (the start token is action index A).
    embed, hidden : int
    """

    def __init__(self, n_actions: int, embed: int = 16, hidden: int = 32) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.emb = nn.Embedding(n_actions + 1, embed)
        self.cell = nn.GRUCell(embed, hidden)
        self.out = nn.Linear(hidden, n_actions)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _step(self, prev: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.cell(self.emb(prev), h)
        return torch.log_softmax(self.out(h), -1), h

    def log_prob(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of given sequences (teacher forcing).

        Parameters
        ----------
        actions : (n, L) int64

        Returns
        -------
        log_prob : (n,)
        entropy : (n,)
        """
        n, length = actions.shape
        h = torch.zeros(n, self.cell.hidden_size)
        prev = torch.full((n,), self.n_actions, dtype=torch.long)
        lp = torch.zeros(n)
        ent = torch.zeros(n)
        for t in range(length):
            logp, h = self._step(prev, h)
            lp = lp + logp.gather(1, actions[:, t : t + 1]).squeeze(1)
            ent = ent - (logp.exp() * logp).sum(1)
            prev = actions[:, t]
        return lp, ent

    @torch.no_grad()
    def sample(self, n: int, length: int, gen: torch.Generator) -> torch.Tensor:
        """(n, L) int64 actions."""
        h = torch.zeros(n, self.cell.hidden_size)
        prev = torch.full((n,), self.n_actions, dtype=torch.long)
        out = torch.empty(n, length, dtype=torch.long)
        for t in range(length):
            logp, h = self._step(prev, h)
            prev = torch.multinomial(logp.exp(), 1, generator=gen).squeeze(1)
            out[:, t] = prev
        return out

    def export(self) -> dict[str, list[Any]]:
        """The weights as :data:`~wsup_spark.augment.policy.GRU_KEYS` nested lists."""
        w = {
            "emb": self.emb.weight, "w_ih": self.cell.weight_ih, "w_hh": self.cell.weight_hh,
            "b_ih": self.cell.bias_ih, "b_hh": self.cell.bias_hh, "w_out": self.out.weight,
            "b_out": self.out.bias,
        }  # fmt: skip
        return {k: v.detach().double().cpu().numpy().tolist() for k, v in w.items()}


class ImageDiscriminator(nn.Module):
    """Small CNN scoring (n, h, w) images: logit of "real".

    Parameters
    ----------
    channels : int
    """

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(), nn.Linear(2 * c * 16, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (n, h, w) float → (n,) logits."""
        return self.net(x.unsqueeze(1)).squeeze(1)  # type: ignore[no-any-return]


class FeatureDiscriminator(nn.Module):
    """MLP scoring (n, d) feature vectors (e.g. frozen sentence embeddings of texts): logit of
    "real". The discriminator for non-image data, with ``featurize`` mapping a batch of examples
    to those vectors.

    Parameters
    ----------
    dim : int
        d, the feature size.
    hidden : int
    """

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (n, d) float → (n,) logits."""
        return self.net(x).squeeze(1)  # type: ignore[no-any-return]


def reinforce_loss(
    log_prob: torch.Tensor,
    reward: torch.Tensor,
    baseline: float | torch.Tensor,
    entropy: torch.Tensor | None = None,
    entropy_weight: float = 0.0,
) -> torch.Tensor:
    """REINFORCE with a baseline: ``-mean((r - b) * log_prob) - beta * mean(entropy)``.

    Parameters
    ----------
    log_prob : (n,) log pi(sequence), differentiable
    reward : (n,) rewards (no gradient)
    baseline : scalar
    entropy : (n,), optional
    entropy_weight : float

    Returns
    -------
    scalar loss; its gradient raises the probability of above-baseline sequences.

    Examples
    --------
    >>> logits = torch.zeros(3, requires_grad=True)
    >>> lp = torch.log_softmax(logits, 0)[torch.tensor([0, 1, 2])]
    >>> reinforce_loss(lp, torch.tensor([1.0, 0.0, 0.0]), 1 / 3).backward()
    >>> bool(logits.grad[0] < 0 < logits.grad[1])
    True
    """
    adv = (reward - baseline).detach()
    loss = -(adv * log_prob).mean()
    if entropy is not None and entropy_weight:
        loss = loss - entropy_weight * entropy.mean()
    return loss


def action_names(tfs: Sequence[str], levels: Sequence[float]) -> list[str]:
    """Readable action names: ``identity``, ``rotate@0.333``, ..."""
    return ["identity"] + [f"{t}@{lv:.3f}" for t in tfs for lv in levels]


def _mean_abs_change(a: Any, b: Any) -> np.ndarray:
    d: np.ndarray = np.abs(np.asarray(a) - np.asarray(b)).reshape(len(a), -1).mean(axis=1)
    return d


@dataclass
class LearnResult:
    """What :func:`learn_policy` returns.

    Attributes
    ----------
    policy : Policy
        The learned policy (plain JSON data; ``meta`` holds the config and action marginals).
    history : list of dict
        Every ``log_every`` steps: step, d_loss, reward, penalty, identity share, top actions.
    seconds : float
    """

    policy: Policy
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def learn_policy(
    x: Any,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    config: LearnConfig | None = None,
    *,
    discriminator: nn.Module | None = None,
    featurize: Callable[[Any], torch.Tensor] | None = None,
    distance: Callable[[Any, Any], np.ndarray] | None = None,
    classifier: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> LearnResult:
    """Learn a TF-sequence policy on unlabeled examples (TANDA).

    Parameters
    ----------
    x : (n, h, w) float array in [0, 1] (images), or a list of examples
        Unlabeled data (a sample is enough: each step draws ``batch_size`` rows).
    tfs : the TFs the policy may use (their order is the policy's).
    config : LearnConfig
    discriminator : torch Module, optional
        Maps ``featurize(batch)`` to (n,) logits. Default: :class:`ImageDiscriminator`.
    featurize : callable, optional
        Batch (array or list) → tensor. Default: ``torch.as_tensor(float32 array)``.
    distance : callable, optional
        ``(originals, transformed) -> (n,)`` change size for the near-identity penalty. Default:
        mean absolute difference (arrays only).
    classifier : callable, optional
        Frozen ``featurize(batch) -> (n, k)`` class logits (e.g. :func:`fit_image_classifier`
        on the labeled examples): adds the label-preservation term, weight
        ``config.label_weight`` (see the module docstring). It is never trained here, and the
        discriminator still sees unlabeled data only.

    Returns
    -------
    LearnResult
    """
    cfg = config or LearnConfig()
    tf_list = check_unique_tfs(list(tfs.values()) if isinstance(tfs, Mapping) else list(tfs))
    names = tuple(t.name for t in tf_list)
    is_array = isinstance(x, np.ndarray)
    if is_array:
        x = np.asarray(x, np.float32)
    elif discriminator is None or featurize is None or distance is None:
        raise ConfigError(
            "learn_policy on non-array examples needs discriminator=, featurize= and distance= "
            "(the defaults handle (n, h, w) image arrays only)"
        )
    n = len(x)
    if n < 2:
        raise DataError(f"learn_policy needs unlabeled examples; got {n}")
    feat = featurize or (lambda b: torch.as_tensor(np.asarray(b, np.float32)))
    dist = distance or _mean_abs_change
    use_labels = classifier is not None and cfg.label_weight > 0
    if isinstance(classifier, nn.Module):
        classifier.eval()
    torch.manual_seed(cfg.seed)  # before the default discriminator's initialisation
    disc = discriminator or ImageDiscriminator()
    a = n_actions(len(names), len(cfg.levels))
    gen_model: MeanFieldGenerator | SequenceGenerator = (
        MeanFieldGenerator(a) if cfg.kind == "meanfield"
        else SequenceGenerator(a, cfg.embed, cfg.hidden)
    )  # fmt: skip
    lr_g = cfg.lr_generator or (0.01 if cfg.kind == "meanfield" else 0.002)
    opt_g = torch.optim.Adam(gen_model.parameters(), lr=lr_g)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_discriminator)
    bce = nn.BCEWithLogitsLoss()
    tgen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tf_of, strength_of = action_table(len(names), cfg.levels)
    labels = action_names(names, cfg.levels)
    baseline: float | None = None
    max_ent = float(np.log(a))
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    bar = _progress(cfg)
    b = cfg.batch_size
    for step in range(cfg.steps):
        real_idx = rng.integers(0, n, b)
        src_idx = rng.integers(0, n, b)
        src = x[src_idx] if is_array else [x[int(i)] for i in src_idx]
        real = x[real_idx] if is_array else [x[int(i)] for i in real_idx]
        actions = gen_model.sample(b, cfg.seq_len, tgen)
        act = actions.numpy()
        keys = row_keys(cfg.seed, np.arange(step * b, (step + 1) * b), 1)
        fake, _ = apply_ops(src, keys, tf_of[act], strength_of[act], tf_list)
        # discriminator: real unlabeled examples vs transformed ones
        disc.train()
        f_real, f_fake = feat(real), feat(fake)
        d_loss = bce(disc(f_real), torch.ones(b)) + bce(disc(f_fake), torch.zeros(b))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # generator: REINFORCE on log D(fake) minus the near-identity penalty
        with torch.no_grad():
            fool = nn.functional.logsigmoid(disc(f_fake))
        change = np.asarray(dist(src, fake), np.float64)
        pen = cfg.identity_penalty * np.maximum(0.0, 1.0 - change / cfg.identity_threshold)
        reward = fool - torch.as_tensor(pen, dtype=fool.dtype)
        kept = 0.0
        if use_labels:
            assert classifier is not None
            keep = _label_keep(classifier, feat(src), f_fake)
            reward = reward + cfg.label_weight * keep.to(reward.dtype)
            kept = float(keep.mean())
        mean_r = float(reward.mean())
        baseline = mean_r if baseline is None else baseline
        logp, ent = gen_model.log_prob(actions)
        scale = float(reward.std()) + 1e-6 if b > 1 else 1.0  # advantages in reward-std units
        g_loss = reinforce_loss(logp, reward / scale, baseline / scale, ent, cfg.entropy_weight)
        opt_g.zero_grad()
        g_loss.backward()  # type: ignore[no-untyped-call]
        opt_g.step()
        step_ent = float(ent.detach().mean()) / cfg.seq_len / max_ent  # share of log A per step
        baseline = cfg.baseline_decay * baseline + (1 - cfg.baseline_decay) * mean_r
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            counts = np.bincount(act.reshape(-1), minlength=a) / act.size
            top = [(labels[i], round(float(counts[i]), 3)) for i in np.argsort(-counts)[:3]]
            rec = {"step": step + 1, "d_loss": round(float(d_loss.detach()), 4),
                   "reward": round(mean_r, 4), "penalty": round(float(pen.mean()), 4),
                   "identity": round(float(counts[0]), 3), "entropy": round(step_ent, 3),
                   "top": top}  # fmt: skip
            if use_labels:
                rec["label_keep"] = round(kept, 4)
            history.append(rec)
            logger.info("learn_policy %s step %d/%d: %s", cfg.kind, step + 1, cfg.steps, rec)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(d_loss=f"{float(d_loss.detach()):.3f}", reward=f"{mean_r:.3f}")
    if bar is not None:
        bar.close()
    policy = _export(gen_model, cfg, names, labels, history)
    return LearnResult(policy, history, time.perf_counter() - t0)


@torch.no_grad()
def _label_keep(
    classifier: Callable[[torch.Tensor], torch.Tensor], f_src: torch.Tensor, f_fake: torch.Tensor
) -> torch.Tensor:
    """``log p_c(y^ | x~) - log p_c(y^ | x)`` with ``y^`` the class predicted for ``x``.

    Parameters
    ----------
    classifier : ``(n, ...) -> (n, k)`` logits
    f_src, f_fake : featurized originals and their transformed copies, row by row

    Returns
    -------
    (n,) float, ≤ 0 where the transform costs confidence in the original's class
    """
    lp_src = torch.log_softmax(classifier(f_src), -1)
    lp_fake = torch.log_softmax(classifier(f_fake), -1)
    y_hat = lp_src.argmax(-1, keepdim=True)
    return (lp_fake.gather(-1, y_hat) - lp_src.gather(-1, y_hat)).squeeze(-1)


class ImageClassifier(nn.Module):
    """Small CNN: (n, h, w) images → (n, k) class logits (the label-preservation classifier).

    Parameters
    ----------
    n_classes : int
    channels : int
    """

    def __init__(self, n_classes: int, channels: int = 16) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(2 * c * 16, 64), nn.ReLU(), nn.Linear(64, n_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (n, h, w) float → (n, k) logits."""
        return self.net(x.unsqueeze(1))  # type: ignore[no-any-return]


def fit_image_classifier(
    x: np.ndarray,
    y: np.ndarray,
    tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction],
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    epochs: int = 60,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
) -> ImageClassifier:
    """Fit the label-preservation classifier of :func:`learn_policy` on a few labeled images.

    Every epoch trains on the originals plus one copy each under the *uniform* policy over the
    same actions as the learned policy (identity or one (TF, level) pair): the classifier then
    has the invariances the TF library can teach, so losing its confidence under a transform
    means the class is hard to recognise, not just that the classifier never saw the TF.

    Parameters
    ----------
    x : (n, h, w) float array in [0, 1]
    y : (n,) int class indices in [0, k)
    tfs : the TFs of the policy to learn
    levels, epochs, batch_size, lr, seed : training settings (deterministic given ``seed``)

    Returns
    -------
    ImageClassifier in eval mode
    """
    tf_list = check_unique_tfs(list(tfs.values()) if isinstance(tfs, Mapping) else list(tfs))
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64).reshape(-1)
    if x.ndim != 3 or len(x) != len(y) or len(x) < 1:
        raise DataError(f"fit_image_classifier needs (n, h, w) images and n labels; got "
                        f"{x.shape} and {y.shape}")  # fmt: skip
    if y.min() < 0:
        raise DataError("fit_image_classifier: labels must be class indices >= 0")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = ImageClassifier(int(y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    tf_of, strength_of = action_table(len(tf_list), levels)
    a = len(tf_of)
    yt = torch.as_tensor(np.concatenate([y, y]))
    n = len(x)
    for epoch in range(epochs):
        act = torch.randint(0, a, (n, 1), generator=gen).numpy()
        keys = row_keys(seed, np.arange(n), epoch + 1)
        aug, _ = apply_ops(x, keys, tf_of[act], strength_of[act], tf_list)
        xe = torch.as_tensor(np.concatenate([x, np.asarray(aug, np.float32)]))
        model.train()
        perm = torch.randperm(2 * n, generator=gen)
        for start in range(0, 2 * n, batch_size):
            b = perm[start : start + batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xe[b]), yt[b]).backward()  # type: ignore[no-untyped-call]
            opt.step()
    model.eval()
    return model


def _progress(cfg: LearnConfig) -> Any:
    if not cfg.progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a core dependency
        return None
    return tqdm(total=cfg.steps, desc=f"learn {cfg.kind} policy", leave=False)


def _export(
    model: MeanFieldGenerator | SequenceGenerator,
    cfg: LearnConfig,
    names: tuple[str, ...],
    labels: list[str],
    history: list[dict[str, Any]],
) -> Policy:
    meta: dict[str, Any] = {"learned": asdict(cfg), "history": history[-5:]}
    if isinstance(model, MeanFieldGenerator):
        p = torch.softmax(model.logits.detach().double(), -1).numpy()
        p = p / p.sum()
        policy = Policy("meanfield", names, seq_len=cfg.seq_len, levels=cfg.levels,
                        probs=tuple(float(v) for v in p), meta=meta)  # fmt: skip
    else:
        policy = Policy("sequence", names, seq_len=cfg.seq_len, levels=cfg.levels,
                        gru=model.export(), meta=meta)  # fmt: skip
    learned_share = entropy_share(policy, cfg.seed)
    t = cfg.temperature
    if cfg.min_entropy is not None:
        t = max(t, temperature_for_entropy(policy, cfg.min_entropy, cfg.seed))
    policy = with_temperature(policy, t)
    meta["temperature"] = t
    meta["entropy_share"] = {"learned": round(learned_share, 4),
                             "exported": round(entropy_share(policy, cfg.seed), 4)}  # fmt: skip
    marg = policy.action_probs(n_samples=2048, seed=cfg.seed)
    order = np.argsort(-marg)
    top = {labels[i]: round(float(marg[i]), 4) for i in order[:8]}
    return Policy.from_dict({**policy.to_dict(), "meta": {**meta, "action_marginals": top}})


def with_temperature(policy: Policy, temperature: float) -> Policy:
    """The learned policy sampled at a temperature: its logits divided by ``temperature``.

    ``meanfield``: probabilities ``p^(1/T)`` renormalised; ``sequence``: the GRU's output layer
    (``w_out``, ``b_out``) divided by T. T = 1 is the policy itself, T → ∞ the uniform policy
    over actions; the order of the actions' probabilities is kept.
    """
    if temperature == 1.0:
        return policy
    if temperature <= 0:
        raise ConfigError(f"temperature={temperature}; use a positive value")
    d = policy.to_dict()
    if policy.kind == "meanfield":
        logp = np.log(np.maximum(np.asarray(policy.probs, np.float64), 1e-300)) / temperature
        p = np.exp(logp - logp.max())
        d["probs"] = (p / p.sum()).tolist()
    elif policy.kind == "sequence":
        for k in ("w_out", "b_out"):
            d["gru"][k] = (np.asarray(d["gru"][k], np.float64) / temperature).tolist()
    else:
        raise ConfigError(f"policy kind {policy.kind!r} has no temperature (learned kinds only)")
    return Policy.from_dict(d)


def entropy_share(policy: Policy, seed: int = 0, n_samples: int = 2048) -> float:
    """Mean over steps of the entropy of the step's action marginal, as a share of ``log A``
    (1 = uniform over the A actions, 0 = always the same action).

    ``meanfield``: exact; ``sequence``: from ``n_samples`` sampled sequences (fixed draws given
    ``seed``, so the value is a smooth function of the policy's weights).
    """
    a = policy.n_actions
    if policy.kind == "meanfield":
        margs = np.asarray(policy.probs, np.float64)[None, :]
    else:
        rand = BatchRandom(mix(np.arange(n_samples, dtype=np.uint64), seed, POLICY_STREAM))
        acts = policy.sample_actions(rand, n_samples)
        margs = np.stack([np.bincount(c, minlength=a) / len(c) for c in acts.T])
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(margs > 0, margs * np.log(margs), 0.0).sum(axis=1)
    return float(h.mean() / np.log(a))


def temperature_for_entropy(policy: Policy, min_share: float, seed: int = 0) -> float:
    """The smallest temperature T ≥ 1 at which :func:`entropy_share` reaches ``min_share``
    (bisection on log T; 1 when the policy is already there)."""
    if entropy_share(policy, seed) >= min_share:
        return 1.0
    lo, hi = 0.0, np.log(1e4)
    for _ in range(30):
        mid = (lo + hi) / 2
        if entropy_share(with_temperature(policy, float(np.exp(mid))), seed) >= min_share:
            hi = mid
        else:
            lo = mid
    return float(np.exp(hi))


def policy_for(
    policy: Policy, tfs: Sequence[TransformationFunction] | Mapping[str, TransformationFunction]
) -> list[TransformationFunction]:
    """The TFs of a learned policy in its order (alias of :func:`resolve_tfs`)."""
    return resolve_tfs(policy, tfs)
