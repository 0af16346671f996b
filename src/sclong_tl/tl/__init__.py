"""High-level AnnData tools, one module per tool, and the public steps benchmarks reuse.

Tools (scanpy's contract: keyword-only options, ``key_added``, ``copy=False`` -> ``AnnData | None``, MuData
through ``modality=``): :func:`embed`, :func:`grn` (read its result with :func:`grn_network`),
:func:`predict_perturbation` (returns a new AnnData of predictions, like :func:`scanpy.get.aggregate`).

Large datasets: :func:`embed_to_zarr` (``sclong-tl embed``) embeds ``.h5ad`` files into a zarr store chunk by
chunk, resumable and split across ``torchrun`` processes; :func:`read_embedding` reads it back.

Drug models (paper Fig. 4): :class:`DrugResponseModel` (ln IC50), :class:`DrugCombinationModel` (synergy).

GRN steps (see :mod:`sclong_tl.tl._grn`): :func:`select_network_genes`, :func:`encode_network_genes`,
:func:`initial_adjacency`, :func:`refine_adjacency`.
"""

from __future__ import annotations

from sclong_tl._lazy import lazy_module_getattr

_LAZY = {
    "embed": "sclong_tl.tl._embed",
    "embed_to_zarr": "sclong_tl.tl._embed_store",
    "read_embedding": "sclong_tl.tl._zarr_store",
    "grn": "sclong_tl.tl._grn",
    "grn_network": "sclong_tl.tl._grn",
    "predict_perturbation": "sclong_tl.tl._perturbation",
    "PerturbationModel": "sclong_tl.models._perturbation",
    "DrugResponseModel": "sclong_tl.models._drug_response",
    "DrugCombinationModel": "sclong_tl.models._drug_combination",
    "select_network_genes": "sclong_tl.tl._grn_similarity",
    "encode_network_genes": "sclong_tl.tl._grn_similarity",
    "initial_adjacency": "sclong_tl.tl._grn_similarity",
    "SimilarityStatistics": "sclong_tl.tl._grn_similarity",
    "refine_adjacency": "sclong_tl.tl._grn_refine",
    "REFINE_DEFAULTS": "sclong_tl.tl._grn_refine",
}

__all__ = list(_LAZY)

__getattr__ = lazy_module_getattr(__name__, _LAZY)
