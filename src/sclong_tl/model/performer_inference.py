"""Inference-only forward pass of a Performer layer with fewer passes over the activations.

The training path (``ScLongPerformer.net``: performer-pytorch modules and
:func:`~sclong_tl.model.performer.softmax_feature_map`) is the definition. At inference, scLong's
full-vocabulary encoders run tens of thousands of tokens of width 16 per cell, and on a CPU their time goes to
passes over ``(cells, tokens, features)`` tensors rather than to arithmetic, so this file computes the same
function with fewer of them:

- blocks with many random features per token (heads x features, the 1B model's) attend through
  :func:`~sclong_tl.model.favor.favor_attention`: the random features in chunks of tokens that stay in cache
  (the query features are never stored whole), narrow blocks through the training path's whole-tensor
  :func:`~sclong_tl.model.favor.linear_attention_with_ones` (computed in place); both without their constant
  ``nb_features ** -0.5`` factor, which multiplies the numerator and the normaliser of ``D^-1 Q (K^T V)`` alike
  and cancels exactly. Under bfloat16 the chunked path runs the projections and products in bfloat16 and
  ``exp``, the stabilisers and the ``eps`` terms in float32 (the whole-tensor path all in bfloat16);
- ``v`` comes out of its projection with a ones column per head (a zero weight row and a bias of 1), so the
  normaliser ``Q (K^T 1)`` rides along in the same products without a concatenation;
- the position-wise feed-forward block runs over the flattened tokens in contiguous chunks, adding into the
  residual stream in place.

The results differ from the training path by float32 rounding only (tests/test_performer_inference.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .favor import favor_attention, linear_attention_with_ones, scale_projection

# rows (cells x tokens) per feed-forward chunk: on a CPU a chunk's hidden activations stay in cache; on a GPU
# chunks only bound the memory of the hidden activations, and larger ones keep the kernel launches few
TOKEN_CHUNK = 4096
GPU_TOKEN_CHUNK = 1 << 18
# when attention runs in chunks (favor_attention) instead of on whole tensors: at least CHUNKED_MIN_FEATURES random
# features per token (heads x features per head) and CHUNKED_MIN_ELEMENTS per cell (tokens x heads x features).
# Measured on a 2-core Intel Xeon with AMX (benchmarks/forward_speed.py --feature-map-only --tokens N), old / new:
# the 1B model's blocks gain at their real lengths (32 heads x 266 at 4,096 tokens: 1.14x float32, 1.75x bfloat16;
# 8 heads x 266 at 23,779-27,875 tokens: 1.33x / 1.7x) and at 32 heads x 2,048 tokens (1.30x / 1.72x), but lose
# for fewer features per cell (8 heads at 512-2,048 tokens: 0.8-0.95x; 32 heads at 1,024 tokens in bfloat16:
# 0.92x); the default model's narrow blocks (4 x 44, 1 x 44) lose too: the extra passes over the values and the
# per-chunk overhead outweigh what the chunks save
CHUNKED_MIN_FEATURES = 1024
CHUNKED_MIN_ELEMENTS = 1 << 24


def use_chunked_attention(tokens: int, heads: int, n_features: int) -> bool:
    """Whether a block's attention over ``tokens`` tokens per cell runs in chunks (:func:`favor_attention`)."""
    per_token = heads * n_features
    return per_token >= CHUNKED_MIN_FEATURES and tokens * per_token >= CHUNKED_MIN_ELEMENTS


def _values_with_ones(to_v: nn.Linear, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias projecting to ``v`` with one extra column per head that is exactly 1."""
    dim = to_v.in_features
    weight = to_v.weight.view(heads, -1, dim)
    weight = torch.cat([weight, weight.new_zeros(heads, 1, dim)], dim=1).view(-1, dim)
    bias = torch.zeros(heads, weight.shape[0] // heads, dtype=weight.dtype, device=weight.device)
    if to_v.bias is not None:
        bias[:, :-1] = to_v.bias.view(heads, -1)
    bias[:, -1] = 1.0
    return weight, bias.view(-1)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype matrix products run in: autocast's when it is enabled on ``x``'s device, else ``x``'s."""
    device_type = x.device.type
    if hasattr(torch, "get_autocast_dtype"):  # torch >= 2.4
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
    elif device_type == "cpu" and torch.is_autocast_cpu_enabled():
        return torch.get_autocast_cpu_dtype()
    elif device_type == "cuda" and torch.is_autocast_enabled():
        return torch.get_autocast_gpu_dtype()
    return x.dtype


def attention_residual_(attention_block: nn.Module, x: torch.Tensor) -> None:
    """``x += attention_block(x)`` for a pre-LayerNorm Performer self-attention block, in place.

    Parameters
    ----------
    attention_block
        performer-pytorch ``PreLayerNorm`` around a ``SelfAttention`` with global heads only, whose
        ``fast_attention`` uses the per-cell key stabiliser (:class:`~sclong_tl.model.performer.PerCellFastAttention`).
    x
        Contiguous ``(cells, tokens, dim)`` residual stream.
    """
    attention: Any = attention_block.fn
    heads, dim_head = attention.heads, attention.fast_attention.dim_heads
    cells, tokens, _ = x.shape
    with torch.autocast(x.device.type, enabled=False):
        projection = scale_projection(attention.fast_attention.projection_matrix)
        v_weight, v_bias = _values_with_ones(attention.to_v, heads)
    norm: Any = attention_block.norm
    # cast once to the compute precision (autocast would cast the normalised tokens for each of q, k and v)
    normed = norm(x).to(compute_dtype(x))
    q = attention.to_q(normed).view(cells, tokens, heads, dim_head)
    k = attention.to_k(normed).view(cells, tokens, heads, dim_head)
    v_with_ones = nn.functional.linear(normed, v_weight, v_bias).view(cells, tokens, heads, dim_head + 1)
    del normed
    if use_chunked_attention(tokens, heads, projection.shape[0]):
        out = favor_attention(q, k, v_with_ones, projection)
    else:
        out = linear_attention_with_ones(q, k, v_with_ones, projection)
    del q, k, v_with_ones
    x += attention.to_out(out.reshape(cells, tokens, heads * dim_head)).to(x.dtype)


def feed_forward_residual_(feed_forward_block: nn.Module, x: torch.Tensor) -> None:
    """``x += feed_forward_block(x)`` for a pre-LayerNorm feed-forward block, in place, in token chunks.

    Parameters
    ----------
    feed_forward_block
        performer-pytorch ``PreLayerNorm`` around ``Chunk(FeedForward)``.
    x
        Contiguous ``(cells, tokens, dim)`` residual stream.
    """
    rows = x.view(-1, x.shape[-1])
    step = TOKEN_CHUNK if x.device.type == "cpu" else GPU_TOKEN_CHUNK
    for start in range(0, rows.shape[0], step):
        chunk = rows[start : start + step]
        chunk += feed_forward_block(chunk).to(chunk.dtype)
