"""FAVOR+ positive random features (softmax kernel) with scLong's per-cell key stabiliser.

Two implementations of the same attention ``D^-1 Q' (K'^T [V | 1])``:

- :func:`linear_attention_with_ones` on whole tensors with :func:`favor_features`: the training path
  (autograd-friendly), and the inference path of narrow blocks;
- :func:`favor_attention`, the inference path of wide blocks (no gradients): in chunks of tokens whose
  features stay in cache, with the projection in the compute dtype (bfloat16 products under bfloat16) and the
  stabilisers, ``exp`` and the ``eps`` term in float32. It computes the key features with a per-row stabiliser and
  moves the per-cell one onto the values (see :func:`key_context`), so no pass over all features is needed before
  ``exp``; the ``eps`` added to every feature is added to the products instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

KERNEL_EPS = 1e-4

# features (token rows x heads x random features) per chunk of the inference path: a chunk's projection, its
# stabilised exponentials and (for queries) their products stay in a core's cache; larger chunks would leave it,
# smaller ones cost Python overhead per chunk. On a GPU one chunk takes everything.
FEATURE_CHUNK_ELEMENTS = 1 << 20
# floor of the inference path's exp arguments: exp(-87) = 1.6e-38 is still a normal float32 / bfloat16 number.
# Smaller arguments give subnormal results, which the CPU's exp computes about 100x more slowly (measured, 1
# thread); the floor changes a feature by less than 2e-38 next to the 1e-4 eps added to every feature.
EXP_FLOOR = -87.0


def scale_projection(projection: torch.Tensor) -> torch.Tensor:
    """The random projection ``P`` times ``dim_head ** -0.25``: FAVOR+'s scaling of the data, moved onto ``P``."""
    return projection * projection.shape[-1] ** -0.25


def norm_offset(data: torch.Tensor) -> torch.Tensor:
    """``|x|^2 / 2`` per row with ``x = data * dim_head ** -0.25``, shape ``data.shape[:-1]``."""
    return torch.linalg.vecdot(data, data) * (float(data.shape[-1]) ** -0.5 / 2.0)


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
    projected = nn.functional.linear(data, scaled_projection.to(data.dtype))
    offset = norm_offset(data).unsqueeze(-1)
    # the stabiliser is a constant of the kernel (it cancels but for eps): no gradient flows through it, as in
    # performer-pytorch, and its backward (a comparison pass over the whole tensor) is skipped
    if is_query:
        offset = offset + projected.detach().amax(dim=-1, keepdim=True)
    else:
        offset = offset + projected.detach().amax(dim=(1, 2, 3), keepdim=True)
    if torch.is_grad_enabled() and (data.requires_grad or scaled_projection.requires_grad):
        return torch.exp(projected - offset) + KERNEL_EPS
    return projected.sub_(offset).exp_().add_(KERNEL_EPS)


def linear_attention_with_ones(
    q: torch.Tensor, k: torch.Tensor, v_with_ones: torch.Tensor, scaled_projection: torch.Tensor
) -> torch.Tensor:
    """``D^-1 Q' (K'^T [V | 1])`` on whole tensors, differentiable (:func:`favor_features`).

    Parameters
    ----------
    q
        ``(cells, queries, heads, dim_head)``.
    k
        ``(cells, tokens, heads, dim_head)``.
    v_with_ones
        ``(cells, tokens, heads, dim_head + 1)`` values with a ones column.
    scaled_projection
        The random projection times ``dim_head ** -0.25``.

    Returns
    -------
    ``(cells, queries, heads, dim_head)``.
    """
    dim_head = q.shape[-1]
    k_features = favor_features(k, scaled_projection, is_query=False)  # (cells, tokens, heads, features)
    # (cells, heads, dim_head + 1, features)
    context_t = torch.matmul(v_with_ones.permute(0, 2, 3, 1), k_features.transpose(1, 2))
    del k_features
    q_features = favor_features(q, scaled_projection, is_query=True)
    numerator_and_normaliser = torch.matmul(q_features.transpose(1, 2), context_t.transpose(-1, -2))
    del q_features
    out = numerator_and_normaliser[..., :dim_head] / numerator_and_normaliser[..., dim_head:]
    return out.transpose(1, 2)


