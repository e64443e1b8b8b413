"""Noise-aware loss: the expected cross-entropy under the label model's P(Y | votes)."""

from __future__ import annotations

import torch

from wsup_spark.errors import ModelError


def soft_cross_entropy(
    logits: torch.Tensor, probs: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Expected cross-entropy ``Σ_r w_r Σ_y -probs[r, y] log softmax(logits)[r, y] / Σ_r w_r``.

    With one-hot ``probs`` this is the ordinary (hard-label) cross-entropy; its gradient with
    respect to the logits is ``(softmax(logits) - probs) · w_r / Σ w``. Computed in float32 even
    under autocast.

    Parameters
    ----------
    logits : (n, k) float; or (V, n, k) — a late-fusion model's views in training mode
        (:class:`~.models.LateFusionModel`): :func:`late_fusion_loss`
    probs : (n, k) float, soft labels (rows sum to 1)
    weights : (n,) float, optional non-negative per-row weights (e.g. label-model confidence);
        None weighs every row 1

    Returns
    -------
    () float32 scalar (0 for an empty batch)

    Raises
    ------
    ModelError
        when the shapes disagree (a model built for another number of classes).

    Examples
    --------
    >>> x = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> hard = torch.nn.functional.cross_entropy(x, torch.tensor([0, 1]))
    >>> bool(torch.isclose(soft_cross_entropy(x, torch.tensor([[1.0, 0.0], [0.0, 1.0]])), hard))
    True
    """
    if logits.dim() == 3 and logits.shape[1:] == probs.shape:
        return late_fusion_loss(logits, probs, weights)
    if logits.dim() != 2 or logits.shape != probs.shape:
        raise ModelError(
            f"logits have shape {tuple(logits.shape)} but probs have {tuple(probs.shape)}: the "
            "model must output (n, k) logits for the table's k classes"
        )
    if logits.shape[0] == 0:
        return logits.float().sum() * 0.0
    per_row = -(probs.float() * torch.log_softmax(logits.float(), dim=1)).sum(dim=1)
    if weights is None:
        return per_row.mean()
    if weights.shape != per_row.shape:
        raise ModelError(f"weights have shape {tuple(weights.shape)}; expected ({len(per_row)},)")
    w = weights.float()
    return (per_row * w).sum() / w.sum().clamp_min(1e-12)


def late_fusion_loss(
    views: torch.Tensor, probs: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The sum of a late-fusion model's per-view soft cross-entropies (online EM for views 1..).

    View 0 reads what the LFs read (the text): its target is ``probs``, P(y | votes). Every other
    view v sees features no LF read; its target is the posterior of the label model combined with
    its own (detached) prediction, ``r_v ∝ probs · softmax(z_v) / prior_v`` with ``prior_v`` the
    batch mean of ``softmax(z_v)`` — one EM step of the model in which the votes and view v are
    conditionally independent given y. Trained on ``probs`` alone, view v would learn
    E[P(y | votes) | x_v], shrunk towards the prior by the labels' noise; the EM target lets it
    learn P(y | x_v), which the fused prediction needs.

    Parameters
    ----------
    views : (V, n, k) float logits, V >= 1
    probs : (n, k) soft labels
    weights : (n,) optional per-row weights

    Returns
    -------
    () float32 scalar

    Examples
    --------
    >>> z = torch.zeros(2, 3, 2)  # uniform views: every target is ``probs``
    >>> p = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    >>> bool(torch.isclose(late_fusion_loss(z, p), 2 * soft_cross_entropy(z[0], p)))
    True
    """
    loss = soft_cross_entropy(views[0], probs, weights)
    for z in views[1:]:
        with torch.no_grad():
            q = torch.softmax(z.float(), dim=1)
            r = probs.float() * q / q.mean(dim=0).clamp_min(1e-6)
            r = r / r.sum(dim=1, keepdim=True).clamp_min(1e-12)
        loss = loss + soft_cross_entropy(z, r, weights)
    return loss


def confidence_weights(probs: torch.Tensor) -> torch.Tensor:
    """Per-row weight ``(max_y probs - 1/k) / (1 - 1/k)`` in [0, 1]: 0 for a uniform row, 1 for a
    certain one.

    Parameters
    ----------
    probs : (n, k)

    Returns
    -------
    (n,) float32

    Examples
    --------
    >>> confidence_weights(torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.75, 0.25]])).tolist()
    [0.0, 1.0, 0.5]
    """
    k = probs.shape[1]
    return ((probs.float().max(dim=1).values - 1.0 / k) / (1.0 - 1.0 / k)).clamp(0.0, 1.0)


def class_balanced_targets(
    probs: torch.Tensor, class_mass: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft targets and row weights under which every class carries the same total weight.

    Class c gets the factor ``a_c = N / (k · mass_c)`` (``mass_c``: the soft label mass of class
    c over the training rows, N their sum); the class-weighted expected cross-entropy
    ``Σ_r Σ_c a_c probs[r, c] (-log p_rc)`` is written as row weights ``w_r = Σ_c a_c probs[r, c]``
    and targets ``a_c probs[r, c] / w_r``, so ``Σ_r w_r targets[r, c] = N / k`` for every class
    (for one-hot labels: the usual class-weighted cross-entropy).

    Parameters
    ----------
    probs : (n, k) soft labels of a batch
    class_mass : (k,) soft label mass of each class over all training rows

    Returns
    -------
    (targets (n, k) float32, weights (n,) float32)

    Examples
    --------
    >>> P = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> t, w = class_balanced_targets(P, P.sum(0))
    >>> w.tolist(), (w[:, None] * t).sum(0).tolist()
    ([0.75, 0.75, 1.5], [1.5, 1.5])
    """
    k = class_mass.shape[0]
    mass = class_mass.double().clamp_min(1e-6)
    a = (mass.sum() / (k * mass)).float().to(probs.device)
    scaled = probs.float() * a
    w = scaled.sum(1)
    return scaled / w.clamp_min(1e-12).unsqueeze(1), w


def self_training_targets(
    probs: torch.Tensor,
    covered: torch.Tensor,
    teacher_probs: torch.Tensor,
    threshold: float = 0.9,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft targets and row weights for a self-training round.

    Covered rows (``covered``: an LF voted) keep the label model's ``probs`` and their
    ``weights`` (1 when None). Uncovered rows take the teacher's (the first-round end model's)
    predicted distribution where its top probability is at least ``threshold`` and weigh 0
    elsewhere, so the student learns from the teacher's confident guesses only.

    Parameters
    ----------
    probs, teacher_probs : (n, k)
    covered : (n,) bool
    threshold : in (0, 1]
    weights : (n,) optional weights of the covered rows

    Returns
    -------
    (targets (n, k) float32, weights (n,) float32)

    Examples
    --------
    >>> t, w = self_training_targets(torch.tensor([[0.6, 0.4], [0.5, 0.5], [0.5, 0.5]]),
    ...                              torch.tensor([True, False, False]),
    ...                              torch.tensor([[0.1, 0.9], [0.05, 0.95], [0.3, 0.7]]))
    >>> [round(x, 2) for x in t[1].tolist()], w.tolist()
    ([0.05, 0.95], [1.0, 1.0, 0.0])
    """
    cov = covered.bool().unsqueeze(1)
    targets = torch.where(cov, probs.float(), teacher_probs.float())
    confident = teacher_probs.float().max(dim=1).values >= threshold
    base = torch.ones_like(confident, dtype=torch.float32) if weights is None else weights.float()
    w = torch.where(covered.bool(), base, confident.float())
    return targets, w


class SoftCrossEntropyLoss(torch.nn.Module):
    """Module form of :func:`soft_cross_entropy` (``loss(logits, probs, weights=None)``)."""

    def forward(
        self, logits: torch.Tensor, probs: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """See :func:`soft_cross_entropy`."""
        return soft_cross_entropy(logits, probs, weights)
