"""Our checkpoint format for scLong weights: one ``.safetensors`` file with the weights, the GO graph and JSON.

Tensors: the model's state dict under its own keys, plus ``go.edge_index`` (int64, ``(2, E)``) and
``go.edge_weight`` (float32, ``(E,)``). Header (see :mod:`sclong_tl._io`): kind ``"sclong"`` with ``config``
(:class:`~sclong_tl.model.ScLongConfig` fields), ``genes`` (vocabulary in token order) and ``provenance``
(free-form dict: where the weights come from; ``name`` is the model's name). No pickle anywhere; writing the
same inputs twice gives byte-identical files. Files of the first layout (``"format": "sclong_tl/1"``, e.g. the
bundled default model) are read as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sclong_tl._io import load_safetensors, write_safetensors

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["EDGE_INDEX_KEY", "EDGE_WEIGHT_KEY", "KIND", "Checkpoint", "read_checkpoint", "save_checkpoint"]

KIND = "sclong"
EDGE_INDEX_KEY = "go.edge_index"
EDGE_WEIGHT_KEY = "go.edge_weight"


@dataclass
class Checkpoint:
    """Contents of a checkpoint file.

    Attributes
    ----------
    state_dict
        Model weights by key.
    config
        Model configuration fields.
    genes
        Vocabulary (Ensembl IDs in token order).
    edge_index, edge_weight
        GO gene graph over vocabulary positions.
    provenance
        Where the weights come from.
    """

    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]
    genes: list[str]
    edge_index: torch.Tensor
    edge_weight: torch.Tensor
    provenance: dict[str, Any] = field(default_factory=dict)
    #: sha256 of the bytes the checkpoint was read from (None for one built in memory)
    sha256: str | None = None


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` (atomically: a temporary file, then a rename).

    Parameters
    ----------
    path
        Destination ``.safetensors`` file.
    checkpoint
        What to write.

    Returns
    -------
    The path written.
    """
    if len(checkpoint.genes) != checkpoint.config["n_genes"]:
        raise ValueError(f"{len(checkpoint.genes)} genes for a model of n_genes={checkpoint.config['n_genes']}")
    tensors = dict(checkpoint.state_dict)
    for reserved in (EDGE_INDEX_KEY, EDGE_WEIGHT_KEY):
        if reserved in tensors:
            raise ValueError(f"state dict key {reserved!r} is reserved for the GO graph")
    tensors[EDGE_INDEX_KEY] = checkpoint.edge_index.long()
    tensors[EDGE_WEIGHT_KEY] = checkpoint.edge_weight.float()
    content = {"config": checkpoint.config, "genes": list(checkpoint.genes), "provenance": checkpoint.provenance}
    return write_safetensors(path, tensors, kind=KIND, content=content)


def read_checkpoint(path: str | os.PathLike, *, device: str = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path
        A ``.safetensors`` file in our format.
    device
        Where to place the tensors.

    Returns
    -------
    The checkpoint, its tensors owning their memory and ``sha256`` that of the bytes read.

    Raises
    ------
    ValueError
        When the file is damaged, not a checkpoint, or its GO graph or gene list are malformed (the message
        names the file).
    """
    hint = "; official scLong releases must be converted first: `sclong-tl convert --help`"
    loaded = load_safetensors(path, kind=KIND, device=device, what="checkpoint", hint=hint)
    tensors, header = loaded.tensors, loaded.header
    missing = [key for key in (EDGE_INDEX_KEY, EDGE_WEIGHT_KEY) if key not in tensors]
    missing += [key for key in ("config", "genes") if key not in header]
    if missing:
        raise ValueError(f"{path}: the checkpoint lacks {missing}; the file is incomplete")
    edge_index = tensors.pop(EDGE_INDEX_KEY)
    edge_weight = tensors.pop(EDGE_WEIGHT_KEY)
    if edge_index.ndim != 2 or edge_index.shape[0] != 2 or edge_weight.shape != (edge_index.shape[1],):
        raise ValueError(
            f"{path}: malformed GO graph (edge_index {tuple(edge_index.shape)}, edge_weight "
            f"{tuple(edge_weight.shape)}; expected (2, E) and (E,))"
        )
    return Checkpoint(
        state_dict=tensors,
        config=header["config"],
        genes=header["genes"],
        edge_index=edge_index,
        edge_weight=edge_weight,
        provenance=header.get("provenance", {}),
        sha256=loaded.sha256,
    )
