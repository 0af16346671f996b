"""Our checkpoint format: one ``.safetensors`` file with the weights, the GO graph and JSON metadata.

Tensors: the model's state dict under its own keys, plus ``go.edge_index`` (int64, ``(2, E)``) and
``go.edge_weight`` (float32, ``(E,)``). Metadata: one entry, ``sclong_tl``, a JSON object with ``format``
(``"sclong_tl/1"``), ``config`` (:class:`~sclong_tl.model.ScLongConfig` fields), ``genes`` (vocabulary in token
order) and ``provenance`` (free-form dict: where the weights come from). A single entry keeps the header
byte-stable (safetensors writes several metadata entries in hash order). No pickle anywhere; writing the same
inputs twice gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

FORMAT_VERSION = "sclong_tl/1"
EDGE_INDEX_KEY = "go.edge_index"
EDGE_WEIGHT_KEY = "go.edge_weight"
METADATA_KEY = "sclong_tl"


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
    from safetensors.torch import save_file

    path = Path(path)
    if len(checkpoint.genes) != checkpoint.config["n_genes"]:
        raise ValueError(f"{len(checkpoint.genes)} genes for a model of n_genes={checkpoint.config['n_genes']}")
    tensors = {key: value.detach().cpu().contiguous() for key, value in checkpoint.state_dict.items()}
    for reserved in (EDGE_INDEX_KEY, EDGE_WEIGHT_KEY):
        if reserved in tensors:
            raise ValueError(f"state dict key {reserved!r} is reserved for the GO graph")
    tensors[EDGE_INDEX_KEY] = checkpoint.edge_index.detach().cpu().long().contiguous()
    tensors[EDGE_WEIGHT_KEY] = checkpoint.edge_weight.detach().cpu().float().contiguous()
    header = {
        "format": FORMAT_VERSION,
        "config": checkpoint.config,
        "genes": list(checkpoint.genes),
        "provenance": checkpoint.provenance,
    }
    metadata = {METADATA_KEY: json.dumps(header, sort_keys=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(temporary), metadata=metadata)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


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
    The checkpoint.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    tensors: dict[str, Any] = {}
    with safe_open(str(path), framework="pt", device=device) as handle:
        raw = (handle.metadata() or {}).get(METADATA_KEY)
        header = json.loads(raw) if raw else {}
        if header.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{path} is not an sclong_tl checkpoint (format {header.get('format')!r}); official scLong "
                "releases must be converted first: `sclong-tl convert --help`"
            )
        for key in handle.keys():
            tensors[key] = handle.get_tensor(key)
    edge_index = tensors.pop(EDGE_INDEX_KEY)
    edge_weight = tensors.pop(EDGE_WEIGHT_KEY)
    return Checkpoint(
        state_dict=tensors,
        config=header["config"],
        genes=header["genes"],
        edge_index=edge_index,
        edge_weight=edge_weight,
        provenance=header.get("provenance", {}),
    )


def file_sha256(path: str | os.PathLike, *, chunk_size: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
