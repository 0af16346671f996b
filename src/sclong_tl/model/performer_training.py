"""Training forward pass of a Performer layer: the same function as the performer-pytorch modules, cheaper.

With gradients, scLong's full-vocabulary blocks run tens of thousands of tokens of width 16 per cell, and a
training step's time on a CPU goes to passes over ``(cells, tokens, features)`` tensors. Compared with calling the
performer-pytorch modules (``ScLongPerformer.net``, kept as the definition), this path

- projects ``k`` and ``v`` in one product, ``v`` with a ones column per head (a zero weight row and a bias of 1),
  so that the normaliser ``Q (K^T 1)`` rides along in the attention products without a concatenation;
- leaves out the features' constant ``nb_features ** -0.5`` factor, which cancels exactly between the numerator
  and the normaliser of ``D^-1 Q (K^T V)``;
- can compute the last layer for some query tokens only (``query_index``): keys and values still come from every
  token, so the outputs at those tokens are exactly those of the full layer. Pretraining reads the decoder's
  output only at the masked genes (about 1% of the positions), so it skips the rest of the decoder's last layer.

Tested against the modules in ``tests/test_performer_training.py`` (outputs and gradients).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .favor import linear_attention_with_ones, scale_projection


def _key_value_weights(attention: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of one product giving ``k`` and ``v`` with a ones column per head."""
    heads, to_k, to_v = attention.heads, attention.to_k, attention.to_v
    dim, dim_head = to_v.in_features, to_v.out_features // attention.heads
    v_weight = torch.cat([to_v.weight.view(heads, -1, dim), to_v.weight.new_zeros(heads, 1, dim)], dim=1)
    v_bias = to_v.bias.view(heads, -1) if to_v.bias is not None else to_v.weight.new_zeros(heads, dim_head)
    v_bias = torch.cat([v_bias, to_v.weight.new_ones(heads, 1)], dim=1)
    k_bias = to_k.bias if to_k.bias is not None else to_k.weight.new_zeros(to_k.out_features)
    weight = torch.cat([to_k.weight, v_weight.view(-1, dim)])
    return weight, torch.cat([k_bias, v_bias.view(-1)])


def attention_output(attention_block: Any, x: torch.Tensor, query_index: torch.Tensor | None = None) -> torch.Tensor:
    """``attention_block(x)`` (without the residual), at all tokens or at ``query_index`` only.

    Parameters
    ----------
    attention_block
        performer-pytorch ``PreLayerNorm`` around a ``SelfAttention`` with global heads only and the per-cell key
        stabiliser.
    x
        ``(cells, tokens, dim)`` input of the block.
    query_index
        ``(cells, queries)`` token indices whose outputs are wanted; None for all tokens.

    Returns
    -------
    ``(cells, tokens or queries, dim)``.
    """
    attention = attention_block.fn
    heads, dim_head = attention.heads, attention.fast_attention.dim_heads
    cells, tokens, dim = x.shape
    normed = attention_block.norm(x)
    kv_weight, kv_bias = _key_value_weights(attention)
    keys_values = nn.functional.linear(normed, kv_weight, kv_bias)
    k = keys_values[..., : heads * dim_head].reshape(cells, tokens, heads, dim_head)
    v_with_ones = keys_values[..., heads * dim_head :].reshape(cells, tokens, heads, dim_head + 1)
    if query_index is not None:
        normed = normed.gather(1, query_index.unsqueeze(-1).expand(-1, -1, dim))
    q = attention.to_q(normed).view(cells, normed.shape[1], heads, dim_head)
    out = linear_attention_with_ones(q, k, v_with_ones, scale_projection(attention.fast_attention.projection_matrix))
    return attention.to_out(out.reshape(cells, normed.shape[1], heads * dim_head))


def performer_stack(layers: nn.ModuleList, x: torch.Tensor, query_index: torch.Tensor | None = None) -> torch.Tensor:
    """A pre-LayerNorm Performer stack with gradients, the last layer optionally at ``query_index`` only.

    Parameters
    ----------
    layers
        ``ScLongPerformer.net.layers``: pairs of attention and feed-forward blocks.
    x
        ``(cells, tokens, dim)``.
    query_index
        ``(cells, queries)`` token indices whose outputs are wanted; None for all tokens.

    Returns
    -------
    ``(cells, tokens or queries, dim)``.
    """
    if not len(layers) and query_index is not None:
        return x.gather(1, query_index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    last = len(layers) - 1
    blocks: list[Any] = list(layers)
    for position, (attention_block, feed_forward_block) in enumerate(blocks):
        index = query_index if position == last else None
        residual = x if index is None else x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = residual + attention_output(attention_block, x, index)
        x = x + feed_forward_block(x)
    return x
