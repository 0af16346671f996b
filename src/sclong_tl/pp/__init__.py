"""Preprocessing for scLong: gene-ID harmonisation onto a model vocabulary and the paper's normalisation.

Typical use (the tools call these for you)::

    match = sl.pp.match_genes(adata, model.genes)           # symbols or Ensembl IDs, auto-detected
    for start, values in sl.pp.iter_model_inputs(adata, model.genes, gene_match=match):
        ...                                                   # float32 (cells, n_genes), model space

Drugs for the drug models: :func:`molecule_graph` (SMILES -> atom features and bonds, needs RDKit).
"""

from ._inputs import iter_model_inputs
from ._match import GeneMatch, match_genes, vocabulary_positions
from ._molecules import MoleculeGraph, molecule_graph, molecule_graphs
from ._normalize import log_normalized, normalize
from ._values import VALUES, ValueKind, detect_counts, detect_values

__all__ = [
    "VALUES",
    "GeneMatch",
    "MoleculeGraph",
    "ValueKind",
    "detect_counts",
    "detect_values",
    "iter_model_inputs",
    "log_normalized",
    "match_genes",
    "molecule_graph",
    "molecule_graphs",
    "normalize",
    "vocabulary_positions",
]
