"""Drug task heads of the scLong paper (Fig. 4): drug response (DeepCDR-style) and drug combination (DeepDDS-style).

Both read one vector per cell line (for scLong: its per-gene representations mean-pooled over ``d``, one value per
gene) and molecule graphs of drugs (:func:`sclong_tl.pp.molecule_graph`), batched with :func:`batch_graphs`.

- :class:`DrugResponseNetwork` (paper Methods, after DeepCDR): cell MLP (256, 100); drug 3-layer GCN (100 each,
  ReLU), mean over atoms; concatenation -> Linear(300) -> 1-D CNN with (filters, kernel) (30, 150), (10, 5),
  (5, 5), each followed by ReLU and max-pooling (2, 3, 3) -> linear output. Dropout 0.1.
- :class:`DrugCombinationNetwork` (after DeepDDS): cell MLP (512, 256, 128) on the L2-normalised cell vector; one
  3-layer GCN (1024, 512, 156, ReLU) shared by both drugs (as DeepDDS's code shares it), max over atoms;
  concatenation -> MLP (1024, 512, 128) -> one logit. The logit is averaged over both drug orders, so the output
  is exactly symmetric in the two drugs. Dropout 0.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn


def batch_graphs(graphs: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate molecule graphs (objects with ``x`` and ``edge_index`` arrays) into one disconnected graph.

    Returns
    -------
    ``(x (atoms, F), edge_index (2, E), batch (atoms,))``, ``batch`` giving each atom's graph.
    """
    xs, edges, batch, offset = [], [], [], 0
    for index, graph in enumerate(graphs):
        x = torch.as_tensor(graph.x, dtype=torch.float32)
        xs.append(x)
        edges.append(torch.as_tensor(graph.edge_index, dtype=torch.long) + offset)
        batch.append(torch.full((x.shape[0],), index, dtype=torch.long))
        offset += x.shape[0]
    return torch.cat(xs), torch.cat(edges, dim=1), torch.cat(batch)


