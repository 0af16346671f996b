"""Map a dataset's genes onto a model vocabulary (Ensembl IDs in token order)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse

from sclong_tl._anndata import gene_names
from sclong_tl._warnings import warn_user
from sclong_tl.genes._data import common_genes_frozenset
from sclong_tl.genes._symbols import ensembl_base, looks_like_ensembl, mouse_hint, symbol_to_ensembl

logger = logging.getLogger(__name__)

#: Below this fraction of the vocabulary's commonly expressed genes found, :func:`match_genes` warns.
COMMON_GENES_WARN_FRACTION = 0.5
_UNIQUE_SUFFIX = re.compile(r"^(.+)-(\d+)$")


class GeneMatch:
    """How a dataset's genes map onto a model vocabulary.

    Attributes
    ----------
    var_index
        int64 array, one entry per dataset gene: its vocabulary position, or -1 when it is not in the vocabulary.
        Several dataset genes can share a position (duplicates); :meth:`to_model_space` sums them.
    n_vocabulary
        Vocabulary size.
    id_type
        ``"ensembl"``, ``"symbol"`` or ``"mixed"``: the kinds of the names that matched (each name is read by
        its own kind: an Ensembl ID as an ID, anything else as a symbol).
    n_by_kind, n_matched_by_kind
        Dataset names per resolution kind (``ensembl``, ``current``, ``previous``, ``alias``, ``ambiguous``,
        ``unknown``; see :func:`sclong_tl.genes.symbol_to_ensembl`), and how many of each matched.
    ambiguous
        Dataset gene names refused because they are previous / alias symbols of several genes.
    n_common, n_common_found
        Commonly expressed genes (shipped list, see :func:`sclong_tl.genes.common_genes`) in the vocabulary, and
        how many of them the dataset provides.
    """

    def __init__(
        self,
        var_index: np.ndarray,
        n_vocabulary: int,
        id_type: str,
        *,
        ambiguous: Sequence[str] = (),
        n_common: int = 0,
        n_common_found: int = 0,
        n_by_kind: dict[str, int] | None = None,
        n_matched_by_kind: dict[str, int] | None = None,
    ) -> None:
        self.var_index = np.asarray(var_index, dtype=np.int64)
        self.var_index.setflags(write=False)
        self.n_vocabulary = int(n_vocabulary)
        self.id_type = id_type
        self.ambiguous = tuple(ambiguous)
        self.n_common = int(n_common)
        self.n_common_found = int(n_common_found)
        self.n_by_kind = dict(n_by_kind or {})
        self.n_matched_by_kind = dict(n_matched_by_kind or {})

    @property
    def n_dataset(self) -> int:
        """Number of dataset genes."""
        return int(self.var_index.size)

    @property
    def n_matched(self) -> int:
        """Dataset genes that map to a vocabulary position."""
        return int((self.var_index >= 0).sum())

    @property
    def fraction(self) -> float:
        """``n_matched / n_dataset``."""
        return self.n_matched / self.n_dataset if self.n_dataset else 0.0

    @property
    def n_vocabulary_found(self) -> int:
        """Distinct vocabulary positions the dataset provides."""
        return int(np.unique(self.var_index[self.var_index >= 0]).size)

    @property
    def n_duplicates(self) -> int:
        """Matched dataset genes that share a vocabulary position with an earlier one (their values are summed)."""
        return self.n_matched - self.n_vocabulary_found

    @property
    def fraction_common_found(self) -> float:
        """Fraction of the vocabulary's commonly expressed genes present in the dataset (1.0 when none known)."""
        return self.n_common_found / self.n_common if self.n_common else 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (what the tools store in ``.uns[key]['genes']``)."""
        return {
            "id_type": self.id_type,
            "n_dataset": self.n_dataset,
            "n_matched": self.n_matched,
            "fraction": round(self.fraction, 6),
            "n_vocabulary": self.n_vocabulary,
            "n_vocabulary_found": self.n_vocabulary_found,
            "n_duplicates": self.n_duplicates,
            "n_ambiguous": len(self.ambiguous),
            "n_common": self.n_common,
            "n_common_found": self.n_common_found,
            "n_by_kind": dict(self.n_by_kind),
            "n_matched_by_kind": dict(self.n_matched_by_kind),
        }

    def __repr__(self) -> str:
        return (
            f"GeneMatch({self.n_matched:,}/{self.n_dataset:,} dataset genes ({self.fraction:.1%}) -> "
            f"{self.n_vocabulary_found:,}/{self.n_vocabulary:,} vocabulary genes, id_type={self.id_type!r})"
        )

    @cached_property
    def _projection(self) -> sparse.csr_matrix:
        matched = np.flatnonzero(self.var_index >= 0)
        ones = np.ones(matched.size, dtype=np.float64)
        return sparse.csr_matrix((ones, (matched, self.var_index[matched])), shape=(self.n_dataset, self.n_vocabulary))

    def to_model_space(self, X: Any) -> sparse.csr_matrix:
        """Reorder a chunk of cells into vocabulary columns.

        Parameters
        ----------
        X
            Dense or sparse (cells x dataset genes) rows.

        Returns
        -------
        float64 CSR matrix (cells x vocabulary genes): duplicated dataset genes summed, vocabulary genes absent
        from the dataset 0. ``X`` is not modified.
        """
        if X.ndim != 2 or X.shape[1] != self.n_dataset:
            raise ValueError(f"expected a (cells, {self.n_dataset}) matrix matching the dataset genes, got {X.shape}")
        rows = sparse.csr_matrix(X, dtype=np.float64)
        out = sparse.csr_matrix(rows @ self._projection)
        out.sum_duplicates()
        out.eliminate_zeros()
        return out


def _vocabulary_index(genes: Sequence[str]) -> dict[str, int]:
    if len(genes) == 0:
        raise ValueError("the model vocabulary is empty")
    index: dict[str, int] = {}
    for position, gene in enumerate(genes):
        key = ensembl_base(str(gene)) or str(gene)
        if key in index:
            raise ValueError(f"the model vocabulary lists {key!r} twice (positions {index[key]} and {position})")
        index[key] = position
    return index


def _resolve_unique_suffixes(names: list[str], ensembl_ids: list[str]) -> int:
    """Map ``GENE-1``-style names made unique by ``var_names_make_unique`` to the ID of ``GENE`` (in place).

    Only unresolved names whose stem is itself a resolved dataset gene are touched. Returns how many were mapped.
    """
    resolved = {name: eid for name, eid in zip(names, ensembl_ids, strict=True) if eid}
    n_mapped = 0
    for i, name in enumerate(names):
        if ensembl_ids[i]:
            continue
        match = _UNIQUE_SUFFIX.match(name)
        if match and match.group(1) in resolved:
            ensembl_ids[i] = resolved[match.group(1)]
            n_mapped += 1
    return n_mapped


def match_genes(data: Any, genes: Sequence[str], *, gene_key: str | None = None, modality: str = "rna") -> GeneMatch:
    """Map a dataset's genes onto a model vocabulary.

    Each name is read by its own kind: Ensembl IDs as IDs (versions such as ``.17`` are stripped), anything else
    as a symbol, so a mixed list (IDs where annotated, symbols elsewhere) keeps both. Symbols are resolved
    through current HGNC symbols, previous symbols and aliases (see :mod:`sclong_tl.genes`); a previous or alias
    symbol shared by several genes is refused rather than guessed, and a current symbol always wins over another
    gene's alias. Duplicated genes are summed later by :meth:`GeneMatch.to_model_space`.

    Parameters
    ----------
    data
        AnnData (its ``var_names``, or ``var[gene_key]``), MuData (its ``modality``) or a sequence of gene names.
    genes
        The model vocabulary: Ensembl gene IDs in token order (e.g. ``model.genes`` or
        :func:`sclong_tl.genes.default_vocabulary`).
    gene_key
        Column of ``adata.var`` holding the gene names to use instead of ``var_names``.
    modality
        Modality of a MuData.

    Returns
    -------
    A :class:`GeneMatch` with per-kind counts (``n_by_kind``, ``n_matched_by_kind``). A :class:`UserWarning`
    is issued when fewer than half of the vocabulary's commonly expressed genes are found.

    Raises
    ------
    ValueError
        When no dataset gene maps to the vocabulary (the message says when the names look like mouse genes).
    """
    names = gene_names(data, gene_key, modality=modality)
    vocabulary = _vocabulary_index(genes)
    ensembl_ids, kinds = _resolve_names(names, vocabulary)
    ambiguous = [name for name, kind in zip(names, kinds, strict=True) if kind == "ambiguous"]
    var_index = np.fromiter(
        (vocabulary.get(eid, -1) if eid else -1 for eid in ensembl_ids), dtype=np.int64, count=len(names)
    )
    n_by_kind = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    n_matched_by_kind = {
        kind: int(sum(1 for k, v in zip(kinds, var_index, strict=True) if k == kind and v >= 0)) for kind in n_by_kind
    }
    id_type = _id_type(n_matched_by_kind, names)

    common = common_genes_frozenset()
    common_positions = {position for gene, position in vocabulary.items() if gene in common}
    found = set(var_index[var_index >= 0].tolist())
    match = GeneMatch(
        var_index,
        len(vocabulary),
        id_type,
        ambiguous=ambiguous,
        n_common=len(common_positions),
        n_common_found=len(common_positions & found),
        n_by_kind=n_by_kind,
        n_matched_by_kind=n_matched_by_kind,
    )
    if match.n_matched == 0:
        raise ValueError(_no_match_message(names, id_type, gene_key))
    logger.debug("matched %s", match)
    if match.fraction_common_found < COMMON_GENES_WARN_FRACTION:
        hint = mouse_hint(names)
        warn_user(
            f"only {match.n_common_found:,} of the vocabulary's {match.n_common:,} commonly expressed genes were "
            f"found in the data ({match.fraction_common_found:.0%}; {match}); embeddings of cells missing most "
            "genes are unreliable." + (f" Note: {hint}." if hint else "")
        )
    return match


def _resolve_names(names: list[str], vocabulary: dict[str, int]) -> tuple[list[str], list[str]]:
    """Versionless Ensembl ID (``""`` when unresolved) and resolution kind of every name, each read by its kind.

    The symbol tables are read only when some name is not an Ensembl ID.
    """
    ensembl_ids = [ensembl_base(name) or "" for name in names]
    kinds = ["ensembl" if eid else "unknown" for eid in ensembl_ids]
    symbols = [i for i, eid in enumerate(ensembl_ids) if not eid and names[i].strip()]
    if symbols:
        table = symbol_to_ensembl([names[i] for i in symbols], vocabulary=vocabulary)
        for i, eid, kind in zip(symbols, table["ensembl_id"], table["kind"], strict=True):
            ensembl_ids[i], kinds[i] = str(eid), str(kind)
        before = list(ensembl_ids)
        _resolve_unique_suffixes(names, ensembl_ids)
        for i, (old, new) in enumerate(zip(before, ensembl_ids, strict=True)):
            if new and not old:
                kinds[i] = "unique_suffix"
    return ensembl_ids, kinds


def _id_type(n_matched_by_kind: dict[str, int], names: list[str]) -> str:
    """``"ensembl"``, ``"symbol"`` or ``"mixed"``: the kinds of the matched names (names' majority when none)."""
    n_ensembl = n_matched_by_kind.get("ensembl", 0)
    n_symbol = sum(n for kind, n in n_matched_by_kind.items() if kind != "ensembl")
    if n_ensembl and n_symbol:
        return "mixed"
    if n_ensembl or n_symbol:
        return "ensembl" if n_ensembl else "symbol"
    return "ensembl" if looks_like_ensembl(names) else "symbol"


def _no_match_message(names: list[str], id_type: str, gene_key: str | None) -> str:
    shown = ", ".join(repr(n) for n in names[:5]) if names else "(no genes)"
    message = (
        f"none of the {len(names):,} dataset genes (read as {id_type}s, e.g. {shown}) is in the model "
        "vocabulary (human Ensembl gene IDs)."
    )
    hint = mouse_hint(names)
    if hint:
        message += f" The names look like mouse genes: {hint}."
    elif gene_key is None:
        message += " If adata.var has a column with gene symbols or Ensembl IDs, pass it as gene_key=."
    return message


def vocabulary_positions(names: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    """Vocabulary position of each gene name (symbols or Ensembl IDs), -1 when unmatched; never warns.

    Parameters
    ----------
    names
        Gene names, e.g. the perturbed genes of a screen.
    vocabulary
        The model vocabulary (Ensembl IDs in token order).

    Returns
    -------
    int64 array, one entry per name.
    """
    import warnings

    try:
        with warnings.catch_warnings():  # the coverage warning concerns cell embeddings, not gene look-ups
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(match_genes(list(names), vocabulary).var_index)
    except ValueError:  # nothing matched
        return np.full(len(names), -1, dtype=np.int64)
