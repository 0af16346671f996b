"""Performer blocks with the state-dict layout of the official scLong release.

The block structure (pre-LayerNorm attention and feed-forward, FAVOR+ attention with a random projection buffer)
comes from ``performer-pytorch``; two things are replaced:

- the softmax-kernel feature map, whose key stabiliser is taken **per cell** (over that cell's heads, tokens and
  features). The reference takes one maximum over the whole batch, so a cell's output there depends on the
  other cells in its batch through the ``eps`` term; per cell we reproduce the reference run one cell at a
  time and stay independent of batch size and composition.
- the projection-redraw bookkeeping: the release keeps its counter as ``<block>.calls_since_last_redraw``.

Without gradients the stack runs through the fused functions of ``performer_inference.py``, with gradients through
those of ``performer_training.py``: the same function as the performer-pytorch modules (``module_forward``, the
definition), with fewer passes over the activations.
"""

from __future__ import annotations

import torch
from performer_pytorch.performer_pytorch import FastAttention, Performer
from torch import nn

from .favor import favor_features, scale_projection
from .performer_inference import attention_residual_, feed_forward_residual_
from .performer_training import performer_stack


def softmax_feature_map(data: torch.Tensor, projection: torch.Tensor, *, is_query: bool) -> torch.Tensor:
    """FAVOR+ positive random features of queries or keys.

    Parameters
    ----------
    data
        Queries or keys, shape ``(batch, heads, tokens, dim_head)``.
    projection
        Random feature matrix, shape ``(features, dim_head)``.
    is_query
        Queries are stabilised by their per-row maximum; keys by one maximum per cell.

    Returns
    -------
    Features of shape ``(batch, heads, tokens, features)`` in the dtype of ``data``.
    """
    ratio = projection.shape[0] ** -0.5
    return ratio * favor_features(data, scale_projection(projection), is_query=is_query)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Non-causal linear attention ``D^-1 Q (K^T V)`` on feature-mapped queries and keys.

    The normaliser ``Q (K^T 1)`` rides along as an extra column of the context, so one batched product gives
    numerator and denominator together.
    """
    ones = torch.ones((*v.shape[:-1], 1), dtype=v.dtype, device=v.device)
    context = torch.matmul(k.transpose(-1, -2), torch.cat([v, ones], dim=-1))  # (b, h, features, dim_head + 1)
    numerator_and_normaliser = torch.matmul(q, context)
    return numerator_and_normaliser[..., :-1] / numerator_and_normaliser[..., -1:]


class PerCellFastAttention(FastAttention):
    """performer-pytorch's ``FastAttention`` with the per-cell key stabiliser (see module docstring)."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # noqa: D102
        q_features = softmax_feature_map(q, self.projection_matrix, is_query=True)
        k_features = softmax_feature_map(k, self.projection_matrix, is_query=False)
        return linear_attention(q_features, k_features, v)


class ScLongPerformer(Performer):
    """A non-causal Performer stack in the layout of the official release.

    Parameters
    ----------
    dim
        Token width.
    depth
        Number of layers.
    heads, dim_head
        Attention heads and their width.
    nb_features
        Random features per head (``None``: ``int(dim_head * ln(dim_head))``).
    ff_mult
        Feed-forward expansion.
    feature_redraw_interval
        Training forward calls between redraws of the random features.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        dim_head: int,
        *,
        nb_features: int | None = None,
        ff_mult: int = 4,
        feature_redraw_interval: int = 1000,
    ) -> None:
        super().__init__(
            dim,
            depth,
            heads,
            dim_head,
            nb_features=nb_features,
            ff_mult=ff_mult,
            feature_redraw_interval=feature_redraw_interval,
            qkv_bias=False,
            attn_out_bias=True,
        )
        for attention_block, _ in self.net.layers:
            attention = attention_block.fn
            original = attention.fast_attention
            replacement = PerCellFastAttention(original.dim_heads, original.nb_features)
            replacement.projection_matrix.copy_(original.projection_matrix)
            attention.fast_attention = replacement
        # the release stores the redraw counter on the block itself, not in a ProjectionUpdater
        del self.proj_updater
        self.feature_redraw_interval: int | None = feature_redraw_interval
        self.register_buffer("calls_since_last_redraw", torch.tensor(0))

    def fix_projection_matrices_(self) -> None:
        """Never redraw the random features again."""
        self.feature_redraw_interval = None

    @torch.no_grad()
    def redraw_projection_matrices(self) -> None:
        """Draw fresh random features for every attention layer."""
        for module in self.modules():
            if isinstance(module, FastAttention):
                module.redraw_projection_matrix(module.projection_matrix.device)
        self.calls_since_last_redraw.zero_()

    def _count_call(self) -> None:
        if not self.training or self.feature_redraw_interval is None:
            return
        if int(self.calls_since_last_redraw) >= self.feature_redraw_interval:
            self.redraw_projection_matrices()
            return
        self.calls_since_last_redraw += 1

    def forward(self, x: torch.Tensor, query_index: torch.Tensor | None = None) -> torch.Tensor:
        """Run the stack on ``(cells, tokens, dim)`` inputs.

        Parameters
        ----------
        x
            Input tokens.
        query_index
            ``(cells, queries)`` token indices: compute the last layer's outputs at these tokens only (keys and
            values still come from all tokens), returning ``(cells, queries, dim)``.

        Returns
        -------
        The output tokens.
        """
        self._count_call()
        if torch.is_grad_enabled() or query_index is not None:
            return performer_stack(self.net.layers, x, query_index)
        # inference: the same residual stack, fused in place (performer_inference.py); the residual stream is
        # float32 also under bfloat16 autocast (the layers' outputs are added to it unrounded)
        x = x.to(dtype=torch.promote_types(x.dtype, torch.float32), memory_format=torch.contiguous_format, copy=True)
        for attention_block, feed_forward_block in self.net.layers:
            attention_residual_(attention_block, x)
            feed_forward_residual_(feed_forward_block, x)
        return x

    def module_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stack through the performer-pytorch modules: the definition both fast paths are tested against."""
        return self.net(x)


def find_performers(module: nn.Module) -> list[ScLongPerformer]:
    """All Performer stacks inside ``module``."""
    return [child for child in module.modules() if isinstance(child, ScLongPerformer)]
