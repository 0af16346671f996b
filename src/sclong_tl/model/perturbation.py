"""GEARS-style perturbation-response network on scLong gene representations (torch modules only).

Written from the GEARS paper (Roohani et al. 2023, Nat Biotechnol) and the scLong paper (Fig. 2), which
replaces GEARS' learned gene embeddings by scLong's per-gene representations of a control cell:

1. Gene embedding: the control cell's scLong representation of every measured gene (``(B, G, d)``, frozen and
   precomputed by the caller) -> ``Linear(d, h)`` -> BatchNorm -> ReLU.
2. Perturbation embedding: a learned table over the nodes of the GO gene graph, propagated by ``SGConv``
   layers (torch-geometric; evaluated over the perturbed genes' neighbourhood only, see
   :mod:`~sclong_tl.model.graph_propagation`); the embeddings of a condition's perturbed genes are summed
   (double perturbations) and passed through an MLP with batch norm, then added to every gene's embedding.
3. A learned ``Linear(1, h)`` of "this measured gene is itself perturbed" is added per gene.
4. BatchNorm / ReLU, a shared MLP ``h -> 2h -> h``, a gene-specific linear read-out to one value per gene, a
   cross-gene MLP over all genes' values (``G -> h -> h``), and a gene-specific read-out of
   ``[own value, cross-gene state]``: the predicted shift.
5. Prediction = control expression + shift.

The loss (:func:`autofocus_direction_loss`) is GEARS' autofocus term ``|error|^(2 + gamma)`` plus a
direction-aware term on the sign of the change against control, averaged per condition.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from .graph_propagation import NormalizedGraph


def mlp(sizes: list[int], *, batch_norm: bool = True) -> nn.Sequential:
    """``Linear`` layers with BatchNorm and ReLU between them (none after the last Linear)."""
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(width_in, width_out))
        if index < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(width_out))
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class FlatBatchNorm(nn.BatchNorm1d):
    """BatchNorm over all leading axes of a ``(..., features)`` tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape ``(..., features)``."""
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class PerturbationNetwork(nn.Module):
    """GEARS-style network predicting post-perturbation expression from a control cell.

    Parameters
    ----------
    n_genes
        Number of measured (predicted) genes ``G``.
    representation_dim
        Width ``d`` of the scLong gene representations.
    n_nodes
        Nodes of the GO graph (perturbable genes are referred to by node index).
    edge_index, edge_weight
        GO graph, ``(2, E)`` (row 0 source, row 1 target) and ``(E,)``.
    hidden_size
        Width ``h`` of the embeddings.
    go_layers
        SGConv layers over the GO graph.
    """

    def __init__(
        self,
        n_genes: int,
        representation_dim: int,
        n_nodes: int,
        edge_index: torch.Tensor,
        edge_weight: torch.Tensor,
        *,
        hidden_size: int = 64,
        go_layers: int = 1,
    ) -> None:
        super().__init__()
        from torch_geometric.nn import SGConv

        if n_genes < 2:
            raise ValueError(f"n_genes must be at least 2, got {n_genes}")
        self.n_genes, self.n_nodes, self.hidden_size = n_genes, n_nodes, hidden_size
        self.register_buffer("edge_index", torch.as_tensor(edge_index, dtype=torch.long))
        self.register_buffer("edge_weight", torch.as_tensor(edge_weight, dtype=torch.float32))
        self.graph = NormalizedGraph(self.edge_index, self.edge_weight, n_nodes)
        h = hidden_size
        # 1. gene embeddings from scLong representations
        self.gene_in = nn.Linear(representation_dim, h)
        self.gene_norm = FlatBatchNorm(h)
        # 2. perturbation embeddings over the GO graph
        self.node_embedding = nn.Embedding(n_nodes, h, max_norm=1.0)
        self.go_layers = nn.ModuleList(SGConv(h, h, K=1) for _ in range(go_layers))
        self.perturbation_fuse = mlp([h, h, h])
        # 3. "this gene is perturbed" term
        self.self_perturbed = nn.Linear(1, h)
        self.combined_norm = FlatBatchNorm(h)
        self.hidden_norm = FlatBatchNorm(h)
        # 4. decoder
        self.shared = mlp([h, 2 * h, h])
        self.gene_w1 = nn.Parameter(torch.empty(n_genes, h))
        self.gene_b1 = nn.Parameter(torch.zeros(n_genes))
        self.cross_gene = mlp([n_genes, h, h])
        self.gene_w2 = nn.Parameter(torch.empty(n_genes, h + 1))
        self.gene_b2 = nn.Parameter(torch.zeros(n_genes))
        nn.init.xavier_normal_(self.gene_w1)
        nn.init.xavier_normal_(self.gene_w2)

    edge_index: torch.Tensor
    edge_weight: torch.Tensor

    def node_embeddings(self, nodes: torch.Tensor | None = None) -> torch.Tensor:
        """Perturbation embeddings of GO-graph nodes.

        Parameters
        ----------
        nodes
            Node indices (any order, repeats allowed); ``None`` for every node.

        Returns
        -------
        ``(len(nodes), h)`` embeddings, in the order of ``nodes``. Only the nodes' receptive field (one hop
        per layer) is computed; the result equals the ``SGConv`` layers run over the whole graph.
        """
        if nodes is None:
            nodes = torch.arange(self.n_nodes, device=self.edge_index.device)
        fields = self.graph.receptive_fields(nodes, len(self.go_layers))
        x = self.node_embedding(fields[0])  # renormalises the rows it reads when max_norm is set
        layer: Any
        for index, layer in enumerate(self.go_layers):
            x = layer.lin(self.graph.propagate(x, fields[index], fields[index + 1]))
            if index < len(self.go_layers) - 1:
                x = torch.relu(x)
        return x[torch.searchsorted(fields[-1], nodes)]

    def forward(
        self,
        representations: torch.Tensor,
        control: torch.Tensor,
        perturbed_nodes: torch.Tensor,
        perturbed_genes: torch.Tensor,
    ) -> torch.Tensor:
        """Predict the expression of perturbed cells.

        Parameters
        ----------
        representations
            ``(B, G, d)`` scLong representations of each example's control cell (or ``(1, G, d)``, broadcast).
        control
            ``(B, G)`` expression of the control cell the prediction starts from.
        perturbed_nodes
            ``(B, k)`` GO-graph node indices of the perturbed genes, ``-1`` padding (all ``-1`` for control).
        perturbed_genes
            ``(B, G)`` 1 where the measured gene is itself perturbed, else 0.

        Returns
        -------
        ``(B, G)`` predicted expression (control + predicted shift).
        """
        batch = control.shape[0]
        genes = torch.relu(self.gene_norm(self.gene_in(representations)))
        genes = genes.expand(batch, -1, -1)
        valid = perturbed_nodes >= 0
        embedded = genes.new_zeros((*perturbed_nodes.shape, self.hidden_size))
        if valid.any():
            embedded[valid] = self.node_embeddings(perturbed_nodes[valid])
        summed = embedded.sum(dim=1)
        fused = self.perturbation_fuse(summed) * valid.any(dim=1, keepdim=True)
        combined = genes + fused.unsqueeze(1) + self.self_perturbed(perturbed_genes.unsqueeze(-1))
        hidden = torch.relu(self.hidden_norm(torch.relu(self.combined_norm(combined))))
        hidden = self.shared(hidden.reshape(-1, self.hidden_size)).reshape(batch, self.n_genes, -1)
        own = (hidden * self.gene_w1).sum(dim=-1) + self.gene_b1
        cross = self.cross_gene(own).unsqueeze(1).expand(-1, self.n_genes, -1)
        shift = (torch.cat([own.unsqueeze(-1), cross], dim=-1) * self.gene_w2).sum(dim=-1) + self.gene_b2
        return control + shift


def autofocus_direction_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    control_mean: torch.Tensor,
    groups: torch.Tensor,
    *,
    gamma: float = 2.0,
    direction_lambda: float = 1e-3,
) -> torch.Tensor:
    """GEARS' loss: autofocus ``|error|^(2 + gamma)`` plus a direction term, averaged over conditions.

    Parameters
    ----------
    prediction, target
        ``(B, G)`` predicted and observed expression.
    control_mean
        ``(G,)`` mean control expression (the reference for the direction of change).
    groups
        ``(B,)`` condition index of each example; each condition in the batch weighs equally.
    gamma
        Autofocus exponent: errors are raised to ``2 + gamma``.
    direction_lambda
        Weight of the direction term ``mean((sign(target - control) - sign(prediction - control))^2)``.

    Returns
    -------
    The scalar loss.
    """
    error = (prediction - target).abs().pow(2.0 + gamma).mean(dim=1)
    direction = (torch.sign(target - control_mean) - torch.sign(prediction - control_mean)).pow(2).mean(dim=1)
    per_example = error + direction_lambda * direction
    unique, inverse = torch.unique(groups, return_inverse=True)
    sums = torch.zeros(unique.numel(), dtype=per_example.dtype, device=per_example.device)
    counts = torch.zeros_like(sums)
    sums.index_add_(0, inverse, per_example)
    counts.index_add_(0, inverse, torch.ones_like(per_example))
    return (sums / counts).mean()
