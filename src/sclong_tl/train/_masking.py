"""Masked-value pretraining targets, as the paper defines them (DESIGN.md section 2, item 9).

Per cell, ``ceil(15%)`` of the non-zero genes are chosen uniformly; each chosen gene is replaced by the mask
value with probability 0.9 and keeps its value otherwise. The loss is the MSE between the reconstruction and
the true values on the chosen genes only. Zeros, already-masked values and the pad position are never chosen.
"""

from __future__ import annotations

import math

import torch

MASK_VALUE = -10.0
MASK_FRACTION = 0.15
REPLACE_PROBABILITY = 0.9


def mask_values(
    values: torch.Tensor,
    *,
    generator: torch.Generator,
    mask_fraction: float = MASK_FRACTION,
    replace_probability: float = REPLACE_PROBABILITY,
    mask_value: float = MASK_VALUE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose and mask genes of each cell.

    Parameters
    ----------
    values
        Model inputs ``(cells, positions)`` on the CPU (zeros for unexpressed genes and the pad).
    generator
        Source of randomness (a CPU ``torch.Generator``), so that runs are reproducible.
    mask_fraction
        Fraction of each cell's non-zero genes chosen (rounded up).
    replace_probability
        Probability that a chosen gene is replaced by ``mask_value`` (else it keeps its value).
    mask_value
        The [MASK] input value.

    Returns
    -------
    masked
        The inputs with the replaced genes set to ``mask_value``.
    chosen
        Boolean ``(cells, positions)``: the genes the loss is computed on.
    """
    expressed = values > 0
    scores = torch.rand(values.shape, generator=generator)
    scores = torch.where(expressed, scores, torch.full_like(scores, -1.0))
    n_chosen = torch.tensor([math.ceil(mask_fraction * int(n)) for n in expressed.sum(dim=1)])
    order = scores.argsort(dim=1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(values.shape[1]).expand_as(order).contiguous())
    chosen = (ranks < n_chosen[:, None]) & expressed
    replace = chosen & (torch.rand(values.shape, generator=generator) < replace_probability)
    masked = torch.where(replace, torch.full_like(values, mask_value), values)
    return masked, chosen


def masked_mse(reconstruction: torch.Tensor, values: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the chosen genes (0 when none were chosen).

    Parameters
    ----------
    reconstruction
        Predicted values, ``(cells, positions)``.
    values
        True values, same shape.
    chosen
        Boolean, same shape: the genes the loss reads (see :func:`mask_values`).

    Returns
    -------
    A scalar tensor (in fp32), differentiable with respect to ``reconstruction``.
    """
    if not bool(chosen.any()):
        return reconstruction.sum() * 0.0
    return torch.nn.functional.mse_loss(reconstruction[chosen].float(), values[chosen].float())


def chosen_positions(chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The chosen positions of each cell as a padded index, for outputs computed at those positions only.

    Parameters
    ----------
    chosen
        Boolean ``(cells, positions)`` from :func:`mask_values`.

    Returns
    -------
    index
        ``(cells, m)`` positions, ``m`` the largest count of chosen genes in a cell; each cell's positions in
        ascending order, padded with its last position (or 0).
    valid
        Boolean ``(cells, m)``: which entries of ``index`` are chosen positions rather than padding.
    """
    counts = chosen.sum(dim=1)
    width = max(int(counts.max()) if chosen.numel() else 0, 1)
    # stable sort puts the chosen positions first, in ascending order
    order = torch.sort((~chosen).to(torch.int8), dim=1, stable=True).indices[:, :width]
    valid = torch.arange(width, device=chosen.device)[None, :] < counts[:, None]
    last = order.gather(1, (counts - 1).clamp(min=0)[:, None])
    return torch.where(valid, order, last), valid
