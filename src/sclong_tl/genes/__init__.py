"""Gene vocabulary, symbol / Ensembl tables, GO annotations and the GO gene graph.

Package data (``sclong_tl/genes/data``, provenance in its README.md): HGNC / GENCODE v44 / org.Hs.eg.db symbol
tables, org.Hs.eg.db GO annotations and the default vocabulary, rebuilt by ``scripts/build_gene_tables.py`` and
``scripts/build_vocabulary.py`` from public sources.
"""

from ._coexpression import coexpression_vectors
from ._go_graph import build_go_graph, go_graph_edges, go_graph_members
from ._symbols import (
    SymbolTable,
    looks_like_ensembl,
    strip_ensembl_version,
    symbol_table,
    symbol_to_ensembl,
)
from ._vectors import go_svd_vectors, initial_gene_vectors, read_gene2vec
from ._vocabulary import common_genes, default_vocabulary, ensembl_to_symbol, load_gene2go

__all__ = [
    "SymbolTable",
    "build_go_graph",
    "coexpression_vectors",
    "common_genes",
    "default_vocabulary",
    "ensembl_to_symbol",
    "go_graph_edges",
    "go_graph_members",
    "go_svd_vectors",
    "initial_gene_vectors",
    "load_gene2go",
    "looks_like_ensembl",
    "read_gene2vec",
    "strip_ensembl_version",
    "symbol_table",
    "symbol_to_ensembl",
]
