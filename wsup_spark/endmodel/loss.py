"""Noise-aware loss: expected cross-entropy under the label model's P(Y | votes)."""

from __future__ import annotations

import torch


def soft_cross_entropy(
    logits: torch.Tensor, probs: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """``mean_r w_r · Σ_y -probs[r, y] log softmax(logits)[r, y]``.

    Parameters
    ----------
    logits : (n, k) float
    probs : (n, k) float, rows sum to 1 (soft labels)
    weights : (n,) float, optional per-row weights (e.g. label-model confidence)

    Examples
    --------
    >>> x = torch.tensor([[2.0, 0.0]])
    >>> hard = torch.nn.functional.cross_entropy(x, torch.tensor([0]))
    >>> bool(torch.isclose(soft_cross_entropy(x, torch.tensor([[1.0, 0.0]])), hard))
    True
    """
    per_row = -(probs * torch.log_softmax(logits.float(), dim=1)).sum(dim=1)
    if weights is None:
        return per_row.mean()
    return (per_row * weights).sum() / weights.sum().clamp_min(1e-12)
