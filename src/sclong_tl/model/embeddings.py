"""Token embeddings: the expression encoder and the two gene tables (direct and GO-graph propagated)."""

from __future__ import annotations

import torch
from torch import nn


class ExpressionEncoder(nn.Module):
    """Each scalar through ``Linear(1, hidden) -> ReLU -> Linear(hidden, d)`` (no binning)."""

    def __init__(self, dim: int, hidden: int = 50) -> None:
        super().__init__()
        self.fc1 = nn.Linear(1, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """Embed values of shape ``(cells, positions)`` to ``(cells, positions, d)``."""
        return self.fc2(torch.relu(self.fc1(values.unsqueeze(-1))))


class GeneTable(nn.Module):
    """A trainable per-position table (initialised from gene vectors), added to every cell."""

    def __init__(self, n_positions: int, dim: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.emb = nn.Embedding(n_positions, dim, dtype=dtype)

    def forward(self) -> torch.Tensor:
        """The table, shape ``(positions, d)``."""
        return self.emb.weight


class GOGeneEncoder(nn.Module):
    """A second gene table propagated over the GO gene graph by SGConv (K=1, no added self loops).

    The graph (``edge_index`` row 0 = source, row 1 = target; ``edge_weight`` = Jaccard index) is static, so
    the propagated table does not depend on the input; the owner computes it once per forward.
    """

    edge_index: torch.Tensor
    edge_weight: torch.Tensor

    def __init__(
        self, n_positions: int, dim: int, edge_index: torch.Tensor, edge_weight: torch.Tensor, n_layers: int = 1
    ) -> None:
        super().__init__()
        from torch_geometric.nn import SGConv

        self.emb = nn.Embedding(n_positions, dim)
        self.sim_layers = nn.ModuleList(SGConv(dim, dim, K=1, add_self_loops=False) for _ in range(n_layers))
        edge_index = torch.as_tensor(edge_index, dtype=torch.long)
        edge_weight = torch.as_tensor(edge_weight, dtype=torch.float32)
        if edge_index.ndim != 2 or edge_index.shape[0] != 2 or edge_index.shape[1] != edge_weight.shape[0]:
            raise ValueError("edge_index must have shape (2, E) and edge_weight shape (E,)")
        if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= n_positions):
            raise ValueError(f"GO graph edges must index positions in [0, {n_positions})")
        # the graph travels in our checkpoints next to the state dict, not inside it (official layout)
        self.register_buffer("edge_index", edge_index, persistent=False)
        self.register_buffer("edge_weight", edge_weight, persistent=False)

    def forward(self) -> torch.Tensor:
        """The propagated table, shape ``(positions, d)``."""
        table = self.emb.weight
        for position, layer in enumerate(self.sim_layers):
            table = layer(table, self.edge_index, self.edge_weight)
            if position < len(self.sim_layers) - 1:
                table = table.relu()
        return table