def wide_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of the inference path's stabilisers, ``exp`` and sums: float32, or ``dtype`` if wider."""
    return torch.promote_types(dtype, torch.float32)


def chunk_tokens(device: torch.device, heads: int, features: int) -> int:
    """Token rows (each of ``heads x features`` features) per chunk of the inference path on ``device``."""
    if device.type != "cpu":
        return 1 << 62
    return max(1, FEATURE_CHUNK_ELEMENTS // (heads * features))


def token_chunks(cells: int, tokens: int, chunk: int) -> Iterator[tuple[slice, slice]]:
    """``(cells, tokens)`` ranges of about ``chunk`` token rows each: whole cells, or tokens of one cell.

    Either form selects a contiguous block of a contiguous ``(cells, tokens, ...)`` tensor.
    """
    if tokens <= chunk:
        step = chunk // tokens
        for start in range(0, cells, step):
            yield slice(start, min(start + step, cells)), slice(0, tokens)
        return
    for cell in range(cells):
        for start in range(0, tokens, chunk):
            yield slice(cell, cell + 1), slice(start, min(start + chunk, tokens))


def row_features_(data: torch.Tensor, projection_t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """FAVOR+ features stabilised by each row's own maximum, without ``eps``: ``exp(x P^T - |x|^2/2 - max_f)``.

    The projection runs in the dtype of ``data``; its result is widened to float32 for the maxima, the
    subtraction and ``exp`` (bfloat16 would round the difference of two nearly equal values), whose arguments are
    floored at :data:`EXP_FLOOR` (no subnormal results). Rows are taken head by head, so that ``out`` is written
    in rows of features.

    Parameters
    ----------
    data
        ``(cells, tokens, heads, dim_head)`` queries or keys, a chunk that fits in cache.
    projection_t
        The transposed :func:`scale_projection`, ``(dim_head, features)``, contiguous, in the dtype of ``data``.
    out
        ``(cells, heads, tokens, features)`` with contiguous rows, of a floating dtype: receives the features.

    Returns
    -------
    The rows' maxima of ``x P^T`` (their stabilisers), ``(cells, heads, tokens)``, in :func:`wide_dtype`.
    """
    rows = data.transpose(1, 2).reshape(-1, data.shape[-1])  # a copy: a quarter of the features' size at most
    wide = wide_dtype(data.dtype)
    projected = torch.mm(rows, projection_t).to(wide)
    maxima = projected.amax(dim=-1)
    offset = norm_offset(rows.to(wide)).add_(maxima)
    torch.exp(projected.sub_(offset.unsqueeze(-1)).clamp_(min=EXP_FLOOR).view(out.shape), out=out)
    return maxima.view(out.shape[:-1])


def key_context(k: torch.Tensor, v_with_ones: torch.Tensor, projection_t: torch.Tensor) -> torch.Tensor:
    """``[V | 1]^T K'`` per cell and head, with ``K'`` the key features of :func:`favor_features`.

    A key row's feature ``exp(z - M) + eps`` (``M``: its cell's maximum) is computed as ``exp(z - m) exp(m - M)``
    with ``m`` the row's own maximum: the first factor in chunks that stay in cache, the second a weight on the
    row's values, applied once all row maxima (and so ``M``) are known. ``eps`` adds ``eps * sum_t [V | 1]_t``.

    Parameters
    ----------
    k
        ``(cells, tokens, heads, dim_head)`` keys, contiguous.
    v_with_ones
        ``(cells, tokens, heads, dim_head + 1)`` values with a ones column.
    projection_t
        The transposed :func:`scale_projection`, contiguous, in the dtype of ``k``.

    Returns
    -------
    ``(cells, heads, dim_head + 1, features)`` in the dtype of ``k``.
    """
    cells, tokens, heads, _ = k.shape
    n_features = projection_t.shape[1]
    features = k.new_empty(cells, heads, tokens, n_features)
    maxima = torch.empty(cells, heads, tokens, dtype=wide_dtype(k.dtype), device=k.device)
    for cell_range, token_range in token_chunks(cells, tokens, chunk_tokens(k.device, heads, n_features)):
        out = features[cell_range, :, token_range]
        maxima[cell_range, :, token_range] = row_features_(k[cell_range, token_range], projection_t, out)
    weights = maxima.sub_(maxima.amax(dim=(1, 2), keepdim=True)).exp_().to(k.dtype)  # exp(m - M)
    weighted = k.new_empty(cells, heads, v_with_ones.shape[-1], tokens)
    torch.mul(v_with_ones.permute(0, 2, 3, 1), weights.unsqueeze(2), out=weighted)
    eps_term = v_with_ones.sum(dim=1, dtype=wide_dtype(k.dtype)).mul_(KERNEL_EPS).unsqueeze(-1).to(k.dtype)
    context = torch.baddbmm(eps_term.flatten(0, 1), weighted.flatten(0, 1), features.flatten(0, 1))
    return context.view(cells, heads, -1, n_features)


def attend_(q: torch.Tensor, context: torch.Tensor, projection_t: torch.Tensor, out: torch.Tensor) -> None:
    """``D^-1 Q' C`` with ``Q'`` the query features of :func:`favor_features`, chunk by chunk, into ``out``.

    Each chunk's query features stay in cache: computed, multiplied by the context and dropped. Their ``eps``
    adds ``eps * sum_f C_f`` to every row of the product.

    Parameters
    ----------
    q
        ``(cells, tokens, heads, dim_head)`` queries, contiguous.
    context
        :func:`key_context`, ``(cells, heads, dim_head + 1, features)``.
    projection_t
        The transposed :func:`scale_projection`, contiguous, in the dtype of ``q``.
    out
        ``(cells, tokens, heads, dim_head)``: receives the attention output.
    """
    cells, tokens, heads, dim_head = q.shape
    n_features = projection_t.shape[1]
    eps_term = context.sum(dim=-1, dtype=wide_dtype(context.dtype)).mul_(KERNEL_EPS).unsqueeze(-2).to(context.dtype)
    context_t = context.transpose(-1, -2)  # (cells, heads, features, dim_head + 1)
    for cell_range, token_range in token_chunks(cells, tokens, chunk_tokens(q.device, heads, n_features)):
        chunk = q[cell_range, token_range]
        chunk_cells, chunk_tokens_, _, _ = chunk.shape
        features = q.new_empty(chunk_cells, heads, chunk_tokens_, n_features)
        row_features_(chunk, projection_t, features)
        product = torch.baddbmm(
            eps_term[cell_range].flatten(0, 1), features.flatten(0, 1), context_t[cell_range].flatten(0, 1)
        ).view(chunk_cells, heads, chunk_tokens_, dim_head + 1)
        torch.div(product[..., :dim_head], product[..., dim_head:], out=out[cell_range, token_range].transpose(1, 2))


def favor_attention(
    q: torch.Tensor, k: torch.Tensor, v_with_ones: torch.Tensor, scaled_projection: torch.Tensor
) -> torch.Tensor:
    """Non-causal FAVOR+ attention ``D^-1 Q' (K'^T [V | 1])`` without gradients, in cache-sized chunks.

    The same function as :func:`favor_features` followed by the linear-attention products, up to rounding (float32)
    or with the projection and the products in bfloat16 and the rest in float32 (``q``, ``k`` in bfloat16).

    Parameters
    ----------
    q, k
        ``(cells, tokens, heads, dim_head)`` queries and keys, contiguous, in the compute dtype.
    v_with_ones
        ``(cells, tokens, heads, dim_head + 1)`` values with a ones column, in the compute dtype.
    scaled_projection
        :func:`scale_projection` (float32 is cast to the compute dtype).

    Returns
    -------
    ``(cells, tokens, heads, dim_head)`` in the compute dtype.
    """
    projection_t = scaled_projection.to(q.dtype).t().contiguous()
    context = key_context(k, v_with_ones, projection_t)
    out = torch.empty_like(q)
    attend_(q, context, projection_t, out)
    return out
