"""The default gene vocabulary, its commonly expressed genes and the shipped GO annotations."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from ._data import common_genes_frozenset, default_vocabulary_tuple, gene2go_dict
from ._symbols import ensembl_base, symbol_table


def default_vocabulary() -> list[str]:
    """The gene vocabulary of models trained by sclong_tl (27,213 Ensembl gene IDs, sorted).

    Built like the scLong paper's (protein-coding genes, GO-annotated genes, the Gene2vec vocabulary and genes
    frequently detected in real data, unified to Ensembl IDs) by ``scripts/build_vocabulary.py``; see
    ``sclong_tl/genes/data/README.md``. Official scLong checkpoints carry their own 27,874-gene vocabulary
    (``model.genes``): always use the vocabulary of the model at hand.

    Returns
    -------
    A new list of Ensembl gene IDs in token order.
    """
    return list(default_vocabulary_tuple())


def common_genes() -> frozenset[str]:
    """Ensembl IDs of commonly expressed genes (detected in >= 10 % of cells in most pretraining-corpus datasets).

    :func:`sclong_tl.pp.match_genes` warns when a dataset provides fewer than half of the vocabulary's ones.

    Returns
    -------
    Versionless Ensembl gene IDs.
    """
    return common_genes_frozenset()


def load_gene2go() -> dict[str, frozenset[str]]:
    """Human gene -> GO terms shipped with the package (org.Hs.eg.db 3.16, GO release 2022-07-01).

    All evidence codes and the three ontologies (BP, CC, MF) are included, as in scLong; an NCBI gene with several
    Ensembl IDs gives each ID the union of its terms.

    Returns
    -------
    A new dict: versionless Ensembl gene ID -> frozenset of GO IDs (``"GO:0005515"``).
    """
    return dict(gene2go_dict())


def ensembl_to_symbol(ensembl_ids: Iterable[str]) -> list[str]:
    """Current gene symbols for Ensembl gene IDs (the ID itself where no symbol is known).

    Parameters
    ----------
    ensembl_ids
        Ensembl gene IDs, with or without version.

    Returns
    -------
    One symbol per ID, in order.
    """
    inverse = _symbol_of_id()
    out = []
    for raw in ensembl_ids:
        base = ensembl_base(str(raw)) or str(raw)
        out.append(inverse.get(base, base))
    return out


@cache
def _symbol_of_id() -> dict[str, str]:
    """Ensembl ID -> current symbol; a symbol's preferred (first) ID wins over secondary IDs of other symbols."""
    current = symbol_table().current
    inverse = {eid: symbol for symbol, ids in current.items() for eid in ids[1:]}
    inverse.update({ids[0]: symbol for symbol, ids in current.items() if ids})
    return inverse
