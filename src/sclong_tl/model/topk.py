"""Selection of the positions routed to the large encoder.

Real cells have many genes with equal values at the k-th place, and which of them enter the large encoder
changes the outputs by ~1 (fixture README). The official model picks them with ``torch.topk`` on the float32
input vector; its choice among ties is implementation-defined and differs between devices, so we always select
on the CPU, one cell at a time, whatever device runs the rest: results then agree across CPU and GPU and do not
depend on which cells share a batch.
"""

from __future__ import annotations

import torch


def select_top_positions(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest values of each row, exactly as CPU ``torch.topk`` picks them.

    Parameters
    ----------
    values
        Model inputs, shape ``(cells, positions)`` (masked positions carry large negative values, so they are
        never selected while enough other positions exist).
    k
        Positions per cell.

    Returns
    -------
    int64 tensor ``(cells, k)`` on the device of ``values``, in ``torch.topk`` order.
    """
    rows = values.detach().to(device="cpu", dtype=torch.float32)
    indices = torch.empty((rows.shape[0], k), dtype=torch.long)
    for row in range(rows.shape[0]):
        indices[row] = torch.topk(rows[row : row + 1], k, dim=1).indices[0]
    return indices.to(values.device)