class MoleculeGCN(nn.Module):
    """Graph convolutions (Kipf & Welling, with self-loops) over molecule graphs, pooled over atoms per graph.

    Parameters
    ----------
    in_features
        Atom feature width.
    hidden
        Output width of each GCN layer (ReLU after each).
    pooling
        ``"mean"`` or ``"max"`` over a graph's atoms.
    dropout
        Dropout after every layer but the last.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], *, pooling: str = "mean", dropout: float = 0.0) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        if pooling not in ("mean", "max"):
            raise ValueError(f"pooling must be 'mean' or 'max', got {pooling!r}")
        widths = [in_features, *hidden]
        self.layers = nn.ModuleList(GCNConv(a, b) for a, b in pairwise(widths))
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, n_graphs: int) -> torch.Tensor:
        """``(n_graphs, out_features)`` pooled graph vectors."""
        from torch_geometric.utils import scatter

        for position, layer in enumerate(self.layers):
            x = torch.relu(layer(x, edge_index))
            if position < len(self.layers) - 1:
                x = self.dropout(x)
        return scatter(x, batch, dim=0, dim_size=n_graphs, reduce=self.pooling)


def mlp(widths: Sequence[int], *, dropout: float, final_activation: bool = True) -> nn.Sequential:
    """Linear layers with ReLU and dropout between them (and after the last one when ``final_activation``)."""
    layers: list[nn.Module] = []
    for position, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if final_activation or position < len(widths) - 2:
            layers += [nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class DrugResponseNetwork(nn.Module):
    """Regression of a (cell line, drug) response (see the module notes).

    Parameters
    ----------
    n_cell_features
        Width of a cell line's vector (number of genes).
    n_atom_features
        Width of an atom's features.
    cell_hidden, drug_hidden
        Widths of the cell MLP and of the GCN layers.
    fusion_width
        Width of the layer after concatenation (the CNN's input length).
    conv
        ``(filters, kernel)`` of the 1-D convolutions; max-pool sizes :attr:`POOLS` follow them.
    dropout
        Dropout probability.
    """

    POOLS = (2, 3, 3)

    def __init__(
        self,
        n_cell_features: int,
        n_atom_features: int,
        *,
        cell_hidden: Sequence[int] = (256, 100),
        drug_hidden: Sequence[int] = (100, 100, 100),
        fusion_width: int = 300,
        conv: Sequence[tuple[int, int]] = ((30, 150), (10, 5), (5, 5)),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.cell = mlp([n_cell_features, *cell_hidden], dropout=dropout)
        self.drug = MoleculeGCN(n_atom_features, drug_hidden, pooling="mean", dropout=dropout)
        self.fuse = nn.Sequential(
            nn.Linear(cell_hidden[-1] + self.drug.out_features, fusion_width), nn.ReLU(), nn.Dropout(dropout)
        )
        layers: list[nn.Module] = []
        channels, length = 1, fusion_width
        for (filters, kernel), pool in zip(conv, self.POOLS, strict=True):
            layers += [nn.Conv1d(channels, filters, kernel), nn.ReLU(), nn.MaxPool1d(pool)]
            channels, length = filters, (length - kernel + 1) // pool
        if length < 1:
            raise ValueError(f"fusion_width={fusion_width} is too short for the convolutions {conv}")
        self.cnn = nn.Sequential(*layers, nn.Flatten(), nn.Dropout(dropout))
        self.out = nn.Linear(channels * length, 1)

    def forward(
        self, cells: torch.Tensor, drugs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], drug_index: torch.Tensor
    ) -> torch.Tensor:
        """Predicted (standardised) responses ``(pairs,)``.

        Parameters
        ----------
        cells
            ``(pairs, n_cell_features)`` cell-line vectors.
        drugs
            :func:`batch_graphs` of the distinct drugs of the batch.
        drug_index
            ``(pairs,)`` index of each pair's drug among those graphs.
        """
        x, edge_index, batch = drugs
        drug_vectors = self.drug(x, edge_index, batch, int(drug_index.max()) + 1 if drug_index.numel() else 0)
        fused = self.fuse(torch.cat([self.cell(cells), drug_vectors[drug_index]], dim=1))
        return self.out(self.cnn(fused.unsqueeze(1))).squeeze(1)


class DrugCombinationNetwork(nn.Module):
    """Logit of a (cell line, drug A, drug B) synergy label, symmetric in A and B (see the module notes).

    Parameters
    ----------
    n_cell_features
        Width of a cell line's vector (number of genes).
    n_atom_features
        Width of an atom's features.
    cell_hidden, drug_hidden, head_hidden
        Widths of the cell MLP, of the GCN layers and of the MLP after concatenation.
    dropout
        Dropout probability.
    """

    def __init__(
        self,
        n_cell_features: int,
        n_atom_features: int,
        *,
        cell_hidden: Sequence[int] = (512, 256, 128),
        drug_hidden: Sequence[int] = (1024, 512, 156),
        head_hidden: Sequence[int] = (1024, 512, 128),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.cell = mlp([n_cell_features, *cell_hidden], dropout=dropout)
        self.drug = MoleculeGCN(n_atom_features, drug_hidden, pooling="max", dropout=0.0)
        width = cell_hidden[-1] + 2 * self.drug.out_features
        self.head = nn.Sequential(mlp([width, *head_hidden], dropout=dropout), nn.Linear(head_hidden[-1], 1))

    def forward(
        self, cells: torch.Tensor, drugs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], drug_index: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``(examples,)``, the average over both drug orders.

        Parameters
        ----------
        cells
            ``(examples, n_cell_features)`` cell-line vectors.
        drugs
            :func:`batch_graphs` of the distinct drugs of the batch.
        drug_index
            ``(examples, 2)`` index of each example's two drugs among those graphs.
        """
        x, edge_index, batch = drugs
        drug_vectors = self.drug(x, edge_index, batch, int(drug_index.max()) + 1 if drug_index.numel() else 0)
        cell = self.cell(nn.functional.normalize(cells, p=2.0, dim=1))
        first, second = drug_vectors[drug_index[:, 0]], drug_vectors[drug_index[:, 1]]
        forward = self.head(torch.cat([cell, first, second], dim=1))
        backward = self.head(torch.cat([cell, second, first], dim=1))
        return 0.5 * (forward + backward).squeeze(1)
