"""The scLong network: dual Performer encoder over the top-k and the remaining genes, full-length decoder."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .config import ScLongConfig
from .embeddings import ExpressionEncoder, GeneTable, GOGeneEncoder
from .performer import ScLongPerformer, find_performers
from .topk import select_top_positions


class ScLongOutput(NamedTuple):
    """Outputs of :class:`ScLong` for a batch of cells.

    Attributes
    ----------
    representations
        Per-gene representations (decoder output after its LayerNorm), ``(cells, positions, d)``.
    reconstruction
        Reconstructed value per position, ``(cells, positions)``.
    top_indices
        Positions routed to the large encoder, ``(cells, top_k)``, in ``torch.topk`` order.
    """

    representations: torch.Tensor
    reconstruction: torch.Tensor
    top_indices: torch.Tensor


class ScLong(nn.Module):
    """The scLong network (DESIGN.md section 2).

    Expression and gene embeddings, a large encoder over each cell's top-k genes, a mini encoder over the
    rest, and a decoder over all positions.

    Parameters
    ----------
    config
        Hyper-parameters.
    edge_index, edge_weight
        The GO gene graph over positions (``(2, E)`` int, ``(E,)`` float).
    gene_vectors
        Initial values of both gene tables, ``(n_genes, d)`` (the pad row is set to 0); random normal if None.

    Notes
    -----
    State-dict keys equal those of the official release (``token_emb.fc1.weight``, ``pos_emb.emb.weight``,
    ``large_encoder.net.layers.0.0.fn.to_q.weight``, ...).
    """

    def __init__(
        self,
        config: ScLongConfig,
        edge_index: np.ndarray | torch.Tensor,
        edge_weight: np.ndarray | torch.Tensor,
        gene_vectors: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        d, positions = config.base_dim, config.n_positions
        table_dtype = getattr(torch, config.gene_table_dtype)

        self.token_emb = ExpressionEncoder(d, config.expression_hidden)
        self.token_norm = nn.LayerNorm(d)
        self.mask_emb = nn.Embedding(1, d)
        self.pos_emb = GeneTable(positions, d, dtype=table_dtype)
        self.go_conv = GOGeneEncoder(
            positions, d, torch.as_tensor(edge_index), torch.as_tensor(edge_weight), n_layers=config.go_layers
        )

        def performer(dim: int, depth: int, heads: int, dim_head: int) -> ScLongPerformer:
            return ScLongPerformer(
                dim,
                depth,
                heads,
                dim_head,
                nb_features=config.features_per_head(dim_head),
                ff_mult=config.ff_mult,
                feature_redraw_interval=config.feature_redraw_interval,
            )

        self.mini_encoder = performer(d, config.mini_depth, config.mini_heads, config.mini_dim_head)
        self.base_to_large = nn.Linear(d, config.large_dim)
        self.large_in_norm = nn.LayerNorm(config.large_dim)
        self.large_encoder = performer(config.large_dim, config.large_depth, config.large_heads, config.large_dim_head)
        self.large_to_base = nn.Linear(config.large_dim, d)
        self.large_to_base_out_norm = nn.LayerNorm(d)
        self.decoder = performer(d, config.dec_depth, config.dec_heads, config.dec_dim_head)
        self.decode_norm = nn.LayerNorm(d)
        self.exp_to_out = nn.Linear(d, 1)

        self.reset_gene_tables(gene_vectors)
        self._table_cache: tuple[tuple, torch.Tensor, torch.Tensor] | None = None

    @torch.no_grad()
    def reset_gene_tables(self, gene_vectors: np.ndarray | None) -> None:
        """Initialise both gene tables from ``gene_vectors`` ``(n_genes, d)`` (pad row 0), or randomly."""
        n_genes, d = self.config.n_genes, self.config.base_dim
        if gene_vectors is None:
            vectors = torch.randn(n_genes, d)
        else:
            vectors = torch.as_tensor(np.asarray(gene_vectors, dtype=np.float64))
            if tuple(vectors.shape) != (n_genes, d):
                raise ValueError(f"gene_vectors must have shape ({n_genes}, {d}), got {tuple(vectors.shape)}")
        for table in (self.pos_emb.emb.weight, self.go_conv.emb.weight):
            table[:n_genes] = vectors.to(table.dtype)
            table[n_genes:] = 0

    def fix_projection_matrices_(self) -> None:
        """Never redraw the random attention features (also in training mode)."""
        for block in find_performers(self):
            block.fix_projection_matrices_()

    # -------------------------------------------------------------------------------------- weight precision
    @property
    def weights_dtype(self) -> torch.dtype:
        """Precision of the matrix-product weights (the Linear layers of the encoders and decoder)."""
        return self.base_to_large.weight.dtype

    @torch.no_grad()
    def set_weights_dtype_(self, dtype: torch.dtype) -> ScLong:
        """Store the matrix-product weights in ``dtype``, in place, for inference in that precision.

        The Linear layers of the mini encoder, the large encoder (with its input and output projections) and the
        decoder, which hold almost all parameters and compute, are converted once; the expression encoder, the
        gene tables, the GO propagation, the layer norms, the random feature matrices and the output head stay in
        their own dtype (float32; they are small, and the layer norms and the embedding stage run in float32).
        Run the module under ``torch.autocast(..., dtype=dtype)``: autocast then finds these weights already in
        ``dtype`` and casts only activations. ``float32`` converts back (losing what bfloat16 rounded away).

        Parameters
        ----------
        dtype
            ``torch.float32`` or ``torch.bfloat16``.

        Returns
        -------
        The module.
        """
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"weights dtype must be torch.float32 or torch.bfloat16, got {dtype}")
        for block in (self.mini_encoder, self.base_to_large, self.large_encoder, self.large_to_base, self.decoder):
            for layer in block.modules():
                if isinstance(layer, nn.Linear):
                    layer.to(dtype)
        return self

    # ----------------------------------------------------------------------------------------- gene tables
    def _gene_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The direct and the GO-propagated gene tables, cached at inference while the weights are unchanged."""
        use_cache = not self.training and not torch.is_grad_enabled()
        if not use_cache:
            self._table_cache = None
            return self.pos_emb(), self.go_conv()
        sim_layers: nn.ModuleList = self.go_conv.sim_layers
        params = (
            self.pos_emb.emb.weight,
            self.go_conv.emb.weight,
            *sim_layers.parameters(),
            self.go_conv.edge_index,
            self.go_conv.edge_weight,
        )
        key = tuple((p.data_ptr(), p._version, p.device, p.dtype) for p in params)
        if self._table_cache is None or self._table_cache[0] != key:
            self._table_cache = (key, self.pos_emb().detach(), self.go_conv().detach())
        return self._table_cache[1], self._table_cache[2]

    def _add_gene_tables(self, tokens: torch.Tensor, direct: torch.Tensor, propagated: torch.Tensor) -> torch.Tensor:
        # the release adds a float64 direct table to float32 tokens: sum in the wider type, keep the token dtype
        if direct.dtype != tokens.dtype:
            tokens = (tokens.to(direct.dtype) + direct).to(tokens.dtype)
        else:
            tokens = tokens + direct
        return tokens + propagated.to(tokens.dtype)

    def _mask_vector(self) -> torch.Tensor:
        """The [MASK] embedding, renormalised to norm <= 1 like ``nn.Embedding(max_norm=1)``.

        In training the weight itself is renormalised in place (as the release does); at inference the
        renormalised copy is used so that a forward pass never changes the weights.
        """
        weight = self.mask_emb.weight
        norm = weight.detach().norm()
        if float(norm) <= 1.0:
            return weight[0]
        scale = 1.0 / (norm + 1e-7)
        if self.training:
            with torch.no_grad():
                weight.mul_(scale)
            return weight[0]
        return weight[0] * scale

    def _value_tokens(self, values: torch.Tensor) -> torch.Tensor:
        """``token_norm`` of the expression embedding (the [MASK] vector where masked), ``(cells, positions, d)``.

        Most positions of a cell are 0 and all masked positions share one vector, so those two tokens are computed
        once and only the other values go through the expression encoder: the same function for less work.
        """
        cells, positions = values.shape
        masked = values <= self.config.mask_threshold
        expressed = ~masked & (values != 0)
        zero_token = self.token_norm(self.token_emb(values.new_zeros(1, 1)))[0, 0]
        mask_token = self.token_norm(self._mask_vector().to(zero_token.dtype))
        tokens = torch.where(masked.unsqueeze(-1), mask_token, zero_token.expand(cells, positions, -1))
        rows, columns = expressed.nonzero(as_tuple=True)
        encoded = self.token_norm(self.token_emb(values[rows, columns].unsqueeze(0)))[0]
        return tokens.index_put((rows, columns), encoded.to(tokens.dtype))

    # --------------------------------------------------------------------------------------------- forward
    def forward(self, values: torch.Tensor, *, positions: torch.Tensor | None = None) -> ScLongOutput:
        """Encode a batch of cells.

        Parameters
        ----------
        values
            Model-space inputs ``(cells, n_genes + 1)``: preprocessed values in vocabulary order, the pad 0,
            values ``<= mask_threshold`` (pretraining uses -10) meaning [MASK].
        positions
            ``(cells, m)`` positions at which the outputs are wanted (pretraining: the masked genes). The
            decoder's last layer is then computed at these positions only (its keys and values still come from
            every position), so the outputs equal those of the full forward at these positions, for less work.

        Returns
        -------
        :class:`ScLongOutput`; with ``positions``, ``representations`` is ``(cells, m, d)`` and ``reconstruction``
        ``(cells, m)``, at those positions in that order.
        """
        config = self.config
        cells, n_positions = values.shape
        if n_positions != config.n_positions:
            raise ValueError(f"expected {config.n_positions} positions per cell (n_genes + pad), got {n_positions}")
        d, k = config.base_dim, config.top_k
        values = values.float()
        top_indices = select_top_positions(values, k)

        # the embedding stage is cheap and runs in float32 whatever the compute precision (also under autocast)
        with torch.autocast(values.device.type, enabled=False):
            tokens = self._value_tokens(values)
            direct, propagated = self._gene_tables()
            tokens = self._add_gene_tables(tokens, direct, propagated)

        gather_index = top_indices.unsqueeze(-1).expand(-1, -1, d)
        in_top = torch.zeros((cells, n_positions), dtype=torch.bool, device=values.device)
        in_top.scatter_(1, top_indices, True)
        top_tokens = tokens.gather(1, gather_index)
        rest_tokens = tokens[~in_top].view(cells, n_positions - k, d)  # ascending positions

        # layer norms see float32 inputs (a no-op in float32; under bfloat16 they normalise unrounded values)
        top = self.large_in_norm(self.base_to_large(top_tokens).float())
        top = self.large_to_base_out_norm(self.large_to_base(self.large_encoder(top)).float())
        # when every position is in the top set (tiny vocabularies), the mini encoder has nothing to encode
        rest = self.mini_encoder(rest_tokens) if rest_tokens.shape[1] else rest_tokens

        merged = torch.empty((cells, n_positions, d), dtype=top.dtype, device=values.device)
        merged.scatter_(1, gather_index, top)
        merged[~in_top] = rest.reshape(-1, d).to(merged.dtype)
        merged = self._add_gene_tables(merged, direct, propagated)
        representations = self.decode_norm(self.decoder(merged, query_index=positions).float())
        with torch.autocast(values.device.type, enabled=False):  # one number per gene: float32 (float32 weights)
            reconstruction = self.exp_to_out(representations.to(self.exp_to_out.weight.dtype)).squeeze(-1)
        return ScLongOutput(representations, reconstruction, top_indices)
