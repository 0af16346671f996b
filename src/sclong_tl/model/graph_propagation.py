"""GCN-normalised propagation over a fixed graph, computed only for the nodes that are needed.

``SGConv(K=1)`` of torch-geometric computes, for every node ``v``, ``lin(sum_u A_vu x_u)`` with
``A = D^-1/2 (W + I) D^-1/2`` (remaining self loops of weight 1 added, degrees summed over incoming edges). The
GO gene graph has ~27k nodes and ~0.4M edges, but a perturbation batch only needs the embeddings of the few
perturbed genes, and those depend only on their neighbourhood (one hop per layer). :class:`NormalizedGraph`
computes the normalised weights once and propagates over the incoming edges of the requested nodes alone,
giving the same numbers as ``SGConv`` on the whole graph up to float summation order.
"""

from __future__ import annotations

import torch
from torch import nn


class NormalizedGraph(nn.Module):
    """The GCN-normalised adjacency of a graph, stored as incoming edges grouped by target node.

    Parameters
    ----------
    edge_index
        ``(2, E)`` edges, row 0 source, row 1 target.
    edge_weight
        ``(E,)`` edge weights.
    n_nodes
        Number of nodes.
    """

    def __init__(self, edge_index: torch.Tensor, edge_weight: torch.Tensor, n_nodes: int) -> None:
        super().__init__()
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        edge_index = torch.as_tensor(edge_index, dtype=torch.long)
        edge_weight = torch.as_tensor(edge_weight, dtype=torch.float32)
        normalized_index, normalized_weight = gcn_norm(edge_index, edge_weight, num_nodes=n_nodes, add_self_loops=True)
        source, target = normalized_index
        order = torch.argsort(target * n_nodes + source)  # grouped by target, sources ascending
        counts = torch.bincount(target, minlength=n_nodes)
        # not saved with the model: recomputed from the graph, which the owning module stores
        self.register_buffer("row_pointer", torch.cat([counts.new_zeros(1), counts.cumsum(0)]), persistent=False)
        self.register_buffer("source", source[order], persistent=False)
        self.register_buffer("weight", normalized_weight[order], persistent=False)

    row_pointer: torch.Tensor
    source: torch.Tensor
    weight: torch.Tensor

    def incoming(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Incoming edges of ``nodes``: (position of the target in ``nodes``, source node, normalised weight)."""
        starts = self.row_pointer[nodes]
        counts = self.row_pointer[nodes + 1] - starts
        offsets = counts.cumsum(0) - counts
        edges = (
            torch.arange(int(counts.sum()), device=nodes.device)
            - torch.repeat_interleave(offsets, counts)
            + torch.repeat_interleave(starts, counts)
        )
        target_position = torch.repeat_interleave(torch.arange(len(nodes), device=nodes.device), counts)
        return target_position, self.source[edges], self.weight[edges]

    def receptive_fields(self, nodes: torch.Tensor, hops: int) -> list[torch.Tensor]:
        """Sorted node sets ``[S_hops, ..., S_1, S_0]`` a ``hops``-layer propagation to ``nodes`` reads.

        ``S_0 = unique(nodes)`` and ``S_{i+1}`` holds the sources of ``S_i``'s incoming edges (self loops
        included, so ``S_i`` is inside ``S_{i+1}``).
        """
        fields = [torch.unique(nodes)]
        for _ in range(hops):
            _, sources, _ = self.incoming(fields[0])
            fields.insert(0, torch.unique(sources))
        return fields

    def propagate(self, x: torch.Tensor, x_nodes: torch.Tensor, out_nodes: torch.Tensor) -> torch.Tensor:
        """``A[out_nodes] @ x`` where ``x`` holds the rows of the sorted node set ``x_nodes``.

        ``x_nodes`` must contain every source of ``out_nodes``' incoming edges (see :meth:`receptive_fields`).
        """
        target_position, sources, weights = self.incoming(out_nodes)
        messages = x[torch.searchsorted(x_nodes, sources)] * weights.unsqueeze(-1).to(x.dtype)
        out = x.new_zeros((len(out_nodes), x.shape[-1]))
        return out.index_add(0, target_position, messages)
