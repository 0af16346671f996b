"""FAVOR+ positive random features (softmax kernel) with scLong's per-cell key stabiliser."""

from __future__ import annotations

import torch
from torch import nn

KERNEL_EPS = 1e-4


def favor_features(data: torch.Tensor, scaled_projection: torch.Tensor, *, is_query: bool) -> torch.Tensor:
    """FAVOR+ features without their constant ``nb_features ** -0.5`` factor.

    ``exp(x P^T - |x|^2 / 2 - stabiliser) + eps`` with ``x = data * dim_head ** -0.25``, computed as
    ``data (s P)^T`` with the scaled projection ``s P`` so that ``data`` is never rescaled.

    Parameters
    ----------
    data
        Queries or keys, ``(cells, a, b, dim_head)``: tokens and heads in either order.
    scaled_projection
        The random projection times ``dim_head ** -0.25``, ``(features, dim_head)``.
    is_query
        Queries are stabilised by their per-row maximum, keys by one maximum per cell (over its tokens, heads and
        features), so that a cell's features do not depend on the other cells in its batch.

    Returns
    -------
    ``(cells, a, b, features)`` in the dtype of ``data``; computed in place of one temporary unless gradients
    are needed.
    """
    half_scale_sq = float(data.shape[-1]) ** -0.5 / 2.0
    projected = nn.functional.linear(data, scaled_projection.to(data.dtype))
    offset = torch.linalg.vecdot(data, data).unsqueeze(-1) * half_scale_sq
    # the stabiliser is a constant of the kernel (it cancels but for eps): no gradient flows through it, as in
    # performer-pytorch, and its backward (a comparison pass over the whole tensor) is skipped
    if is_query:
        offset = offset + projected.detach().amax(dim=-1, keepdim=True)
    else:
        offset = offset + projected.detach().amax(dim=(1, 2, 3), keepdim=True)
    if torch.is_grad_enabled() and (data.requires_grad or scaled_projection.requires_grad):
        return torch.exp(projected - offset) + KERNEL_EPS
    return projected.sub_(offset).exp_().add_(KERNEL_EPS)
